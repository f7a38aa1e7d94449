"""One UMM step on a batch of two views: the inner objective, the hypergradient, the updates.

Steps (1)-(3) are those of :mod:`drac_ssl.umm.bilevel`, with UMM's outer objective anchored
to the SSL loss (issue #13, methods.md section 2):

    F(theta') = [outer_ssl] L_ssl(theta') - s * alpha * Delta R(theta')

``s = +1`` for ``umm.outer_sign=maximize`` (the paper), ``-1`` for ``minimize``; ``Delta R``
of the pooled last-layer features of the two views with ``umm.membership`` (``soft``: the
anchor-based membership of :mod:`drac_ssl.losses.mcr2`), or with
``umm.rate_reduction_on=embedding`` of their expander outputs (where the authors' code takes
it; rows L2-normalised and ``umm.eps2`` either way). ``alpha = 0`` is the fair
control: the same code path and the same two updates per batch, with ``F = L_ssl(theta')``
under the default ``umm.outer_ssl=true`` (``Delta R`` is then computed for the log only,
detached, and never enters an update; with ``outer_ssl=false`` F is the constant 0 and no
parameter takes an outer step).
``umm.outer_ssl=false`` gives the objective before issue #13 (``-s alpha Delta R`` alone);
``umm.use_rate_reduction=false`` removes the outer level altogether (single-level training
on ``L_in``).

Which batch F is taken on (``umm.outer_batch``): ``same`` (the default), the inner step's
batch and views; ``next``, the epoch's next batch with its own two views
(:func:`with_next_batch`), so the outer level sees other data than the inner one, as the
authors' ``train_umm.py`` does (betty gives each problem its own loader iterator) and as
DARTS takes its outer gradient on held-out data. On the same batch the hypergradient points
largely along the inner gradient (docs/design.md, "Where the code fills in or departs").

The updates, one batch:

1. the inner step: ``umm.inner_optimizer`` (``adam``, the default, as the authors; or
   ``sgd``, whose step is exactly the unrolled look-ahead) on ``grad L_in(theta_t)`` with lr
   ``umm.inner_lr``; the hypergradient's look-ahead is the plain step
   ``theta_t - xi grad L_in(theta_t)`` with ``xi = umm.inner_lr`` (DARTS-style);
2. the outer step: Adam with lr ``umm.outer_lr`` on the hypergradient ``g``, **only on the
   parameters that F depends on directly**. A parameter whose direct outer gradient is
   structurally zero would receive only the cross-term ``-xi (H v)``, which Adam would blow
   up to a full-size step; it gets no outer step. With ``outer_ssl=true`` F reaches every
   tuned parameter (nothing is excluded); with ``outer_ssl=false`` the expander is excluded
   (Delta R is computed on the backbone features, before the expander), unless
   ``umm.rate_reduction_on=embedding``.

No weight decay at either level. The step logs (:data:`STEP_KEYS`, plus
``step_ratio_<group>`` for every parameter group, :func:`parameter_groups`): the SSL loss and
its terms at ``theta_t``; ``F``, ``L_ssl`` and ``Delta R`` at ``theta'``; ``R``, ``R_c`` and
``Delta R`` of the early-cut and last-layer features at ``theta_t`` and the mean cosine
between the two views; gradient norms and, per group, the ratio of the outer to the inner
step's Euclidean norm (the real parameter displacements).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from drac_ssl.config import (  # re-exported: config's _CHOICES holds them
    OUTER_BATCHES,
    RATE_REDUCTION_ON,
    UMMConfig,
)
from drac_ssl.losses.alignment import alignment_js
from drac_ssl.losses.mcr2 import RateReduction, rate_reduction
from drac_ssl.losses.vicreg import VICRegLoss, VICRegTerms
from drac_ssl.models import VICRegModel
from drac_ssl.umm.bilevel import global_norm, grads_or_zeros, hypergradient
from drac_ssl.umm.layers import AfterCut, early_features, pooled

T = TypeVar("T")

__all__ = ["OUTER_BATCHES", "RATE_REDUCTION_ON", "STEP_KEYS", "EarlyFeatureCache", "InnerTerms", "OuterTerms", "UMMOptimizers", "build_optimizers",
           "effective_alpha", "inner_objective", "outer_objective", "outer_step_groups",
           "parameter_groups", "step_keys", "umm_step", "with_next_batch"]



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
    """The real updates: ``inner`` (Adam or SGD, lr ``xi``) and ``outer`` (Adam, lr ``eta``)."""

    inner: torch.optim.Optimizer
    outer: torch.optim.Optimizer

    def state_dict(self) -> dict[str, Any]:
        """``{"inner": ..., "outer": ...}``: both optimisers' ``state_dict()``, for a checkpoint."""
        return {"inner": self.inner.state_dict(), "outer": self.outer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore both from :meth:`state_dict`'s dict (KeyError without ``inner`` / ``outer``;
        torch's ValueError for parameter groups that do not match)."""
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


def parameter_groups(names: Sequence[str]) -> dict[str, list[int]]:
    """Tuned parameter names -> groups: the backbone stage (``backbone.layer4.0.conv1.weight``
    -> ``layer4``) or the top-level module (``expander.net.0.weight`` -> ``expander``); values
    are indices into ``names``, groups in first-seen order."""
    groups: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        parts = name.split(".")
        group = parts[1] if parts[0] == "backbone" and len(parts) > 2 else parts[0]
        groups.setdefault(group, []).append(i)
    return groups


def effective_alpha(uc: UMMConfig) -> float:
    """``s * alpha``: the signed weight of Delta R in F (``s = -1`` for ``outer_sign=minimize``)."""
    return uc.alpha * (1.0 if uc.outer_sign == "maximize" else -1.0)


def outer_step_groups(uc: UMMConfig, groups: Sequence[str]) -> list[str]:
    """The groups that take an outer step: those F depends on directly (module docstring).

    ``use_rate_reduction=false`` or ``F`` identically zero (``outer_ssl=false`` and
    ``alpha = 0``): none. ``outer_ssl=false``: the backbone stages (Delta R is computed on
    the backbone features, so the expander's only outer gradient is the cross-term), every
    group with ``rate_reduction_on=embedding`` (Delta R then reaches the expander).
    """
    if not uc.use_rate_reduction:
        return []
    if uc.outer_ssl:
        return list(groups)
    if effective_alpha(uc) == 0.0:
        return []
    if uc.rate_reduction_on == "embedding":
        return list(groups)
    return [g for g in groups if g != "expander"]


STEP_KEYS = (
    "ssl_loss",
    "invariance",
    "variance",
    "covariance",
    "js",
    "inner_loss",
    "outer_objective",
    "outer_ssl_loss",
    "outer_rate_reduction",
    "rate_reduction_early",
    "coding_rate_early",
    "compress_rate_early",
    "rate_reduction_last",
    "coding_rate_last",
    "compress_rate_last",
    "view_cosine_early",
    "view_cosine_last",
    "inner_grad_norm",
    "hypergradient_norm",
    "inner_step_norm",
    "outer_step_norm",
)
"""The values every step logs; :func:`step_keys` adds ``step_ratio_<group>``."""


def step_keys(groups: Sequence[str]) -> tuple[str, ...]:
    """:data:`STEP_KEYS` plus the per-group step-norm ratios ``step_ratio_<group>``."""
    return STEP_KEYS + tuple(f"step_ratio_{g}" for g in groups)


class OuterTerms(NamedTuple):
    """:func:`outer_objective` on one batch, at ``theta'``: ``objective`` (F, with its graph;
    a constant 0 without graph when ``alpha = 0`` and ``outer_ssl=false``), ``ssl`` (``L_ssl``,
    detached; NaN when ``outer_ssl=false``: F does not contain it) and ``rate_reduction``
    (``Delta R`` of the features or, with ``rate_reduction_on=embedding``, of the
    embeddings, detached; always computed, also with ``alpha = 0``, where
    it is logged only and never differentiated)."""

    objective: Tensor
    ssl: Tensor
    rate_reduction: Tensor


def outer_objective(feat_a: Tensor, feat_b: Tensor, z_a: Tensor | None, z_b: Tensor | None,
                    loss_fn: VICRegLoss, uc: UMMConfig) -> OuterTerms:
    """UMM's outer objective ``F = [outer_ssl] L_ssl - s * alpha * Delta R`` on one batch.

    Args:
        feat_a, feat_b: pooled last-layer features ``(n, feature_dim)`` of the two views.
        z_a, z_b: their expander embeddings ``(n, out_dim)`` (needed when ``uc.outer_ssl``
            or ``uc.rate_reduction_on == "embedding"``).
        loss_fn: the VICReg loss (``L_ssl``).
        uc: ``alpha``, ``outer_sign``, ``outer_ssl``, ``rate_reduction_on``, ``membership``,
            ``membership_temperature``, ``eps2``.

    Returns:
        :class:`OuterTerms`. With ``alpha = 0`` Delta R is computed detached, for the log
        only: F is exactly ``L_ssl`` with ``outer_ssl=true`` (the fair control), and the
        constant 0 with ``outer_ssl=false`` (no parameter then takes an outer step,
        :func:`outer_step_groups`).

    Raises:
        ValueError: ``uc.outer_ssl`` is true, or ``uc.rate_reduction_on`` is ``embedding``,
            and ``z_a`` or ``z_b`` is None.
    """
    alpha = effective_alpha(uc)
    nan = torch.full((), math.nan, device=feat_a.device)
    if uc.rate_reduction_on == "embedding":
        if z_a is None or z_b is None:
            raise ValueError("umm.rate_reduction_on=embedding needs the expander embeddings z_a, z_b.")
        rr_a, rr_b = z_a, z_b
    else:
        rr_a, rr_b = feat_a, feat_b
    if alpha != 0.0:
        rr = rate_reduction(rr_a, rr_b, uc.eps2, membership=uc.membership,
                            temperature=uc.membership_temperature).delta
        objective = -alpha * rr
    else:  # the fair control: Delta R is logged, never differentiated
        with torch.no_grad():
            rr = rate_reduction(rr_a.detach(), rr_b.detach(), uc.eps2, membership=uc.membership,
                                temperature=uc.membership_temperature).delta
        objective = torch.zeros((), device=feat_a.device)
    ssl = nan
    if uc.outer_ssl:
        if z_a is None or z_b is None:
            raise ValueError("umm.outer_ssl=true needs the expander embeddings z_a, z_b.")
        ssl_loss = loss_fn(z_a, z_b).loss
        ssl = ssl_loss.detach()
        objective = ssl_loss + objective if alpha != 0.0 else ssl_loss
    return OuterTerms(objective, ssl, rr.detach())


def with_next_batch(batches: Iterable[T]) -> Iterator[tuple[T, T]]:
    """``(batch_i, batch_{i+1})`` for each batch of an epoch, the last one paired with the
    first (``umm.outer_batch=next``: the inner step on the first, F on the second).

    Every batch is then used once by each level per epoch, with the views the feed drew for
    it; the first batch is held until the last step. An epoch of one batch pairs it with
    itself (the stage refuses ``next`` then, :func:`drac_ssl.umm.stage.run`).
    """
    iterator = iter(batches)
    try:
        first = previous = next(iterator)
    except StopIteration:
        return
    for batch in iterator:
        yield previous, batch
        previous = batch
    yield previous, first


class EarlyFeatureCache:
    """The frozen early-cut features of one step's outer batch, kept for the next step
    (``umm.outer_batch=next``: step i's outer batch is step i+1's inner batch, the same view
    tensors, :func:`with_next_batch`), so each batch's early stages run once an epoch (the
    last step's outer batch, the epoch's first, is computed again).

    Reuse is exact: a hit needs the very same tensor object (``is``; the cache holds it, so
    its id cannot be taken by another), the same cut and autocast, and the model's backbone
    frozen up to that cut (:meth:`~drac_ssl.models.Backbone.freeze_until`: no gradient, eval
    mode, so fixed weights and BatchNorm running statistics; the forward is under no_grad).
    Anything else is computed afresh.
    """

    def __init__(self) -> None:
        self._kept: list[tuple[Tensor, str, bool, Tensor]] = []

    def features(self, model: VICRegModel, x: Tensor, early_cut: str, bf16: bool) -> Tensor:
        """:func:`~drac_ssl.umm.layers.early_features` of ``x``, from the cache when kept."""
        if model.backbone.frozen_until == early_cut:
            for view, cut, autocast, h in self._kept:
                if view is x and cut == early_cut and autocast == bf16:
                    return h
        return early_features(model, x, early_cut, bf16)

    def keep(self, pairs: Sequence[tuple[Tensor, Tensor]], early_cut: str, bf16: bool) -> None:
        """Keep ``(view, features)`` pairs for the next step, dropping what was kept."""
        self._kept = [(view, early_cut, bf16, h) for view, h in pairs]

    def clear(self) -> None:
        self._kept = []


def _monitor(uc: UMMConfig, z_a: Tensor, z_b: Tensor) -> tuple[RateReduction, Tensor]:
    rr = rate_reduction(z_a, z_b, uc.eps2, membership=uc.membership,
                        temperature=uc.membership_temperature)
    return rr, F.cosine_similarity(z_a.float(), z_b.float(), dim=1).mean()


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
    outer_views: tuple[Tensor, Tensor] | None = None,
    early_cache: EarlyFeatureCache | None = None,
) -> dict[str, Tensor]:
    """One UMM step on a batch of two views ``(n, C, H, W)`` (module docstring).

    ``outer_views``: with ``umm.outer_batch=next``, the two views ``(n', C, H, W)`` of the
    batch F is taken on (the next one, :func:`with_next_batch`); with ``same``, None (F on
    ``view_a``, ``view_b``). A mismatch with ``uc.outer_batch`` is a ValueError (without an
    outer level, ``umm.use_rate_reduction=false``, they are not read). ``early_cache``: an
    :class:`EarlyFeatureCache` the stage keeps across steps; the inner batch's early features
    are taken from it when the previous step's outer batch was this batch, and the outer
    batch's are kept in it (the results are bit-identical to computing them afresh).

    Returns 0-dim detached tensors keyed by :func:`step_keys` of the parameter groups: the
    SSL loss and its terms, JS and ``inner_loss`` at ``theta_t``; ``outer_objective``
    (``F``), ``outer_ssl_loss`` and ``outer_rate_reduction`` at ``theta'_t``, on the outer
    batch (NaN without an outer level); ``rate_reduction_*`` / ``coding_rate_*`` (R) / ``compress_rate_*``
    (R_c) and ``view_cosine_*`` of the pooled early-cut / last-layer features at
    ``theta_t``; gradient and step norms; ``step_ratio_<group>`` = ||outer step|| / ||inner
    step|| of the group (0 for a group without an outer step; NaN without an outer level).
    """
    if uc.use_rate_reduction and (outer_views is None) != (uc.outer_batch == "same"):
        raise ValueError(
            f"umm.outer_batch={uc.outer_batch} takes "
            f"{'no outer_views (F on the inner batch)' if uc.outer_batch == 'same' else 'the next batch as outer_views'}"
            f", but umm_step was given {'none' if outer_views is None else 'outer_views'}."
        )
    cache = early_cache if early_cache is not None else EarlyFeatureCache()
    h_a = cache.features(model, view_a, uc.early_cut, bf16)
    h_b = cache.features(model, view_b, uc.early_cut, bf16)
    if outer_views is None or not uc.use_rate_reduction:
        outer_h_a, outer_h_b = h_a, h_b
        cache.clear()
    else:
        outer_h_a = cache.features(model, outer_views[0], uc.early_cut, bf16)
        outer_h_b = cache.features(model, outer_views[1], uc.early_cut, bf16)
        cache.keep([(outer_views[0], outer_h_a), (outer_views[1], outer_h_b)], uc.early_cut, bf16)
    names, params = list(tuned), list(tuned.values())
    groups = parameter_groups(names)
    inner = inner_objective(head, h_a, h_b, loss_fn, beta=uc.beta, use_js=uc.use_js)
    nan = torch.full((), math.nan, device=view_a.device)
    outer_log = {"outer_objective": nan, "outer_ssl_loss": nan, "outer_rate_reduction": nan}
    if uc.use_rate_reduction:
        # look-ahead / finite-difference forwards run on copies of the buffers
        buffers = {k: b.detach().clone() for k, b in head.named_buffers()}

        def state_at(theta: Sequence[Tensor]) -> dict[str, Tensor]:
            return {**buffers, **dict(zip(names, theta, strict=True))}

        embed = uc.outer_ssl or uc.rate_reduction_on == "embedding"

        def outer_loss_fn(theta: Sequence[Tensor]) -> Tensor:
            state = state_at(theta)
            feat_a, z_a = functional_call(head, state, (outer_h_a,), {"embed": embed})
            feat_b, z_b = functional_call(head, state, (outer_h_b,), {"embed": embed})
            terms = outer_objective(feat_a, feat_b, z_a, z_b, loss_fn, uc)
            outer_log["outer_rate_reduction"] = terms.rate_reduction
            outer_log["outer_ssl_loss"] = terms.ssl
            return terms.objective

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
        inner_grad = hg.inner_gradient
        # no outer step where F has no direct gradient: only the xi*H*v cross-term would reach it
        outer_grad: list[Tensor | None] | None = [
            g if d else None for g, d in zip(hg.gradient, hg.direct, strict=True)
        ]
        outer_log["outer_objective"] = hg.outer_loss
    else:
        inner_grad, outer_grad = [g.detach() for g in grads_or_zeros(inner.inner, params)], None
    with torch.no_grad():
        start = [p.detach().clone() for p in params]
        for p, g in zip(params, inner_grad, strict=True):
            p.grad = g
        optimizers.inner.step()
        middle = [p.detach().clone() for p in params]
        if outer_grad is not None:
            for p, g in zip(params, outer_grad, strict=True):
                p.grad = g
            optimizers.outer.step()
        for p in params:
            p.grad = None
        inner_steps = [b - a for a, b in zip(start, middle, strict=True)]
        outer_steps = [p.detach() - b for p, b in zip(params, middle, strict=True)]
        ratios = {}
        for group, idx in groups.items():
            n_in = global_norm([inner_steps[i] for i in idx])
            n_out = global_norm([outer_steps[i] for i in idx])
            ratios[f"step_ratio_{group}"] = (n_out / n_in).float() if outer_grad is not None else nan
        rr_early, cos_early = _monitor(uc, pooled(h_a), pooled(h_b))
        rr_last, cos_last = _monitor(uc, inner.features_a.detach(), inner.features_b.detach())
        hypergradient_norm = (
            global_norm([g for g in outer_grad if g is not None]).float()
            if outer_grad is not None and any(g is not None for g in outer_grad) else
            (torch.zeros((), device=view_a.device) if outer_grad is not None else nan)
        )
    return {
        "ssl_loss": inner.ssl.loss.detach(),
        "invariance": inner.ssl.invariance.detach(),
        "variance": inner.ssl.variance.detach(),
        "covariance": inner.ssl.covariance.detach(),
        "js": inner.js.detach(),
        "inner_loss": inner.inner.detach(),
        **outer_log,
        "rate_reduction_early": rr_early.delta,
        "coding_rate_early": rr_early.total,
        "compress_rate_early": rr_early.compress,
        "rate_reduction_last": rr_last.delta,
        "coding_rate_last": rr_last.total,
        "compress_rate_last": rr_last.compress,
        "view_cosine_early": cos_early,
        "view_cosine_last": cos_last,
        "inner_grad_norm": global_norm(inner_grad).float(),
        "hypergradient_norm": hypergradient_norm,
        "inner_step_norm": global_norm(inner_steps).float(),
        "outer_step_norm": global_norm(outer_steps).float() if outer_grad is not None else nan,
        **ratios,
    }
