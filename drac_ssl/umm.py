"""Stage 3: UMM, the Undoing Memorization Mechanism (methods.md section 2).

Qiang, Song et al., "On the Generalization and Causal Explanation in Self-Supervised
Learning". After VICReg pretraining the early layers still generalise while the last ones
have memorised: UMM freezes the backbone up to and including ``umm.early_cut`` (``layer2``
or ``layer3``) and re-tunes the layers after it by a bi-level problem (the paper's Eq. 8):

    max_theta  Delta R(f_last(f_early(X); theta))
    s.t.       theta in argmin_theta  L_in(theta),   L_in = L_ssl + beta * JS(p_theta || U)

``theta``: the backbone stages after the cut **and the expander** (``umm.tune_expander``,
default true: L_ssl is defined on the expander output, and a frozen expander that was fitted
to the memorising features would pin the SSL objective to them). ``Delta R``: the MCR^2 rate
reduction of the pooled last-layer features of the two views, each image its own group of
two (:func:`drac_ssl.losses.rate_reduction.rate_reduction`, ``eps^2 = umm.eps2``).
``JS(p_theta || U)``: the alignment term of :mod:`drac_ssl.losses.alignment`
(density ``p_i ∝ 1 / ||dL_ssl / dz_early,i||`` taken with ``create_graph=True``, so the
term trains the layers through second derivatives).

Reconstruction (the outer and the inner variable coincide)
----------------------------------------------------------
Read literally, the constraint fixes theta and leaves the outer problem nothing to choose.
We read the current weights ``theta_t`` as the *starting point* of the inner problem and
the inner solution as a function of it, ``theta*(theta_t)``, as in DARTS (Liu et al., ICLR
2019) with the architecture and the weights merged, or as in implicit MAML (Rajeswaran et al.
2019) where ``theta*(lambda) = argmin_theta L_in(theta) + ||theta - lambda||^2 / (2 xi)``.
The outer gradient is the total derivative of the outer loss at the inner solution with
respect to the starting point, and the network takes both the inner step (which keeps the
SSL objective and the alignment) and the outer step (which moves along the constraint set
towards a larger rate reduction). With ``xi = umm.inner_lr``, ``eta = umm.outer_lr``,
``s = +1`` for ``outer_sign=maximize`` (the paper) and ``-1`` for ``minimize`` (the
authors' released code), ``F(theta) = -s * Delta R(theta)`` (the outer loss, minimised),
``H_t = grad^2 L_in(theta_t)`` and ``v_t = grad F(theta'_t)``, every batch does:

    (1) inner step     theta'_t = theta_t - xi * grad L_in(theta_t)
    (2a) unrolled      g_t = (I - xi H_t) v_t                       = d F(theta'_t) / d theta_t
    (2b) Neumann       g_t = sum_{j=0..K} (-xi H_t)^j v_t           ~ (I + xi H_t)^{-1} v_t
    (3) update         theta_{t+1} = theta'_t - eta * Adam(g_t)

(2a) is the exact gradient of the one-step unrolled objective ``F(theta - xi grad L_in
(theta))`` (DARTS's second-order approximation). (2b) is Lorraine, Vicol & Duvenaud (AISTATS
2020), Algorithm 3, applied to the proximal inner problem above: its implicit-function
hypergradient is ``(1/xi) (H + I/xi)^{-1} v = (I + xi H)^{-1} v``, and the Neumann series
with their step ``alpha = xi`` truncates it after ``K = umm.neumann_steps`` terms. ``K = 0``
is the first-order (Hessian-free) hypergradient ``v_t``; ``K = 1`` coincides with (2a),
because the Hessian is taken at ``theta_t`` (the graph already built for step (1)) rather
than at ``theta'_t``, a difference of ``O(xi)`` that saves a second-order forward.

Hessian-vector products ``H u`` (``umm.hvp``): ``exact`` by double backward through the
graph of ``grad L_in`` (``torch.autograd.grad(..., create_graph=True)``; with the JS term this
is a third derivative of L_ssl), or ``finite_difference``, DARTS's central difference
``(grad L_in(theta + r u) - grad L_in(theta - r u)) / (2 r)`` with ``r = umm.fd_radius /
||u||``. Switches for ablations: ``umm.use_js=false`` drops the JS term from L_in (it is
still logged), ``umm.use_rate_reduction=false`` drops the outer problem (plain inner
training: ``theta_{t+1} = theta'_t``), ``umm.outer_sign``, ``umm.hypergradient`` (unrolled
| neumann), ``umm.hvp``, ``umm.beta``.

Inner optimiser ``umm.inner_optimizer``: ``sgd`` (default; the real inner step is exactly
step (1)) or ``adam`` (the real inner step is an Adam step while (1)-(2) keep the plain
step, DARTS-style). The outer step is always Adam (scale-free, since the gradient scale of
Delta R is arbitrary). No weight decay in either.

Precision and state: the frozen early forward may run under bf16 autocast on CUDA
(``pretrain.precision``); its output is cast to float32 and everything that is
differentiated (the hypergradient path, second and third derivatives) runs in float32
without autocast. Frozen stages stay in eval mode, so their BatchNorm statistics never
change; the tuned stages are in train mode, and only the forward at ``theta_t`` updates
their running statistics (the look-ahead and finite-difference forwards use copies).
PyTorch's fused ``batch_norm`` has no third derivative, so the BatchNorm layers of the tuned
part are swapped for :class:`ComposableBatchNorm` (same parameters, buffers, state-dict keys
and values, written with plain tensor ops). Single process: the bi-level step is not wrapped
in DDP.

Outputs in ``run_dir/umm``: ``backbone.safetensors``, ``vicreg_model.safetensors``,
``metadata.json`` (pretraining's format, stage ``umm``), ``metrics.csv`` /
``metrics.jsonl``, ``plots/umm_rate_reduction.png``, ``plots/umm_losses.png``,
``config.yaml`` and ``checkpoints/last.pt`` (every epoch, atomic, exact resume); with
``run.tensorboard=true`` also TensorBoard scalars ``umm/<key>`` in ``tensorboard/``.

Command line: ``python -m drac_ssl.umm CHECKPOINT [-c CONFIG.yaml] [section.key=value ...]
[--run-dir DIR]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call
from tqdm.auto import tqdm

from drac_ssl import pretrain
from drac_ssl.checkpoint import (
    load_checkpoint,
    rng_state,
    save_checkpoint,
    save_weights,
    set_rng_state,
)
from drac_ssl.config import Config, ConfigError, UMMConfig, load_config, save_config, to_dict
from drac_ssl.distributed import DistInfo
from drac_ssl.io import atomic_write_json
from drac_ssl.losses.alignment import alignment_js
from drac_ssl.losses.rate_reduction import rate_reduction
from drac_ssl.losses.vicreg import VICRegLoss, VICRegTerms
from drac_ssl.models import VICRegModel, build_vicreg_model, load_local_weights
from drac_ssl.runtime import environment_info, resolve_device, seed_everything
from drac_ssl.tensorboard_log import require_tensorboard, write_tensorboard

__all__ = [
    "AfterCut",
    "ComposableBatchNorm",
    "Hypergradient",
    "InnerTerms",
    "UMMNonFiniteError",
    "UMMResult",
    "build_optimizers",
    "early_features",
    "feed_config",
    "hessian_vector_product",
    "hypergradient",
    "inner_objective",
    "load_pretrained_model",
    "make_batch_norm_composable",
    "main",
    "run",
    "umm_step",
]

EARLY_CUTS = ("layer2", "layer3")
HYPERGRADIENTS = ("unrolled", "neumann")
HVP_MODES = ("exact", "finite_difference")
INNER_OPTIMIZERS = ("sgd", "adam")
OUTER_SIGNS = ("maximize", "minimize")

ParamFn = Callable[[Sequence[Tensor]], Tensor]
"""A scalar function of a list of parameter tensors (same order and shapes as theta)."""


class UMMNonFiniteError(RuntimeError):
    """A UMM loss became NaN or infinite; the run stopped, the last good checkpoint stays."""


@dataclass
class UMMResult:
    out_dir: Path
    backbone_path: Path
    model_path: Path
    metadata_path: Path
    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int = -1
    stopped: str = ""


# --------------------------------------------------------------------------------------
# Hypergradient: pure functions of parameter lists (model-agnostic, testable in float64)


class Hypergradient(NamedTuple):
    """Result of :func:`hypergradient`; every list has one tensor per parameter of theta.

    - ``gradient``: ``g_t`` of the module docstring (the outer gradient to apply).
    - ``inner_gradient``: ``grad L_in(theta_t)`` (detached).
    - ``lookahead``: ``theta'_t = theta_t - xi grad L_in(theta_t)`` (detached).
    - ``outer_loss``: 0-dim ``F(theta'_t)`` (detached).
    """

    gradient: list[Tensor]
    inner_gradient: list[Tensor]
    lookahead: list[Tensor]
    outer_loss: Tensor


def _grads(
    output: Tensor,
    inputs: Sequence[Tensor],
    create_graph: bool = False,
    retain_graph: bool | None = None,
    grad_outputs: Sequence[Tensor] | None = None,
) -> list[Tensor]:
    """``torch.autograd.grad`` with zeros (not None) for inputs that do not influence ``output``."""
    return list(torch.autograd.grad(
        output,
        list(inputs),
        grad_outputs=grad_outputs,
        create_graph=create_graph,
        retain_graph=retain_graph,
        allow_unused=True,
        materialize_grads=True,
    ))


def _norm(tensors: Sequence[Tensor]) -> Tensor:
    return torch.sqrt(
        sum(
            (t.detach().double().pow(2).sum() for t in tensors),
            torch.zeros((), dtype=torch.float64, device=tensors[0].device),
        )
    )


def hessian_vector_product(
    params: Sequence[Tensor],
    vector: Sequence[Tensor],
    *,
    mode: str = "exact",
    inner_gradient: Sequence[Tensor] | None = None,
    inner_loss_fn: ParamFn | None = None,
    fd_radius: float = 0.01,
) -> list[Tensor]:
    """``H u`` with ``H = grad^2 L_in(theta)`` at ``theta = params``.

    Args:
        params: theta, leaf tensors.
        vector: ``u``, one tensor per parameter.
        mode: ``exact``: double backward through ``inner_gradient``, which must have been
            computed with ``create_graph=True`` (its graph is retained). ``finite_difference``:
            DARTS's ``(grad L_in(theta + r u) - grad L_in(theta - r u)) / (2 r)`` with
            ``r = fd_radius / ||u||``, evaluating ``inner_loss_fn`` twice.
        inner_gradient: ``grad L_in(theta)`` with graph (``exact``).
        inner_loss_fn: ``L_in`` as a function of a parameter list (``finite_difference``).
        fd_radius: DARTS's epsilon (0.01).

    Returns:
        ``H u`` (detached), same shapes as ``params``.
    """
    if mode == "exact":
        if inner_gradient is None:
            raise ValueError(
                "hessian_vector_product(mode='exact') needs inner_gradient with its graph."
            )
        pairs = [(i, g) for i, g in enumerate(inner_gradient) if g.requires_grad]
        out = [torch.zeros_like(p) for p in params]
        if not pairs:  # the inner loss is (at most) linear in theta
            return out
        hv = _grads(
            [g for _, g in pairs],
            params,
            retain_graph=True,
            grad_outputs=[vector[i] for i, _ in pairs],
        )
        return [h.detach() for h in hv]
    if mode == "finite_difference":
        if inner_loss_fn is None:
            raise ValueError(
                "hessian_vector_product(mode='finite_difference') needs inner_loss_fn."
            )
        norm = float(_norm(vector))
        if norm == 0.0 or not math.isfinite(norm):
            return [torch.zeros_like(p) for p in params]
        r = fd_radius / norm
        probes = []
        for sign in (1.0, -1.0):
            shifted = [
                (p.detach() + sign * r * u).requires_grad_(True)
                for p, u in zip(params, vector, strict=True)
            ]
            probes.append(_grads(inner_loss_fn(shifted), shifted))
        return [(gp - gm).detach() / (2.0 * r) for gp, gm in zip(*probes, strict=True)]
    raise ValueError(
        f"unknown Hessian-vector product mode {mode!r}; choose {' or '.join(HVP_MODES)} (umm.hvp)."
    )


def hypergradient(
    params: Sequence[Tensor],
    inner_loss: Tensor,
    outer_loss_fn: ParamFn,
    *,
    inner_lr: float,
    method: str = "unrolled",
    neumann_steps: int = 3,
    hvp: str = "exact",
    fd_radius: float = 0.01,
    inner_loss_fn: ParamFn | None = None,
) -> Hypergradient:
    """Outer gradient of the bi-level problem at ``theta_t = params`` (module docstring).

    Args:
        params: ``theta_t``, leaf tensors with ``requires_grad=True``.
        inner_loss: 0-dim ``L_in(theta_t)`` whose graph reaches ``params``.
        outer_loss_fn: ``F``, evaluated at the look-ahead ``theta'_t`` (a list of leaves).
        inner_lr: ``xi``, the step of the unrolled inner update.
        method: ``unrolled``: ``g = (I - xi H) v``; ``neumann``:
            ``g = sum_{j=0..K} (-xi H)^j v`` with ``K = neumann_steps``.
        neumann_steps: ``K >= 0`` (0: the first-order hypergradient ``v``).
        hvp: ``exact`` (double backward) or ``finite_difference`` (DARTS).
        fd_radius: DARTS's epsilon for ``finite_difference``.
        inner_loss_fn: ``L_in`` as a function of a parameter list (``finite_difference``).

    Returns:
        :class:`Hypergradient`; ``H`` is taken at ``theta_t``, ``v = grad F(theta'_t)``.
    """
    if method not in HYPERGRADIENTS:
        raise ValueError(
            f"unknown hypergradient {method!r}; choose {' or '.join(HYPERGRADIENTS)} (umm.hypergradient)."
        )
    if hvp not in HVP_MODES:
        raise ValueError(
            f"unknown Hessian-vector product mode {hvp!r}; choose {' or '.join(HVP_MODES)} (umm.hvp)."
        )
    if neumann_steps < 0:
        raise ValueError(f"umm.neumann_steps must be >= 0, got {neumann_steps}.")
    needs_hvp = method == "unrolled" or neumann_steps > 0
    params = list(params)
    inner_grad = _grads(
        inner_loss,
        params,
        create_graph=needs_hvp and hvp == "exact",
        retain_graph=needs_hvp and hvp == "exact",
    )
    lookahead = [
        (p.detach() - inner_lr * g.detach()).requires_grad_(True)
        for p, g in zip(params, inner_grad, strict=True)
    ]
    outer_loss = outer_loss_fn(lookahead)
    v = [g.detach() for g in _grads(outer_loss, lookahead)]

    def h_times(u: Sequence[Tensor]) -> list[Tensor]:
        return hessian_vector_product(
            params,
            u,
            mode=hvp,
            inner_gradient=inner_grad,
            inner_loss_fn=inner_loss_fn,
            fd_radius=fd_radius,
        )

    if method == "unrolled":
        gradient = [a - inner_lr * b for a, b in zip(v, h_times(v), strict=True)]
    else:
        gradient, term = list(v), list(v)
        for _ in range(neumann_steps):
            term = [-inner_lr * t for t in h_times(term)]
            gradient = [a + b for a, b in zip(gradient, term, strict=True)]
    return Hypergradient(
        gradient,
        [g.detach() for g in inner_grad],
        [t.detach() for t in lookahead],
        outer_loss.detach(),
    )


# --------------------------------------------------------------------------------------
# The model part: frozen early layers, re-tuned last layers


class AfterCut(nn.Module):
    """The part of a :class:`VICRegModel` that runs after ``early_cut``.

    ``forward(h) -> (features (n, feature_dim), embedding (n, out_dim) or None)`` on the
    early feature map ``h`` ``(n, C, H', W')`` of :meth:`Backbone.forward_until`. It holds
    the model's own ``backbone`` and ``expander`` under the same names, so its parameter
    names equal the model's and ``torch.func.functional_call`` can swap theta in.
    """

    def __init__(self, model: VICRegModel, early_cut: str) -> None:
        super().__init__()
        self.backbone = model.backbone
        self.expander = model.expander
        self.early_cut = early_cut

    def forward(self, h: Tensor, embed: bool = True) -> tuple[Tensor, Tensor | None]:
        features = self.backbone.forward_from(h, self.early_cut)
        return features, self.expander(features) if embed else None


class ComposableBatchNorm(nn.Module):
    """BatchNorm written with plain tensor ops, so that it has derivatives of every order.

    ``torch``'s fused ``batch_norm`` stops at second derivatives ("batch_norm does not
    support 3rd+ order derivatives"), but the exact Hessian-vector product of the inner
    objective with the JS term is a third derivative of the SSL loss. This module replaces a
    ``nn.BatchNorm1d/2d`` in the re-tuned layers; it shares the original's parameters and
    buffers under the same names (the state dict is unchanged) and follows the same
    conventions: normalisation by the biased batch variance, running variance updated with
    the unbiased one, ``momentum=None`` = cumulative average, running statistics in eval mode.

    ``forward(x)``: ``(n, C, ...) -> (n, C, ...)``.
    """

    def __init__(self, bn: nn.modules.batchnorm._BatchNorm) -> None:
        super().__init__()
        self.num_features, self.eps, self.momentum = bn.num_features, bn.eps, bn.momentum
        self.track_running_stats = bn.track_running_stats
        self.weight, self.bias = bn.weight, bn.bias
        self.register_buffer("running_mean", bn.running_mean)
        self.register_buffer("running_var", bn.running_var)
        self.register_buffer("num_batches_tracked", bn.num_batches_tracked)
        self.train(bn.training)

    def forward(self, x: Tensor) -> Tensor:
        shape = (1, -1) + (1,) * (x.ndim - 2)
        dims = [0, *range(2, x.ndim)]
        use_batch = self.training or self.running_mean is None
        if use_batch:
            mean = x.mean(dims)
            var = x.var(dims, correction=0)
            if self.training and self.track_running_stats and self.running_mean is not None:
                with torch.no_grad():
                    self.num_batches_tracked.add_(1)
                    factor = (
                        1.0 / float(self.num_batches_tracked)
                        if self.momentum is None
                        else self.momentum
                    )
                    count = x.numel() // x.shape[1]
                    self.running_mean.lerp_(mean.detach(), factor)
                    self.running_var.lerp_(var.detach() * count / max(count - 1, 1), factor)
        else:
            mean, var = self.running_mean, self.running_var
        out = (x - mean.reshape(shape)) * torch.rsqrt(var.reshape(shape) + self.eps)
        if self.weight is not None:
            out = out * self.weight.reshape(shape)
        if self.bias is not None:
            out = out + self.bias.reshape(shape)
        return out


def make_batch_norm_composable(module: nn.Module) -> int:
    """Replace every BatchNorm inside ``module`` by a :class:`ComposableBatchNorm` (in place,
    same parameters, buffers and state-dict keys). Returns how many were replaced."""
    replaced = 0
    for name, child in list(module.named_children()):
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            setattr(module, name, ComposableBatchNorm(child))
            replaced += 1
        else:
            replaced += make_batch_norm_composable(child)
    return replaced


def early_features(model: VICRegModel, x: Tensor, early_cut: str, bf16: bool) -> Tensor:
    """Frozen early feature map ``(n, C, H', W')`` in float32 (no graph; bf16 autocast allowed)."""
    with (
        torch.no_grad(),
        torch.autocast(device_type=x.device.type, dtype=torch.bfloat16, enabled=bf16),
    ):
        h = model.backbone.forward_until(x, early_cut)
    return h.float()


def _pooled(h: Tensor) -> Tensor:
    return torch.flatten(F.adaptive_avg_pool2d(h, 1), 1)


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
        inner_grad, outer_grad = [g.detach() for g in _grads(inner.inner, params)], None
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
        rr_early = rate_reduction(_pooled(h_a), _pooled(h_b), uc.eps2).delta
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
        "inner_grad_norm": _norm(inner_grad).float(),
        "hypergradient_norm": _norm(outer_grad).float() if outer_grad is not None else nan,
    }


# --------------------------------------------------------------------------------------
# Loading the pretrained model


def default_checkpoint(run_dir: Path) -> Path:
    return run_dir / "pretrain" / "vicreg_model.safetensors"


def _resolve_checkpoint(run_dir: Path, checkpoint: str | Path | None) -> Path:
    if checkpoint is None:
        path = default_checkpoint(run_dir)
        if not path.is_file():
            raise FileNotFoundError(
                f"UMM needs the pretrained VICReg model, but {path} does not exist.\n"
                f"  fix: run the pretrain stage first (run.stages=[ingest,pretrain,umm]) or pass "
                f"a checkpoint: python -m drac_ssl.umm RUN/pretrain/vicreg_model.safetensors"
            )
        return path
    path = Path(checkpoint)
    if not path.is_file():
        raise FileNotFoundError(
            f"UMM checkpoint not found: {path}\n"
            f"  fix: pass RUN/pretrain/vicreg_model.safetensors (with its metadata.json) or a "
            f"pretrain checkpoint RUN/pretrain/checkpoints/last.pt"
        )
    return path


def _architecture(cfg: Config) -> dict[str, Any]:
    pc = cfg.pretrain
    return {
        "pretrain.backbone.arch": pc.backbone.arch,
        "pretrain.backbone.cifar_stem": pc.backbone.cifar_stem,
        "pretrain.backbone.in_channels": pc.backbone.in_channels,
        "pretrain.expander": pc.expander,
    }


def _recorded_architecture(path: Path) -> dict[str, Any] | None:
    """The architecture a checkpoint says it has: metadata.json beside a .safetensors, or the
    config stored in a .pt checkpoint (read with ``weights_only=True``)."""
    if path.suffix == ".safetensors":
        meta_path = path.parent / "metadata.json"
        if not meta_path.is_file():
            return None
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            arch = meta["architecture"]
            return {
                "pretrain.backbone.arch": arch["backbone"],
                "pretrain.backbone.cifar_stem": arch["cifar_stem"],
                "pretrain.backbone.in_channels": meta["input"]["channels"],
                "pretrain.expander": arch["expander"],
            }
        except (OSError, ValueError, KeyError, TypeError):
            return None
    if path.suffix in (".pt", ".pth"):
        state = load_checkpoint(path)
        pc = state.get("config", {}).get("pretrain") if isinstance(state, dict) else None
        if not isinstance(pc, dict):
            return None
        bb = pc.get("backbone", {})
        return {
            "pretrain.backbone.arch": bb.get("arch"),
            "pretrain.backbone.cifar_stem": bb.get("cifar_stem"),
            "pretrain.backbone.in_channels": bb.get("in_channels"),
            "pretrain.expander": pc.get("expander"),
        }
    return None


def load_pretrained_model(cfg: Config, path: str | Path) -> VICRegModel:
    """The VICReg model (backbone + expander) of ``cfg.pretrain`` filled from ``path``.

    ``path``: ``vicreg_model.safetensors`` (its ``metadata.json`` is checked against the
    config when present) or a pretrain/UMM checkpoint ``.pt`` (read with
    ``weights_only=True``; its stored config is checked). ``pretrain.backbone.weights`` is
    not loaded: the checkpoint replaces it.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the checkpoint's architecture does not match the configuration, or it has
            no expander (a ``backbone.safetensors``).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"UMM checkpoint not found: {path}")
    expected = _architecture(cfg)
    recorded = _recorded_architecture(path)
    if recorded is not None:
        diffs = [
            f"{k}: checkpoint {recorded[k]!r}, config {expected[k]!r}"
            for k in expected
            if recorded.get(k) is not None and recorded[k] != expected[k]
        ]
        if diffs:
            raise ValueError(
                f"{path}: the checkpoint's architecture does not match the configuration:\n  "
                + "\n  ".join(diffs)
                + "\n  fix: use the config the model was pretrained with (-c RUN/config.yaml) or "
                + " ".join(
                    f"{k}={_yaml_value(recorded[k])}"
                    for k in expected
                    if recorded.get(k) is not None and recorded[k] != expected[k]
                )
            )
    pc = dataclasses.replace(
        cfg.pretrain, backbone=dataclasses.replace(cfg.pretrain.backbone, weights="")
    )
    model = build_vicreg_model(pc)
    try:
        load_local_weights(model, path, strict=True)
    except ValueError as exc:
        hint = ""
        if "expander" in str(exc) and "missing" in str(exc):
            hint = (
                "\n  fix: UMM re-tunes the expander too; pass vicreg_model.safetensors (backbone + "
                "expander), not backbone.safetensors."
            )
        raise ValueError(
            f"{path}: cannot be loaded into the configured VICReg model "
            f"({', '.join(f'{k}={v}' for k, v in expected.items())}):\n{exc}{hint}"
        ) from None
    return model


def _yaml_value(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


# --------------------------------------------------------------------------------------
# Outputs


def _validate(uc: UMMConfig) -> None:
    checks = {
        "umm.early_cut": (uc.early_cut, EARLY_CUTS),
        "umm.hypergradient": (uc.hypergradient, HYPERGRADIENTS),
        "umm.hvp": (uc.hvp, HVP_MODES),
        "umm.inner_optimizer": (uc.inner_optimizer, INNER_OPTIMIZERS),
        "umm.outer_sign": (uc.outer_sign, OUTER_SIGNS),
    }
    for key, (value, choices) in checks.items():
        if value not in choices:
            raise ConfigError(
                f"config: {key}={value!r} is not one of {', '.join(choices)}.\n  fix: {key}={choices[0]}"
            )
    if uc.batch_size < 2:
        raise ConfigError(
            f"config: umm.batch_size must be >= 2 (VICReg's variance needs it), got {uc.batch_size}."
        )
    for key, value in {
        "umm.epochs": uc.epochs,
        "umm.inner_lr": uc.inner_lr,
        "umm.eps2": uc.eps2,
        "umm.fd_radius": uc.fd_radius,
    }.items():
        if not value > 0:
            raise ConfigError(f"config: {key} must be > 0, got {value}.")
    for key, value in {
        "umm.outer_lr": uc.outer_lr,
        "umm.beta": uc.beta,
        "umm.neumann_steps": uc.neumann_steps,
        "umm.patience": uc.patience,
        "umm.max_steps_per_epoch": uc.max_steps_per_epoch,
    }.items():
        if value < 0:
            raise ConfigError(f"config: {key} must be >= 0, got {value}.")


def _write_history(out_dir: Path, history: list[dict[str, Any]]) -> None:
    pretrain._write_history(out_dir, history)


def _plot_history(out_dir: Path, history: list[dict[str, Any]]) -> None:
    from drac_ssl.plots import plot_history

    rr_keys = ["rate_reduction_early", "rate_reduction_last"]
    if any(r.get("outer_objective") is not None for r in history):
        rr_keys.append("outer_objective")
    plot_history(
        history,
        rr_keys,
        out_dir / "plots" / "umm_rate_reduction.png",
        "UMM: rate reduction of early and last features (outer objective: Delta R at theta')",
    )
    plot_history(
        history,
        ["ssl_loss", "js", "inner_loss", "invariance", "variance", "covariance"],
        out_dir / "plots" / "umm_losses.png",
        "UMM: inner objective L_ssl + beta * JS and its terms",
    )


def _row_value(value: float) -> float | None:
    return round(value, 6) if math.isfinite(value) else None


# --------------------------------------------------------------------------------------
# The stage


def _resume_differences(state: dict[str, Any], cfg: Config, source: Path) -> list[str]:
    """What differs between a UMM checkpoint and this call (``umm.epochs`` may grow)."""
    old = state.get("config", {}).get("umm", {})
    new = to_dict(cfg)["umm"]
    diffs = [
        f"umm.{k}: {old.get(k)!r} -> {v!r}"
        for k, v in new.items()
        if k != "epochs" and old.get(k) != v
    ]
    if state.get("source") not in (None, str(source.resolve())):
        diffs.append(f"checkpoint: {state['source']} -> {source}")
    return diffs


def feed_config(cfg: Config) -> Config:
    """``cfg`` with the pretraining batch settings replaced by UMM's (for ``TwoViewFeed``)."""
    uc = cfg.umm
    return dataclasses.replace(
        cfg,
        pretrain=dataclasses.replace(
            cfg.pretrain,
            batch_size=uc.batch_size,
            max_steps_per_epoch=uc.max_steps_per_epoch,
            knn_every=0,
        ),
    )


def run(
    cfg: Config,
    run_dir: str | Path,
    data: pretrain.PretrainData | None = None,
    checkpoint: str | Path | None = None,
    stop_after_epoch: int | None = None,
    data_dir: str | Path | None = None,
) -> UMMResult:
    """Run (or resume) UMM; returns the output paths and the per-epoch history.

    Args:
        cfg: the resolved configuration (``cfg.umm`` and the model/augmentation of
            ``cfg.pretrain``).
        run_dir: the run folder; outputs go to ``run_dir/umm``; resumes from
            ``run_dir/umm/checkpoints/last.pt`` when present.
        data: the image pool (default: :func:`drac_ssl.pretrain.load_pretrain_data`).
        checkpoint: the pretrained model (default ``run_dir/pretrain/vicreg_model.safetensors``).
        stop_after_epoch: end after that epoch (0-based) as if interrupted (resume tests).
        data_dir: the ingest output for DRAC when ``data`` is None (default ``run_dir/data``).

    Raises:
        FileNotFoundError: no pretrained model.
        ValueError: the checkpoint does not match the configured architecture, or the batch
            is larger than the data.
        ConfigError: bad UMM settings, or ``run_dir/umm`` holds a run with other settings.
        UMMNonFiniteError: a loss became NaN/inf (the last good checkpoint is kept).
    """
    uc = cfg.umm
    _validate(uc)
    if cfg.run.tensorboard:
        require_tensorboard()
    run_dir = Path(run_dir)
    out_dir = run_dir / "umm"
    ckpt_dir = out_dir / "checkpoints"
    last = ckpt_dir / "last.pt"
    source = _resolve_checkpoint(run_dir, checkpoint)
    device = resolve_device(cfg.run.device)
    seed_everything(cfg.run.seed)
    bf16 = pretrain.use_bf16(cfg, device)

    model = load_pretrained_model(cfg, source).to(device)
    model.backbone.freeze_until(uc.early_cut)
    if not uc.tune_expander:
        for p in model.expander.parameters():
            p.requires_grad_(False)
    for stage in model.backbone.stage_modules(uc.early_cut):
        make_batch_norm_composable(stage)  # exact third derivatives (see ComposableBatchNorm)
    make_batch_norm_composable(model.expander)
    head = AfterCut(model, uc.early_cut)
    tuned = {name: p for name, p in head.named_parameters() if p.requires_grad}
    optimizers = build_optimizers(list(tuned.values()), uc)
    loss_fn = VICRegLoss.from_config(cfg.pretrain.loss)

    feed_cfg = feed_config(cfg)
    if data is None:
        data = pretrain.load_pretrain_data(
            feed_cfg, Path(data_dir) if data_dir is not None else run_dir / "data"
        )
    if len(data.images) < uc.batch_size:
        raise ValueError(
            f"umm.batch_size={uc.batch_size} is larger than the {len(data.images)} images.\n"
            f"  fix: umm.batch_size={max(2, len(data.images))} or add images."
        )
    feed = pretrain.TwoViewFeed(data.images, feed_cfg, device, DistInfo())

    start_epoch, history, stopped = 0, [], ""
    best_rr, best_epoch, bad_epochs = -math.inf, -1, 0
    if last.exists():
        state = load_checkpoint(last, map_location=device)
        diffs = _resume_differences(state, cfg, source)
        if diffs:
            raise ConfigError(
                f"{last}: this UMM run was made with other settings:\n  "
                + "\n  ".join(diffs)
                + f"\n  fix: give the ablation its own folder (python -m drac_ssl.umm ... --run-dir NEW) "
                f"or delete {out_dir} to start over."
            )
        model.load_state_dict(state["model"])
        optimizers.load_state_dict(state["optimizers"])
        set_rng_state(state["rng"])
        start_epoch = state["epoch"] + 1
        history = list(state["history"])
        best_rr, best_epoch, bad_epochs = (
            state["best_rate_reduction"],
            state["best_epoch"],
            state["bad_epochs"],
        )
        stopped = state["stopped"]
        print(f"[umm] resuming from {last} at epoch {start_epoch}")
    out_dir.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out_dir / "config.yaml")
    atomic_write_json(out_dir / "environment.json", environment_info())
    print(
        f"[umm] {source} -> {out_dir}: frozen up to {uc.early_cut}, tuning "
        f"{sum(p.numel() for p in tuned.values()):,} parameters ({uc.hypergradient}"
        f"{f' K={uc.neumann_steps}' if uc.hypergradient == 'neumann' else ''}, hvp {uc.hvp}, "
        f"JS {'on' if uc.use_js else 'off'}, rate reduction {uc.outer_sign if uc.use_rate_reduction else 'off'})"
    )

    for epoch in range(start_epoch, uc.epochs):
        if stopped:
            break
        head.train()
        if not uc.tune_expander:
            model.expander.eval()
        sums = {k: torch.zeros((), dtype=torch.float64, device=device) for k in STEP_KEYS}
        n_steps = 0
        t0 = time.perf_counter()
        bar = tqdm(
            feed.epoch(epoch),
            total=len(feed),
            desc=f"umm {epoch + 1}/{uc.epochs}",
            leave=False,
            mininterval=2.0,
        )
        for view_a, view_b in bar:
            logs = umm_step(model, head, tuned, view_a, view_b, uc, loss_fn, optimizers, bf16)
            for k in STEP_KEYS:
                sums[k] += logs[k].double()
            n_steps += 1
        means = {k: float(v) / max(n_steps, 1) for k, v in sums.items()}
        watched = ["ssl_loss", "inner_loss", "rate_reduction_last"] + (
            ["outer_objective"] if uc.use_rate_reduction else []
        )
        bad = [k for k in watched if not math.isfinite(means[k])]
        if bad:
            msg = (
                f"[umm] epoch {epoch + 1}: non-finite {', '.join(bad)} (epoch means: "
                + ", ".join(f"{k}={means[k]:.4g}" for k in STEP_KEYS)
                + f").\n  The last good checkpoint {last} is kept.\n"
                f"  fix: lower umm.outer_lr / umm.inner_lr / umm.beta, or try umm.hypergradient=neumann "
                f"umm.neumann_steps=0."
            )
            print(msg)
            feed.close()
            raise UMMNonFiniteError(msg)
        seconds = time.perf_counter() - t0
        row: dict[str, Any] = {"epoch": epoch, "step": (epoch + 1) * len(feed)}
        row.update({k: _row_value(v) for k, v in means.items()})
        row["seconds"] = round(seconds, 3)
        row["pairs_per_second"] = round(n_steps * uc.batch_size / max(seconds, 1e-9), 1)
        history.append(row)

        improved = row["rate_reduction_last"] > best_rr
        if improved:
            best_rr, best_epoch, bad_epochs = row["rate_reduction_last"], epoch, 0
        else:
            bad_epochs += 1
        if uc.early_stop_on_rate_reduction and uc.patience and bad_epochs >= uc.patience:
            stopped = f"early stopping: the last-layer rate reduction did not improve for {uc.patience} epochs"
        if improved and uc.early_stop_on_rate_reduction:
            save_checkpoint(
                ckpt_dir / "best.pt",
                {"model": model.state_dict(), "epoch": epoch, "config": to_dict(cfg)},
            )
        save_checkpoint(
            last,
            {
                "model": model.state_dict(),
                "optimizers": optimizers.state_dict(),
                "epoch": epoch,
                "rng": rng_state(),
                "history": history,
                "best_rate_reduction": best_rr,
                "best_epoch": best_epoch,
                "bad_epochs": bad_epochs,
                "stopped": stopped,
                "source": str(source.resolve()),
                "config": to_dict(cfg),
            },
        )
        _write_history(out_dir, history)
        if cfg.run.tensorboard:
            write_tensorboard(out_dir / "tensorboard", "umm", history)
        outer = (
            f" outer dR(theta') {row['outer_objective']:.3f}"
            if row["outer_objective"] is not None
            else ""
        )
        print(
            f"[umm] epoch {epoch + 1}/{uc.epochs} ssl {row['ssl_loss']:.4f} js {row['js']:.4f} "
            f"dR early {row['rate_reduction_early']:.3f} last {row['rate_reduction_last']:.3f}{outer} "
            f"{row['pairs_per_second']:.1f} pairs/s"
        )
        if stop_after_epoch is not None and epoch >= stop_after_epoch:
            feed.close()
            return UMMResult(
                out_dir,
                out_dir / "backbone.safetensors",
                out_dir / "vicreg_model.safetensors",
                out_dir / "metadata.json",
                history,
                best_epoch,
                "interrupted",
            )

    feed.close()  # stops the DataLoader workers of the CPU stream
    if not stopped:
        stopped = "completed all epochs"
    use_best = uc.early_stop_on_rate_reduction and (ckpt_dir / "best.pt").exists()
    final_state = load_checkpoint(ckpt_dir / "best.pt")["model"] if use_best else model.state_dict()
    out_epoch = best_epoch if use_best else (history[-1]["epoch"] if history else -1)
    backbone_state = {
        k[len("backbone.") :]: v for k, v in final_state.items() if k.startswith("backbone.")
    }
    meta = pretrain.backbone_metadata(cfg, data, history, out_epoch, stage="umm")
    chosen = next((r for r in history if r["epoch"] == out_epoch), {})
    meta["metrics"] = {k: chosen.get(k) for k in STEP_KEYS if k in chosen}
    meta["stopped"] = stopped
    stages = list(model.backbone.stage_names)
    meta["umm"] = {
        "source": str(source.resolve()),
        "early_cut": uc.early_cut,
        "tuned": stages[stages.index(uc.early_cut) + 1 :]
        + (["expander"] if uc.tune_expander else []),
        "weights": "best last-layer rate reduction" if use_best else "last epoch",
    }
    backbone_path, model_path, metadata_path = (
        out_dir / "backbone.safetensors",
        out_dir / "vicreg_model.safetensors",
        out_dir / "metadata.json",
    )
    save_weights(backbone_path, backbone_state, {"format": "drac_ssl backbone v1"})
    save_weights(model_path, final_state)
    atomic_write_json(metadata_path, meta)
    if history:
        _plot_history(out_dir, history)
    print(f"[umm] {stopped}; weights of epoch {out_epoch + 1} -> {backbone_path}")
    return UMMResult(out_dir, backbone_path, model_path, metadata_path, history, out_epoch, stopped)


# --------------------------------------------------------------------------------------
# Command line


def _source_run_dir(checkpoint: Path) -> Path | None:
    """``RUN`` for a checkpoint inside ``RUN/pretrain/`` or ``RUN/umm/`` (also their
    ``checkpoints/``), else None."""
    for parent in list(checkpoint.resolve().parents)[:2]:
        if parent.name in ("pretrain", "umm"):
            return parent.parent
    return None


def _default_config_path(checkpoint: Path) -> Path | None:
    """``RUN/config.yaml`` beside the checkpoint's run folder, else ``configs/default.yaml``."""
    source_run = _source_run_dir(checkpoint)
    if source_run is not None and (source_run / "config.yaml").is_file():
        return source_run / "config.yaml"
    default = Path(__file__).resolve().parents[1] / "configs" / "default.yaml"
    return default if default.is_file() else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m drac_ssl.umm",
        description="UMM (methods.md section 2): freeze the backbone up to umm.early_cut and re-tune the "
        "layers after it by the bi-level rate-reduction / alignment objective.",
        epilog="Example (an ablation): python -m drac_ssl.umm runs/x/pretrain/vicreg_model.safetensors "
        "--run-dir runs/x-umm-nojs umm.epochs=20 umm.use_js=false umm.outer_sign=minimize",
    )
    parser.add_argument(
        "checkpoint",
        help="vicreg_model.safetensors (with metadata.json) or a pretrain .pt checkpoint",
    )
    parser.add_argument(
        "-c",
        "--config",
        default=None,
        help="YAML config (default: RUN/config.yaml beside RUN/pretrain/, else configs/default.yaml)",
    )
    parser.add_argument(
        "--run-dir",
        default=None,
        help="run folder; outputs go to RUN/umm (default: the checkpoint's run folder; "
        "give each ablation its own). DRAC images are read from the checkpoint's "
        "RUN/data when it exists",
    )
    parser.add_argument(
        "overrides", nargs="*", help="section.key=value overrides, e.g. umm.beta=0.5"
    )
    args = parser.parse_args(argv)
    try:
        checkpoint = Path(args.checkpoint)
        if not checkpoint.is_file():
            raise FileNotFoundError(
                f"UMM checkpoint not found: {checkpoint}\n"
                f"  fix: pass RUN/pretrain/vicreg_model.safetensors or RUN/pretrain/checkpoints/last.pt"
            )
        config_path = args.config if args.config is not None else _default_config_path(checkpoint)
        cfg = load_config(config_path, args.overrides)
        if config_path is not None:
            print(
                f"[umm] config: {config_path}"
                + (f" + {' '.join(args.overrides)}" if args.overrides else "")
            )
        source_run = _source_run_dir(checkpoint)
        run_dir = (
            Path(args.run_dir)
            if args.run_dir
            else (source_run or Path(cfg.run.out_dir) / (cfg.run.name or f"umm-{checkpoint.stem}"))
        )
        data_dir = (
            source_run / "data"
            if source_run is not None and (source_run / "data").is_dir()
            else run_dir / "data"
        )
        run(cfg, run_dir, checkpoint=checkpoint, data_dir=data_dir)
    except (ConfigError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except UMMNonFiniteError:
        return 1
    except KeyboardInterrupt:
        print(
            "\n[umm] interrupted: rerun the same command to resume from the last checkpoint",
            file=sys.stderr,
        )
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
