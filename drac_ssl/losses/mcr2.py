"""Coding rate and coding rate reduction (MCR^2), with the self-supervised memberships UMM uses.

Yu, Chan, You, Song, Ma, "Learning Diverse and Discriminative Representations via the
Principle of Maximal Coding Rate Reduction", NeurIPS 2020 (reference code
``ryanchankh/mcr2``); used by UMM (methods.md section 2) in its outer objective and as the
label-free overfitting monitor of pretraining and UMM.

For features ``Z`` of shape ``(m, d)`` (one row per sample, the transpose of the paper's
``d x m`` layout), a membership ``Pi`` of ``k`` groups (``Pi_j = diag(membership[j])``) and a
precision ``eps``:

- coding rate       R(Z)   = 1/2 logdet(I_d + d / (m eps^2) Z^T Z)
- compressed rate   R_c    = sum_j tr(Pi_j) / (2m) * logdet(I_d + d / (tr(Pi_j) eps^2) Z^T Pi_j Z)
- rate reduction    Delta R = R - R_c

**Valid membership**: every entry ``>= 0`` and every *sample's* memberships sum to 1 over
the groups (``sum_j Pi_j = I_m``: each column of the ``(k, m)`` matrix sums to 1), as for
MCR^2's ``Pi_j`` from labels. Then ``Delta R >= 0`` (concavity of logdet), and splitting a
group into two copies of half its weights changes nothing.

Convention: every ``eps2`` argument **is eps^2** (the paper's default eps^2 = 0.5), not eps.
Rows are L2-normalised first when ``normalize=True``, as MCR^2 does.

Self-supervised memberships (:data:`MEMBERSHIPS`), for the ``m = 2n`` rows ``[z_a; z_b]``
of two views of ``n`` images:

``soft`` (the default; the anchor-based membership of the UMM paper's Appendix C, **our
reconstruction**, since the similarity-to-probability map is not in our copy of the text):
each of the 2n samples ``j`` is an anchor and heads one group. In instance discrimination
exactly one of the other ``2n - 1`` samples (the other view) shares the anchor's class, so
the anchor's belief about *which* one does is a distribution over the others: the softmax of
cosine similarity over temperature, ``q_j(i) = exp(cos(z_j, z_i) / tau) / sum_{l != j}
exp(cos(z_j, z_l) / tau)`` for ``i != j`` (InfoNCE's model of the positive, Oord et al. 2018,
SimCLR's NT-Xent). The anchor's own entry is handled explicitly: it belongs to its own group
with affinity 1 (never through the softmax, where ``cos = 1`` would make every group a
singleton as ``tau -> 0``). The affinities ``A = q + I`` are then normalised **per sample**
(``Pi[j, i] = A[j, i] / sum_l A[l, i]``), which makes ``Pi`` a valid membership. Limits:
as ``tau -> 0`` with each sample's nearest neighbour its other view, group ``j`` is ``{j,
partner(j)}`` with weights 1/2, i.e. every image's pair counted twice at half weight, which
is exactly the ``pairs`` membership below; as ``tau -> inf`` the anchor keeps half of its
own membership and spreads the other half evenly (``Pi -> I/2 + (J - I) / (2(2n - 1))``),
and Delta R falls far below the pairs value. Gradients flow through ``Pi`` (it is a function of ``Z``).
:func:`anchor_membership` builds it (``umm.membership_temperature``).

``pairs``: each image is its own group of its two views (hard). A group of two rows
``a, b`` has the closed form ``logdet(I + c [a; b]^T [a; b]) = log((1 + c|a|^2)(1 + c|b|^2)
- c^2 (a.b)^2)``, so R_c costs O(n d). Cheap and fine as a *monitor*, a trap as an objective
to maximise (methods.md section 2: it rewards pushing the two views apart). The soft
membership, maximised alone, pushes them apart too, less (free features, tau 0.1: view cosine
0.92 to about 0.7 where ``pairs`` goes to 0, ``tests/drac_ssl/test_rate_reduction.py``): it
is not safe as an objective by itself either, which is why UMM's outer objective keeps the
SSL loss (``umm.outer_ssl``).

Cost of a general membership: one ``s x s`` determinant per group with ``s = min(m, d)``:
a Cholesky of the ``d x d`` form ``I_d + c Z^T Pi_j Z`` when ``d <= m``, else an LU
(``torch.linalg.slogdet``) of the kernel (Sylvester / Woodbury) form ``I_m + c Z Z^T Pi_j``,
which is not symmetric (it is similar to ``I_m + c Pi_j^{1/2} Z Z^T Pi_j^{1/2}``) and has the
same determinant (``form="auto"`` picks the smaller; the kernel form is UMM's usual case:
``m = 2n`` rows of a batch, fewer than the ``d`` features). Everything is computed in at least float32 with
autocast disabled; a failed factorisation gives NaN (the training loops' non-finite check
then reports it) instead of a device sync per call.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from drac_ssl.config import MEMBERSHIPS  # re-exported: umm.membership's choices (config's _CHOICES)
from drac_ssl.losses.view_pairs import at_least_float32, check_view_pair

__all__ = [
    "MEMBERSHIPS",
    "RateReduction",
    "anchor_membership",
    "coding_rate",
    "compress_rate",
    "pair_compress_rate",
    "pair_membership",
    "rate_reduction",
    "rate_reduction_general",
]

FORMS = ("auto", "feature", "kernel")


class RateReduction(NamedTuple):
    """``delta = total - compress``, each a 0-dim tensor (natural log, "nats")."""

    delta: Tensor
    total: Tensor
    compress: Tensor


def _check_2d(z: Tensor, name: str = "z") -> None:
    if not isinstance(z, torch.Tensor):
        raise TypeError(f"{name} must be a torch tensor (rows, dim); got a "
                        f"{type(z).__module__}.{type(z).__qualname__}: pass torch.as_tensor({name}).")
    if z.ndim != 2:
        raise ValueError(f"{name} must have shape (rows, dim), got {tuple(z.shape)}.")
    if z.shape[0] < 1:
        raise ValueError(f"{name} has no rows.")


def _check_eps2(eps2: float) -> None:
    if not eps2 > 0:
        raise ValueError(f"eps2 (= eps^2 of the coding rate) must be > 0, got {eps2}.")


def _check_views(z_a: Tensor, z_b: Tensor, loss_name: str) -> None:
    """The two views' check of every two-view loss (:func:`drac_ssl.losses.view_pairs.check_view_pair`,
    in ``loss_name``'s words), then a coding rate's own: at least one row."""
    check_view_pair(z_a, z_b, loss_name)
    if z_a.shape[0] < 1:
        raise ValueError(f"{loss_name} needs at least one row in z_a and z_b; got shapes "
                         f"{tuple(z_a.shape)} and {tuple(z_b.shape)}.")


def _logdet_spd(matrix: Tensor) -> Tensor:
    """``logdet`` of a batch of symmetric positive definite matrices ``(..., s, s)``.

    ``cholesky_ex`` does not synchronise with the device to check for errors (plain
    ``cholesky`` would, on every training step) and does not raise on non-finite input: a
    failed factorisation gives NaN.
    """
    chol, info = torch.linalg.cholesky_ex(matrix)
    logdet = 2.0 * torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)
    return torch.where(info == 0, logdet, torch.full_like(logdet, float("nan")))


def _logdet_identity_plus(z: Tensor, scale: Tensor | float) -> Tensor:
    """``logdet(I_d + scale * z^T z)`` for ``z`` of shape ``(..., m, d)``, batched, on the
    smaller Gram matrix (Sylvester). ``scale``: a scalar or a tensor of the batch shape."""
    m, d = z.shape[-2], z.shape[-1]
    gram = z.mT @ z if d <= m else z @ z.mT
    if isinstance(scale, Tensor):
        scale = scale[..., None, None]
    eye = torch.eye(gram.shape[-1], dtype=gram.dtype, device=gram.device)
    return _logdet_spd(eye + scale * gram)


def coding_rate(z: Tensor, eps2: float = 0.5) -> Tensor:
    """Coding rate ``R(Z) = 1/2 logdet(I_d + d / (m eps^2) Z^T Z)``.

    Args:
        z: ``(m, d)`` features, one row per sample (not normalised here).
        eps2: eps^2, the squared precision (MCR^2 default 0.5).

    Returns:
        0-dim tensor (float32, or float64 for float64 input), differentiable.

    Raises:
        TypeError: ``z`` is not a torch tensor.
        ValueError: ``z`` not 2-D or without rows; ``eps2 <= 0``.
    """
    _check_2d(z)
    _check_eps2(eps2)
    with torch.autocast(device_type=z.device.type, enabled=False):
        z = at_least_float32(z)
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

    Raises:
        TypeError: ``z_a`` or ``z_b`` is not a torch tensor.
        ValueError: ``z_a`` / ``z_b`` not 2-D, of different shapes or without rows;
            ``eps2 <= 0``.
    """
    _check_views(z_a, z_b, "pair_compress_rate")
    _check_eps2(eps2)
    with torch.autocast(device_type=z_a.device.type, enabled=False):
        z_a, z_b = at_least_float32(z_a), at_least_float32(z_b)
        n, d = z_a.shape
        m = 2 * n
        c = d / (2.0 * eps2)
        aa = z_a.pow(2).sum(1)
        bb = z_b.pow(2).sum(1)
        ab = (z_a * z_b).sum(1)
        gram_det = (aa * bb - ab.pow(2)).clamp_min(0.0)
        logdets = torch.log1p(c * (aa + bb) + c * c * gram_det)
        return logdets.sum() * (2.0 / (2.0 * m))


def compress_rate(z: Tensor, membership: Tensor, eps2: float = 0.5, form: str = "auto") -> Tensor:
    """General compressed coding rate for a (hard or soft) membership matrix.

    ``R_c = sum_j tr(Pi_j) / (2m) * logdet(I_d + d / (tr(Pi_j) eps^2) Z^T Pi_j Z)`` with
    ``Pi_j = diag(membership[j])``. Groups with ``tr(Pi_j) = 0`` contribute nothing.

    Args:
        z: ``(m, d)`` features (not normalised here).
        membership: ``(k, m)`` non-negative weights, row ``j`` = group ``j``; hard 0/1 (bool
            or numeric) or soft. For a valid membership (``Delta R >= 0``) every column sums
            to 1. Differentiable (gradients reach a soft membership).
        eps2: eps^2.
        form: ``feature``: ``k`` determinants of ``I_d + c_j Z^T Pi_j Z`` (``d x d``,
            Cholesky); ``kernel``: ``k`` determinants of ``I_m + c_j Z Z^T Pi_j`` (``m x m``,
            LU; the same value by Sylvester's identity); ``auto``: the smaller.

    Returns:
        0-dim tensor. Cost (``auto``): k determinants of size ``min(m, d)``, Cholesky when
        ``d <= m``, else LU (``slogdet`` of the kernel form).

    Raises:
        TypeError: ``z`` is not a torch tensor.
        ValueError: wrong shapes, a negative weight, ``eps2 <= 0`` or an unknown form.
    """
    _check_2d(z)
    _check_eps2(eps2)
    if form not in FORMS:
        raise ValueError(f"unknown form {form!r}; choose {', '.join(FORMS)}.")
    if membership.ndim != 2 or membership.shape[1] != z.shape[0]:
        raise ValueError(
            f"membership must have shape (groups, rows) = (k, {z.shape[0]}), got "
            f"{tuple(membership.shape)}."
        )
    with torch.autocast(device_type=z.device.type, enabled=False):
        z = at_least_float32(z)
        pi = membership.to(dtype=z.dtype, device=z.device)
        if bool((pi.detach() < 0).any()):
            raise ValueError("membership weights must be non-negative.")
        m, d = z.shape
        traces = pi.sum(1)  # (k,)
        keep = traces.detach() > 0
        pi, traces = pi[keep], traces[keep]
        scale = (d / (traces * eps2))[:, None, None]
        if form == "feature" or (form == "auto" and d <= m):
            cov = torch.einsum("km,md,me->kde", pi, z, z)  # Z^T Pi_j Z
            eye = torch.eye(d, dtype=z.dtype, device=z.device)
            logdets = _logdet_spd(eye + scale * cov)
        else:
            # det(I_m + c Pi^1/2 K Pi^1/2) = det(I_m + c K Pi), K = Z Z^T: no square root of
            # Pi, so the gradient is right at a zero weight too; the matrix is similar to a
            # symmetric positive definite one, so its determinant is positive (LU, no sync)
            kernel = (z @ z.mT)[None] * pi[:, None, :]  # K Pi_j
            eye = torch.eye(m, dtype=z.dtype, device=z.device)
            sign, logdets = torch.linalg.slogdet(eye + scale * kernel)
            logdets = torch.where(sign > 0, logdets, torch.full_like(logdets, float("nan")))
        return (traces / (2.0 * m) * logdets).sum()


def pair_membership(n: int, device: torch.device | str | None = None) -> Tensor:
    """``(n, 2n)`` hard membership of the ``pairs`` rule: group ``j`` = rows ``j`` and
    ``n + j`` of ``[z_a; z_b]``; 0/1 entries, torch's default dtype (float32) on ``device``.

    ``n`` is not validated: ``n = 0`` gives a ``(0, 0)`` tensor, a negative ``n`` fails in
    ``torch.zeros`` (RuntimeError)."""
    pi = torch.zeros(n, 2 * n, device=device)
    idx = torch.arange(n, device=device)
    pi[idx, idx] = 1.0
    pi[idx, idx + n] = 1.0
    return pi


def anchor_membership(
    z_a: Tensor, z_b: Tensor, temperature: float = 0.1, normalize: bool = True
) -> Tensor:
    """The anchor-based soft membership ``(2n, 2n)`` of the module docstring (``soft``).

    Row ``j`` is the group headed by anchor ``j`` of ``[z_a; z_b]``; column ``i`` holds
    sample ``i``'s memberships, which sum to 1. ``Pi[j, i] = A[j, i] / sum_l A[l, i]`` with
    ``A = I + q``, ``q[j, i] = softmax_{i != j}(cos(z_j, z_i) / temperature)`` and
    ``q[j, j] = 0``.

    Args:
        z_a, z_b: ``(n, d)`` features of the two views, ``n >= 1``.
        temperature: ``tau > 0`` of the softmax (``umm.membership_temperature``).
        normalize: use cosine similarity (L2-normalise the rows); ``False``: dot products.

    Returns:
        ``(2n, 2n)`` float tensor, differentiable in ``z_a`` and ``z_b``.

    Raises:
        TypeError: ``z_a`` or ``z_b`` is not a torch tensor.
        ValueError: ``z_a`` / ``z_b`` not 2-D, of different shapes or without rows;
            ``temperature <= 0``.
    """
    _check_views(z_a, z_b, "anchor_membership")
    if not temperature > 0:
        raise ValueError(f"the membership temperature must be > 0, got {temperature}.")
    with torch.autocast(device_type=z_a.device.type, enabled=False):
        z = torch.cat([at_least_float32(z_a), at_least_float32(z_b)], dim=0)
        if normalize:
            z = F.normalize(z, dim=1)
        m = z.shape[0]
        eye = torch.eye(m, dtype=z.dtype, device=z.device)
        if m == 1:
            return eye
        logits = (z @ z.mT / temperature).masked_fill(eye.bool(), float("-inf"))
        affinity = torch.softmax(logits, dim=1) + eye
        return affinity / affinity.sum(0, keepdim=True)


def rate_reduction(
    z_a: Tensor,
    z_b: Tensor,
    eps2: float = 0.5,
    normalize: bool = True,
    membership: str = "soft",
    temperature: float = 0.1,
) -> RateReduction:
    """Self-supervised rate reduction of two views, ``R([z_a; z_b]) - R_c``.

    Args:
        z_a, z_b: ``(n, d)`` features of the two views.
        eps2: eps^2.
        normalize: L2-normalise every row first (as MCR^2 does).
        membership: ``soft`` (the anchor-based membership, :func:`anchor_membership`, on
            the normalised rows) or ``pairs`` (each image its own group of two views,
            closed form).
        temperature: the softmax temperature of ``soft``.

    Returns:
        :class:`RateReduction` with ``total = R([z_a; z_b])`` over the ``2n x d`` stack,
        ``compress`` = R_c of the membership and ``delta = total - compress``.

    Raises:
        TypeError: ``z_a`` or ``z_b`` is not a torch tensor.
        ValueError: ``z_a`` / ``z_b`` not 2-D, of different shapes or without rows;
            an unknown ``membership``, ``eps2 <= 0``, or (``soft``) ``temperature <= 0``.
    """
    if membership not in MEMBERSHIPS:
        raise ValueError(
            f"unknown membership {membership!r}; choose {' or '.join(MEMBERSHIPS)} (umm.membership)."
        )
    _check_views(z_a, z_b, "rate_reduction")
    if normalize:
        z_a = F.normalize(at_least_float32(z_a), dim=1)
        z_b = F.normalize(at_least_float32(z_b), dim=1)
    if membership == "pairs":
        compress = pair_compress_rate(z_a, z_b, eps2)
        total = coding_rate(torch.cat([z_a, z_b], dim=0), eps2)
    else:
        z = torch.cat([at_least_float32(z_a), at_least_float32(z_b)], dim=0)
        pi = anchor_membership(z_a, z_b, temperature, normalize=normalize)
        compress = compress_rate(z, pi, eps2)
        total = coding_rate(z, eps2)
    return RateReduction(total - compress, total, compress)


def rate_reduction_general(
    z: Tensor, membership: Tensor, eps2: float = 0.5, normalize: bool = True, form: str = "auto"
) -> RateReduction:
    """Rate reduction for any membership matrix (the reference for the closed and soft forms).

    Args:
        z: ``(m, d)`` features.
        membership: ``(k, m)`` non-negative group weights (see :func:`compress_rate`).
        eps2: eps^2.
        normalize: L2-normalise every row first.
        form: the determinant form of :func:`compress_rate`.

    Returns:
        :class:`RateReduction` of 0-dim tensors.

    Raises:
        TypeError: ``z`` is not a torch tensor.
        ValueError: ``z`` not 2-D or without rows (checked before ``z`` is normalised),
            ``membership`` not ``(k, m)`` or with a negative weight, ``eps2 <= 0``, or an
            unknown ``form``.
    """
    _check_2d(z)
    if normalize:
        z = F.normalize(at_least_float32(z), dim=1)
    compress = compress_rate(z, membership, eps2, form=form)
    total = coding_rate(z, eps2)
    return RateReduction(total - compress, total, compress)
