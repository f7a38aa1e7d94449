"""UMM's bi-level maths: pure functions of parameter lists (model-agnostic, testable in float64).

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
towards a better outer objective). With ``xi = umm.inner_lr``, ``eta = umm.outer_lr``,
``F`` the outer loss (minimised; UMM's is ``L_ssl(theta') - s * alpha * Delta R(theta')``,
:func:`drac_ssl.umm.step.outer_objective`), ``H_t = grad^2 L_in(theta_t)`` and
``v_t = grad F(theta'_t)``, every batch does:

    (1) inner step     theta'_t = theta_t - xi * grad L_in(theta_t)
    (2a) unrolled      g_t = (I - xi H_t) v_t                       = d F(theta'_t) / d theta_t
    (2b) Neumann       g_t = sum_{j=0..K} (-xi H_t)^j v_t           ~ (I + xi H_t)^{-1} v_t
    (3) update         theta_{t+1} = theta'_t - eta * Adam(g_t)

(1) is the look-ahead the hypergradient differentiates; the real inner update is the inner
optimiser's step (:mod:`drac_ssl.umm.step`: Adam by default, as the authors; plain SGD makes
it exactly (1)). (3) skips the parameters on which ``F`` has no direct dependence
(``Hypergradient.direct``): their ``g_t`` would be the cross-term ``-xi H_t v_t`` alone.

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
still logged), ``umm.use_rate_reduction=false`` drops the outer problem (inner training
alone: ``theta_{t+1}`` is the inner optimiser's step on ``grad L_in(theta_t)``, Adam's by
default, equal to the look-ahead ``theta'_t`` of (1) only with ``umm.inner_optimizer=sgd``),
``umm.alpha`` / ``umm.outer_sign`` / ``umm.outer_ssl``
(the outer objective), ``umm.hypergradient`` (unrolled | neumann), ``umm.hvp``, ``umm.beta``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch
from torch import Tensor

from drac_ssl.config import HVP_MODES, HYPERGRADIENTS  # re-exported: config's _CHOICES holds them

__all__ = ["HVP_MODES", "HYPERGRADIENTS", "Hypergradient", "ParamFn", "global_norm",
           "grads_or_zeros", "hessian_vector_product", "hypergradient"]


ParamFn = Callable[[Sequence[Tensor]], Tensor]
"""A scalar function of a list of parameter tensors (same order and shapes as theta)."""


class Hypergradient(NamedTuple):
    """Result of :func:`hypergradient`; every list has one tensor per parameter of theta.

    - ``gradient``: ``g_t`` of the module docstring (the outer gradient to apply).
    - ``inner_gradient``: ``grad L_in(theta_t)`` (detached).
    - ``lookahead``: ``theta'_t = theta_t - xi grad L_in(theta_t)`` (detached).
    - ``outer_loss``: 0-dim ``F(theta'_t)`` (detached).
    - ``direct``: for each parameter, whether ``F`` depends on it directly (``v`` is not
      structurally zero). Where it does not, ``g = -xi (H v)`` is the cross-term alone.
    """

    gradient: list[Tensor]
    inner_gradient: list[Tensor]
    lookahead: list[Tensor]
    outer_loss: Tensor
    direct: list[bool]


def grads_or_zeros(
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


def global_norm(tensors: Sequence[Tensor]) -> Tensor:
    """The Euclidean norm of all ``tensors`` taken together, 0-dim float64, detached.

    Each tensor's norm is accumulated in float64 by ``torch.linalg.vector_norm`` (``dtype``),
    which still makes one float64 copy of the tensor: ``t.double().pow(2)`` made two, ~40% of a
    CPU UMM step on ResNet-18's layer4 (eight calls a step).

    Raises:
        RuntimeError: ``tensors`` is empty (``torch.stack`` of no tensors)."""
    return torch.stack([torch.linalg.vector_norm(t.detach(), dtype=torch.float64) for t in tensors]
                       ).square().sum().sqrt()


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

    Raises:
        ValueError: ``mode`` is neither ``exact`` nor ``finite_difference``; ``exact``
            without ``inner_gradient``; ``finite_difference`` without ``inner_loss_fn``.
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
        hv = grads_or_zeros(
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
        norm = float(global_norm(vector))
        if norm == 0.0 or not math.isfinite(norm):
            return [torch.zeros_like(p) for p in params]
        r = fd_radius / norm
        probes = []
        for sign in (1.0, -1.0):
            shifted = [
                (p.detach() + sign * r * u).requires_grad_(True)
                for p, u in zip(params, vector, strict=True)
            ]
            probes.append(grads_or_zeros(inner_loss_fn(shifted), shifted))
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

    Raises:
        ValueError: ``method`` not in :data:`HYPERGRADIENTS` (``umm.hypergradient``),
            ``hvp`` not in :data:`HVP_MODES` (``umm.hvp``), ``neumann_steps < 0``, or
            ``hvp="finite_difference"`` without ``inner_loss_fn`` (from
            :func:`hessian_vector_product`, when a Hessian-vector product is needed).
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
    inner_grad = grads_or_zeros(
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
    raw = torch.autograd.grad(outer_loss, lookahead, allow_unused=True) \
        if outer_loss.requires_grad else [None] * len(lookahead)
    direct = [g is not None for g in raw]
    v = [torch.zeros_like(t) if g is None else g.detach() for t, g in zip(lookahead, raw, strict=True)]

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
        direct,
    )
