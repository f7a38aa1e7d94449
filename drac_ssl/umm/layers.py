"""The model part of UMM: the frozen early layers and the re-tuned layers after the cut.

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
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from drac_ssl.models import VICRegModel

__all__ = ["AfterCut", "ComposableBatchNorm", "early_features", "make_batch_norm_composable", "pooled"]


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
        """The stages after ``early_cut`` on ``h`` ``(n, C, H', W')``, pooled, then the
        expander: ``(features (n, feature_dim), embedding (n, out_dim))``; the embedding None
        when ``embed`` is False (the expander not run)."""
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
        """``x`` ``(n, C, ...)`` normalised per channel ``C`` -> the same shape and dtype: batch
        statistics in training mode (running statistics updated), running ones in eval mode."""
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


def pooled(h: Tensor) -> Tensor:
    """Global average pool of a feature map ``(n, C, H, W)`` to ``(n, C)`` (what the backbone's
    head reads), in ``h``'s dtype."""
    return torch.flatten(F.adaptive_avg_pool2d(h, 1), 1)
