"""One UMM step on a batch of two views: the inner objective, the hypergradient, the updates.

Steps (1)-(3) are those of :mod:`drac_ssl.umm.bilevel`. Inner optimiser
``umm.inner_optimizer``: ``sgd`` (default; the real inner step is exactly step (1)) or ``adam`` (the real inner step is an Adam step while (1)-(2) keep the plain
step, DARTS-style). The outer step is always Adam (scale-free, since the gradient scale of
Delta R is arbitrary). No weight decay in either.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn
from torch.func import functional_call

from drac_ssl.config import UMMConfig
from drac_ssl.losses.alignment import alignment_js
from drac_ssl.losses.rate_reduction import rate_reduction
from drac_ssl.losses.vicreg import VICRegLoss, VICRegTerms
from drac_ssl.models import VICRegModel
from drac_ssl.umm.bilevel import global_norm, grads_or_zeros, hypergradient
from drac_ssl.umm.layers import AfterCut, early_features, pooled

__all__ = ["STEP_KEYS", "InnerTerms", "UMMOptimizers", "build_optimizers", "inner_objective",
           "umm_step"]


class InnerTerms(NamedTuple):
    """``inner = L_ssl + beta * JS`` (or ``L_ssl`` without the JS term) and its parts."""

    inner: Tensor
    ssl: VICRegTerms
    js: Tensor
    features_a: Tensor
    features_b: Tensor


def inner_objective(
    head: AfterCut,
    h_a: Tensor,
    h_b: Tensor,
    loss_fn: VICRegLoss,
    *,
    beta: float,
    use_js: bool,
    state: dict[str, Tensor] | None = None,
    monitor_js: bool = True,
) -> InnerTerms:
    """``L_in(theta) = L_ssl(theta) + beta * JS(p_theta || U)`` on one batch of two views.

    Args:
        head: the re-tuned layers.
        h_a, h_b: early feature maps ``(n, C, H', W')`` of the two views (frozen, no graph).
        loss_fn: the VICReg loss.
        beta: weight of the JS term.
        use_js: include the JS term (with ``create_graph=True``, so it trains theta).
        state: parameters and buffers to evaluate at (``functional_call``); ``None`` = the
            module's own (and then BatchNorm running statistics are updated).
        monitor_js: without ``use_js``, still compute the JS value (detached) for the log.

    Returns:
        :class:`InnerTerms`; ``features_*`` ``(n, feature_dim)`` keep their graph.
    """
    h_a = h_a.detach().requires_grad_(True)
    h_b = h_b.detach().requires_grad_(True)
    if state is None:
        feat_a, z_a = head(h_a)
        feat_b, z_b = head(h_b)
    else:
        feat_a, z_a = functional_call(head, state, (h_a,))
        feat_b, z_b = functional_call(head, state, (h_b,))
    assert z_a is not None and z_b is not None
    ssl = loss_fn(z_a, z_b)
    if use_js:
        js, _ = alignment_js(ssl.loss, (h_a, h_b), create_graph=True)
        inner = ssl.loss + beta * js
    else:
        js = (
            alignment_js(ssl.loss, (h_a, h_b), create_graph=False)[0].detach()
            if monitor_js
            else torch.full((), math.nan, device=ssl.loss.device)
        )
        inner = ssl.loss
    return InnerTerms(inner, ssl, js, feat_a, feat_b)


@dataclass
class UMMOptimizers:
    """The real updates: ``inner`` (SGD or Adam, lr ``xi``) and ``outer`` (Adam, lr ``eta``)."""

    inner: torch.optim.Optimizer
    outer: torch.optim.Optimizer

    def state_dict(self) -> dict[str, Any]:
        return {"inner": self.inner.state_dict(), "outer": self.outer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.inner.load_state_dict(state["inner"])
        self.outer.load_state_dict(state["outer"])


def build_optimizers(params: Sequence[nn.Parameter], uc: UMMConfig) -> UMMOptimizers:
    """Inner optimiser (``umm.inner_optimizer``, lr ``umm.inner_lr``) and outer Adam (``umm.outer_lr``)."""
    params = list(params)
    inner: torch.optim.Optimizer = (
        torch.optim.SGD(params, lr=uc.inner_lr)
        if uc.inner_optimizer == "sgd"
        else torch.optim.Adam(params, lr=uc.inner_lr)
    )
    return UMMOptimizers(inner, torch.optim.Adam(params, lr=uc.outer_lr))


STEP_KEYS = (
    "ssl_loss",
    "invariance",
    "variance",
    "covariance",
    "js",
    "inner_loss",
    "outer_objective",
    "rate_reduction_early",
    "rate_reduction_last",
    "inner_grad_norm",
    "hypergradient_norm",
)


def umm_step(
    model: VICRegModel,
    head: AfterCut,
    tuned: dict[str, nn.Parameter],
    view_a: Tensor,
    view_b: Tensor,
    uc: UMMConfig,
    loss_fn: VICRegLoss,
    optimizers: UMMOptimizers,
    bf16: bool = False,
) -> dict[str, Tensor]:
    """One UMM step on a batch of two views ``(n, C, H, W)``: steps (1)-(3) of the module docstring.

    Returns 0-dim detached tensors keyed by :data:`STEP_KEYS`: the SSL loss and its terms,
    JS, ``inner_loss`` at ``theta_t``; ``outer_objective = Delta R(theta'_t)`` (NaN when
    ``use_rate_reduction`` is off); ``rate_reduction_early`` / ``rate_reduction_last`` of the
    pooled early / last features at ``theta_t``; gradient norms.
    """
    h_a = early_features(model, view_a, uc.early_cut, bf16)
    h_b = early_features(model, view_b, uc.early_cut, bf16)
    names, params = list(tuned), list(tuned.values())
    inner = inner_objective(head, h_a, h_b, loss_fn, beta=uc.beta, use_js=uc.use_js)
    nan = torch.full((), math.nan, device=view_a.device)
    sign = 1.0 if uc.outer_sign == "maximize" else -1.0
    if uc.use_rate_reduction:
        # look-ahead / finite-difference forwards run on copies of the buffers
        buffers = {k: b.detach().clone() for k, b in head.named_buffers()}

        def state_at(theta: Sequence[Tensor]) -> dict[str, Tensor]:
            return {**buffers, **dict(zip(names, theta, strict=True))}

        def outer_loss_fn(theta: Sequence[Tensor]) -> Tensor:
            feat_a, _ = functional_call(head, state_at(theta), (h_a,), {"embed": False})
            feat_b, _ = functional_call(head, state_at(theta), (h_b,), {"embed": False})
            return -sign * rate_reduction(feat_a, feat_b, uc.eps2).delta

        def inner_loss_fn(theta: Sequence[Tensor]) -> Tensor:
            return inner_objective(
                head,
                h_a,
                h_b,
                loss_fn,
                beta=uc.beta,
                use_js=uc.use_js,
                state=state_at(theta),
                monitor_js=False,
            ).inner

        hg = hypergradient(
            params,
            inner.inner,
            outer_loss_fn,
            inner_lr=uc.inner_lr,
            method=uc.hypergradient,
            neumann_steps=uc.neumann_steps,
            hvp=uc.hvp,
            fd_radius=uc.fd_radius,
            inner_loss_fn=inner_loss_fn,
        )
        inner_grad, outer_grad = hg.inner_gradient, hg.gradient
        outer_objective = -sign * hg.outer_loss
    else:
        inner_grad, outer_grad = [g.detach() for g in grads_or_zeros(inner.inner, params)], None
        outer_objective = nan
    with torch.no_grad():
        for p, g in zip(params, inner_grad, strict=True):
            p.grad = g
        optimizers.inner.step()
        if outer_grad is not None:
            for p, g in zip(params, outer_grad, strict=True):
                p.grad = g
            optimizers.outer.step()
        for p in params:
            p.grad = None
        rr_early = rate_reduction(pooled(h_a), pooled(h_b), uc.eps2).delta
        rr_last = rate_reduction(
            inner.features_a.detach(), inner.features_b.detach(), uc.eps2
        ).delta
    return {
        "ssl_loss": inner.ssl.loss.detach(),
        "invariance": inner.ssl.invariance.detach(),
        "variance": inner.ssl.variance.detach(),
        "covariance": inner.ssl.covariance.detach(),
        "js": inner.js.detach(),
        "inner_loss": inner.inner.detach(),
        "outer_objective": outer_objective,
        "rate_reduction_early": rr_early,
        "rate_reduction_last": rr_last,
        "inner_grad_norm": global_norm(inner_grad).float(),
        "hypergradient_norm": global_norm(outer_grad).float() if outer_grad is not None else nan,
    }
