"""Distribution alignment of UMM: JS divergence of the induced density to the uniform one.

Qiang, Song et al., "On the Generalization and Causal Explanation in Self-Supervised
Learning" (UMM), arXiv:2410.00772, 2024; reconstructed as in methods.md section 2:

* The frozen early features ``z_early,i`` of a batch of ``n`` images (two views each, so
  ``m = 2n`` rows) are treated as uniformly distributed, ``1 / m`` each.
* For piecewise-affine later layers, the change-of-variables rule gives the density they
  induce at sample ``i`` as proportional to ``1 / sqrt(det(J_i J_i^T))``, with ``J_i`` the
  Jacobian of the later layers at that sample. With the (scalar) SSL loss as the output this
  is ``1 / ||dL/dz_early,i||``.
* Normalised over the batch in log space:
  ``log p_i = log_softmax_i(-log ||dL/dz_early,i||)``.
* The alignment term is ``JS(p || uniform)`` with the natural log, in ``[0, log 2]``.

The gradient ``dL/dz_early`` must be taken with ``create_graph=True``
(:func:`early_feature_gradients`), otherwise the term has no gradient with respect to the
tuned layers and does not train anything: the known defect of the authors' released code,
which also misuses ``kl_div`` so that its value is not a JS divergence.

All functions are pure; divergences are computed in log space (``logsumexp``) in at least
float32, with autocast disabled.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = [
    "alignment_js",
    "early_feature_gradients",
    "js_divergence",
    "js_to_uniform",
    "log_density_from_gradients",
    "sample_log_norms",
]


def _as_float(x: Tensor) -> Tensor:
    return x if x.dtype == torch.float64 else x.float()


def early_feature_gradients(
    loss: Tensor, early_features: Sequence[Tensor], create_graph: bool = True
) -> tuple[Tensor, ...]:
    """``dL/dz_early`` for each tensor of early features.

    Args:
        loss: 0-dim SSL loss computed from ``early_features`` (e.g. the VICReg loss of the
            two views).
        early_features: tensors ``(n_k, ...)`` that require grad (e.g. the two views'
            feature maps ``(n, C, H, W)`` after the early cut, detached from the frozen
            layers and marked ``requires_grad_(True)``).
        create_graph: keep the graph of the gradient so that anything computed from it can
            be differentiated again with respect to the tuned layers (second derivatives).
            ``False`` only for monitoring.

    Returns:
        One gradient per input, same shapes. The graph of ``loss`` is retained.
    """
    return torch.autograd.grad(
        loss,
        tuple(early_features),
        create_graph=create_graph,
        retain_graph=True,
        allow_unused=True,
        materialize_grads=True,  # zeros, not None, for a feature the loss does not use
    )


def sample_log_norms(grads: Sequence[Tensor]) -> Tensor:
    """Per-sample ``log ||g_i||`` of a batch of gradients, rows of all tensors stacked.

    Args:
        grads: tensors ``(n_k, ...)``; every row is one sample.

    Returns:
        ``(m,)`` with ``m = sum_k n_k``, computed as
        ``log a_i + 0.5 * log(max(||g_i / a_i||^2, tiny))`` with the row scale
        ``a_i = max_j |g_ij|`` treated as a constant (the expression does not depend on it, so
        the gradient is exact): no square root (its derivative is infinite at 0), no underflow
        of the squares for tiny float32 gradients, and finite for a zero gradient.
    """
    if not grads:
        raise ValueError("sample_log_norms needs at least one gradient tensor.")
    out = []
    for g in grads:
        r = _as_float(g).flatten(1)
        tiny = torch.finfo(r.dtype).tiny
        scale = r.detach().abs().amax(dim=1).clamp_min(tiny)
        sq = (r / scale[:, None]).pow(2).sum(1)
        out.append(torch.log(scale) + 0.5 * torch.log(sq.clamp_min(tiny)))
    return torch.cat(out)


def log_density_from_gradients(grads: Sequence[Tensor]) -> Tensor:
    """Log of the batch-normalised density ``p_i ∝ 1 / ||g_i||``.

    Args:
        grads: per-sample gradients ``dL/dz_early`` ``(n_k, ...)`` (rows of all tensors
            form one batch of ``m`` samples).

    Returns:
        ``(m,)`` ``log p`` with ``logsumexp(log p) = 0``: ``log_softmax(-log ||g_i||)``.
        Invariant to a common scale of the gradients (e.g. the ``1/n`` of a mean loss).
    """
    return torch.log_softmax(-sample_log_norms(grads), dim=0)


def js_divergence(log_p: Tensor, log_q: Tensor) -> Tensor:
    """Jensen-Shannon divergence ``JS(p || q)`` of distributions given by their logs.

    ``JS = 1/2 KL(p || m) + 1/2 KL(q || m)``, ``m = (p + q) / 2``, natural log, so the value
    lies in ``[0, log 2]``. ``log m = logsumexp([log p, log q]) - log 2``; zero-probability
    entries (``log p = -inf``) contribute 0 with a finite gradient.

    Args:
        log_p, log_q: ``(..., k)`` log-probabilities over the last dimension (each row
            normalised), broadcastable against each other.

    Returns:
        ``(...)`` divergences (0-dim for 1-D input).
    """
    with torch.autocast(device_type=log_p.device.type, enabled=False):
        log_p, log_q = torch.broadcast_tensors(_as_float(log_p), _as_float(log_q))
        log_m = torch.logsumexp(torch.stack([log_p, log_q]), dim=0) - math.log(2.0)
        return 0.5 * (_kl_terms(log_p, log_m) + _kl_terms(log_q, log_m))


def _kl_terms(log_p: Tensor, log_m: Tensor) -> Tensor:
    """``sum_k p_k (log p_k - log m_k)`` over the last dimension, 0 where ``p_k = 0``."""
    present = torch.isfinite(log_p)
    safe_log_p = torch.where(present, log_p, torch.zeros_like(log_p))
    safe_log_m = torch.where(present, log_m, torch.zeros_like(log_m))
    terms = torch.exp(safe_log_p) * (safe_log_p - safe_log_m)
    return torch.where(present, terms, torch.zeros_like(terms)).sum(-1)


def js_to_uniform(log_p: Tensor) -> Tensor:
    """``JS(p || uniform)`` over the last dimension of ``k`` entries, in ``[0, log 2]``.

    Args:
        log_p: ``(..., k)`` **log**-probabilities (e.g. :func:`log_density_from_gradients`):
            ``log_p.exp()`` sums to 1 over the last dimension. Not validated (this runs on
            every UMM step): probabilities given instead of their logs, or unnormalised
            logits (use ``torch.log_softmax``), give a meaningless value, not an error.

    Returns:
        ``(...)`` divergences: 0 for a uniform ``p``; for a one-hot ``p`` exactly
        ``1/2 [log(2k / (k + 1)) + (1/k) log(2 / (k + 1)) + ((k - 1) / k) log 2]``, which
        tends to ``log 2`` as ``k -> inf``.

    Raises:
        ValueError: ``log_p`` 0-dim or its last dimension empty (``k = 0``).
    """
    if log_p.ndim == 0 or log_p.shape[-1] < 1:
        raise ValueError(f"js_to_uniform needs log-probabilities (..., k) with k >= 1; got shape "
                         f"{tuple(log_p.shape)}.")
    k = log_p.shape[-1]
    log_u = torch.full_like(_as_float(log_p), -math.log(k))
    return js_divergence(log_p, log_u)


def alignment_js(
    loss: Tensor, early_features: Sequence[Tensor], create_graph: bool = True
) -> tuple[Tensor, Tensor]:
    """The UMM alignment term of one batch: ``JS(p_theta || uniform)``.

    Args:
        loss: 0-dim SSL loss of the batch, a function of ``early_features``.
        early_features: the early features ``(n_k, ...)`` of every view (require grad).
        create_graph: ``True`` to train with the term (second derivatives w.r.t. the tuned
            layers); ``False`` for a value-only monitor.

    Returns:
        ``(js, log_p)``: the 0-dim divergence and the ``(m,)`` log-density, ``m = sum n_k``.

    Raises:
        RuntimeError: from ``torch.autograd.grad``: ``loss`` not 0-dim, ``early_features``
            empty or one of them not requiring grad, or the graph already freed.
    """
    grads = early_feature_gradients(loss, early_features, create_graph=create_graph)
    log_p = log_density_from_gradients(grads)
    return js_to_uniform(log_p), log_p
