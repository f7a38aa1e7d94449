"""Optimisers and the learning-rate schedule.

- :class:`LARS`: layer-wise adaptive rate scaling as in the official VICReg code
  (facebookresearch/vicreg ``main_vicreg.py``; You, Gitman, Ginsburg 2017), with biases and
  normalisation parameters excluded from weight decay and from the LARS adaptation, and
  optionally solo-learn's clipped variant (``clip_lr``, solo-learn ``solo/utils/lars.py``).
- :func:`lr_at`: the learning rate as a pure function of the step (linear warm-up, then
  cosine or constant), so that resuming needs no scheduler state.
- :func:`build_optimizer`: adam | adamw | sgd | lars from a :class:`PretrainConfig`, with
  biases and norm parameters (every parameter of ndim <= 1) in a group without weight decay.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

if TYPE_CHECKING:
    from drac_ssl.config import PretrainConfig

__all__ = ["LARS", "build_optimizer", "lr_at", "param_groups", "set_lr"]


class LARS(torch.optim.Optimizer):
    """LARS with momentum: the official VICReg code's rule, or solo-learn's (``clip_lr``).

    For each parameter ``p`` with gradient ``g`` in a group without ``lars_exclude``::

        d  = g + weight_decay * p
        q  = eta * ||p|| / ||d||                              official (clip_lr=False)
        q  = eta * ||p|| / (||g|| + weight_decay * ||p|| + 1e-8), then
        q  = min(q / lr, 1)  (when lr > 0)                    solo-learn (clip_lr=True)
        (q = 1 when ||p|| == 0 or the norm below it is 0)
        d <- q * d

    then, for every parameter, ``mu <- momentum * mu + d`` and ``p <- p - lr * mu``.
    (solo-learn's ``solo/utils/lars.py``, from PyTorch Lightning Bolts, bounds ``||d||`` by
    the triangle inequality in the denominator; it also skips the weight decay of a tensor
    whose weight or gradient norm is 0, a case that does not arise in training.)
    Groups with ``lars_exclude=True`` (biases and norm parameters, i.e. 1-D tensors) never get
    the trust ratio (the official ``exclude_bias_and_norm`` filter, expressed as a group flag
    so that the optimizer state dict stays plain data); their update is ``d = g + wd * p``
    with the group's own ``weight_decay``, which :func:`param_groups` sets to 0 (the official
    rule: no decay either) unless ``decay_bias_and_norm`` is on.

    The two conventions differ in what ``lr`` means. Official (``clip_lr=False``): the step of
    a weight tensor is ``lr * eta * ||p||`` in the direction of ``g`` (the relative step is
    ``lr * eta`` whatever the gradient). solo-learn (``clip_lr=True``): the step is
    ``min(eta * ||p||, lr * ||g||)``: SGD at ``lr``, capped at ``eta`` of the weight's norm.
    Learning rates tuned for one convention do not transfer to the other.

    Args:
        params: parameters or parameter groups.
        lr: learning rate.
        weight_decay: L2 coefficient added to the gradient.
        momentum: heavy-ball momentum.
        eta: trust coefficient (official 0.001; solo-learn's CIFAR recipe 0.02).
        lars_exclude: default of the per-group flag: no trust ratio (the group's
            ``weight_decay`` still applies).
        clip_lr: solo-learn's ``clip_lr`` (default off: the official update).
        foreach: update each group with a handful of ``torch._foreach_*`` kernels instead of
            ~10 small kernels per parameter tensor (the same arithmetic; on a GPU the
            per-tensor launches of ~70 ResNet-18 tensors cost several ms per step). ``None``
            (default): foreach when every parameter of the group is a dense tensor on one
            device; ``False``: the per-tensor loop (the reference the tests compare with).

    No step reads a value back to the host (no ``.item()``, no data-dependent Python
    branch): the trust ratio's special cases are ``torch.where`` selections.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float,
        weight_decay: float = 0.0,
        momentum: float = 0.9,
        eta: float = 0.001,
        lars_exclude: bool = False,
        clip_lr: bool = False,
        foreach: bool | None = None,
    ) -> None:
        if lr < 0:
            raise ValueError(f"LARS: lr must be >= 0, got {lr}.")
        defaults = dict(lr=lr, weight_decay=weight_decay, momentum=momentum, eta=eta,
                        lars_exclude=lars_exclude, clip_lr=clip_lr)
        super().__init__(params, defaults)
        self.foreach = foreach

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            foreach = self.foreach
            if foreach is None:
                foreach = len({p.device for p in params}) == 1 and not any(p.grad.is_sparse for p in params)
            if foreach:
                self._group_step_foreach(group, params)
            else:
                self._group_step_loop(group, params)
        return loss

    def _trust(self, group: dict[str, Any], param_norm: torch.Tensor, grad_norm: torch.Tensor | None,
               update_norm: torch.Tensor | None) -> torch.Tensor:
        """Trust ratio ``q`` (same shape as the norms), see the class docstring; solo-learn's
        rule needs ``grad_norm``, the official one ``update_norm``."""
        if group.get("clip_lr", False):  # solo-learn
            assert grad_norm is not None
            ok = (param_norm > 0.0) & (grad_norm > 0.0)
            denominator = grad_norm + group["weight_decay"] * param_norm + 1e-8
        else:  # official VICReg
            assert update_norm is not None
            ok = (param_norm > 0.0) & (update_norm > 0.0)
            denominator = update_norm
        q = torch.where(ok, group["eta"] * param_norm / torch.where(ok, denominator, 1.0), 1.0)
        if group.get("clip_lr", False) and group["lr"] > 0:
            q = torch.clamp(q / group["lr"], max=1.0)
        return q

    def _momentum_buffers(self, params: list[torch.Tensor]) -> list[torch.Tensor]:
        bufs = []
        for p in params:
            state = self.state[p]
            if "mu" not in state:
                state["mu"] = torch.zeros_like(p)
            bufs.append(state["mu"])
        return bufs

    def _group_step_loop(self, group: dict[str, Any], params: list[torch.Tensor]) -> None:
        for p, mu in zip(params, self._momentum_buffers(params), strict=True):
            dp = p.grad
            if group["lars_exclude"]:  # decay only (0 unless decay_bias_and_norm), no trust ratio
                if group["weight_decay"] != 0:
                    dp = dp.add(p, alpha=group["weight_decay"])
            else:
                grad_norm = torch.linalg.vector_norm(dp)
                dp = dp.add(p, alpha=group["weight_decay"])
                dp = dp.mul(self._trust(group, torch.linalg.vector_norm(p), grad_norm, torch.linalg.vector_norm(dp)))
            mu.mul_(group["momentum"]).add_(dp)
            p.add_(mu, alpha=-group["lr"])

    def _group_step_foreach(self, group: dict[str, Any], params: list[torch.Tensor]) -> None:
        grads = [p.grad for p in params]
        mus = self._momentum_buffers(params)
        if group["lars_exclude"]:  # decay only (0 unless decay_bias_and_norm), no trust ratio
            updates = torch._foreach_add(grads, params, alpha=group["weight_decay"]) if group["weight_decay"] != 0 else grads
        else:
            clip = group.get("clip_lr", False)  # solo-learn's rule reads ||g||, the official one ||g + wd p||
            grad_norms = torch.stack(torch._foreach_norm(grads)) if clip else None
            updates = torch._foreach_add(grads, params, alpha=group["weight_decay"])
            update_norms = None if clip else torch.stack(torch._foreach_norm(updates))
            q = self._trust(group, torch.stack(torch._foreach_norm(params)), grad_norms, update_norms)
            torch._foreach_mul_(updates, list(q.unbind()))
        torch._foreach_mul_(mus, group["momentum"])
        torch._foreach_add_(mus, updates)
        torch._foreach_add_(params, mus, alpha=-group["lr"])


def lr_at(
    step: int,
    *,
    total_steps: int,
    warmup_steps: int,
    base_lr: float,
    schedule: str = "cosine",
    min_lr_ratio: float = 0.0,
) -> float:
    """Learning rate at optimizer step ``step`` (0-based), a pure function.

    - Warm-up (``step < warmup_steps``): linear, ``base_lr * (step + 1) / warmup_steps``, so
      the first step is already non-zero and step ``warmup_steps - 1`` reaches ``base_lr``.
    - Then ``schedule="cosine"``: from ``base_lr`` at ``step = warmup_steps`` down to
      ``base_lr * min_lr_ratio`` at ``step = total_steps`` (held there afterwards):
      ``lr = min + (base - min) * (1 + cos(pi * t)) / 2``, ``t = (step - warmup) /
      (total - warmup)``. (The official VICReg code's cosine part is the same with
      ``min_lr_ratio=0.001``; its warm-up is one step behind, ``base_lr * step / warmup``,
      starting at 0.)
    - ``schedule="constant"``: ``base_lr`` after the warm-up.
    """
    if schedule not in ("cosine", "constant"):
        raise ValueError(f"unknown lr schedule {schedule!r}; choose cosine or constant.")
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}.")
    if warmup_steps > 0 and step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    if schedule == "constant":
        return base_lr
    decay_steps = total_steps - warmup_steps
    if decay_steps <= 0:
        return base_lr
    t = min(1.0, (step - warmup_steps) / decay_steps)
    min_lr = base_lr * min_lr_ratio
    return min_lr + (base_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * t))


def param_groups(model: nn.Module, weight_decay: float,
                 decay_bias_and_norm: bool = False) -> list[dict[str, Any]]:
    """Two groups of the trainable parameters: ``decay`` (ndim >= 2: conv and linear weights,
    ``weight_decay``) and ``no_decay`` (ndim <= 1: biases and norm scales/shifts; weight decay
    0, or ``weight_decay`` too when ``decay_bias_and_norm``, the ``pretrain.`` /
    ``finetune.decay_bias_and_norm`` setting). Leaving them undecayed is the convention of the
    official VICReg code (``exclude_bias_and_norm`` in facebookresearch/vicreg's LARS) and of
    timm's ``param_groups_weight_decay``; methods.md names no rule, so it is a setting. The
    1-D group stays out of LARS's trust-ratio adaptation either way. Empty groups are left
    out. Each group carries ``name`` and ``lars_exclude`` keys."""
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for p in model.parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim <= 1 else decay).append(p)
    groups: list[dict[str, Any]] = []
    if decay:
        groups.append({"params": decay, "weight_decay": weight_decay, "name": "decay",
                       "lars_exclude": False})
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": weight_decay if decay_bias_and_norm else 0.0,
                       "name": "no_decay", "lars_exclude": True})
    if not groups:
        raise ValueError("build_optimizer: the model has no trainable parameter.")
    return groups


def build_optimizer(model: nn.Module, cfg: PretrainConfig) -> torch.optim.Optimizer:
    """Optimizer named by ``cfg.optimizer`` with ``lr=cfg.lr``, ``weight_decay=cfg.weight_decay``.

    - ``adam``: ``torch.optim.Adam`` with its (coupled, L2) ``weight_decay``: the DRAC recipe's
      "Adam with weight decay".
    - ``adamw``: ``torch.optim.AdamW`` (decoupled weight decay).
    - ``sgd``: SGD with ``cfg.momentum``.
    - ``lars``: :class:`LARS` with ``cfg.momentum`` and solo-learn's CIFAR settings
      ``eta=0.02, clip_lr=True`` by default (``pretrain.lars_eta``, ``pretrain.lars_clip_lr``). The CIFAR/MNIST
      recipes' ``lr: 0.3`` at batch 256 is solo-learn's, tuned for these settings: with the
      official ``eta=0.001`` and no clipping every weight moves ``lr * eta = 3e-4`` of its norm
      per step, about 67 times less than solo-learn's ``eta = 0.02``.

    Biases and normalisation parameters are not decayed unless ``cfg.decay_bias_and_norm``
    (:func:`param_groups`) and are always excluded from LARS adaptation;
    frozen parameters (``requires_grad=False``) are left out. The ``lr`` set here is the base
    rate; drive it per step with :func:`lr_at` and :func:`set_lr`.
    """
    groups = param_groups(model, cfg.weight_decay, cfg.decay_bias_and_norm)
    name = cfg.optimizer.lower()
    if name in ("adam", "adamw", "sgd"):
        for g in groups:
            g.pop("lars_exclude")
    if name == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr)
    if name == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum)
    if name == "lars":
        return LARS(groups, lr=cfg.lr, momentum=cfg.momentum,
                    eta=cfg.lars_eta, clip_lr=cfg.lars_clip_lr)
    raise ValueError(
        f"unknown optimizer {cfg.optimizer!r}; choose adam, adamw, sgd or lars "
        f"(pretrain.optimizer)."
    )


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set the learning rate of every group to ``lr * group.get("lr_scale", 1.0)``.

    A group may carry ``lr_scale`` (e.g. a smaller rate for a pretrained backbone).
    """
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_scale", 1.0)
