"""VICReg loss: Variance-Invariance-Covariance Regularization.

Bardes, Ponce, LeCun, "VICReg: Variance-Invariance-Covariance Regularization for
Self-Supervised Learning", ICLR 2022 (methods.md section 1).

Two views of a batch give embeddings ``z_a``, ``z_b`` of shape ``(n, d)``, ``n >= 2``:

- invariance  s(Z, Z')  = mean_{i,k} (z_ik - z'_ik)^2                  (``F.mse_loss``)
- variance    v(Z)      = 1/d sum_k relu(gamma - sqrt(Var_k(Z) + eps))  (unbiased Var)
- covariance  c(Z)      = 1/d sum_{k != l} C(Z)_kl^2,  C = (Z - mean)^T (Z - mean) / (n - 1)
- total       L = sim_coeff * s + std_coeff * (v(Z) + v(Z')) / 2 + cov_coeff * (c(Z) + c(Z'))

Convention: the official code's (facebookresearch/vicreg ``main_vicreg.py``; lightly's
``VICRegLoss`` matches it). The two variance terms are *averaged*, not summed as the
paper's Eq. (6) writes, so solo-learn's variance term is twice as large as this one.
Unlike the official code, everything is normalised by the *actual* batch size ``n`` (the
official code divides by the configured batch size, which is wrong for a short last batch).
With ``n`` as the batch size, value and gradients equal the official ``VICReg.forward``
written out line by line (``tests/drac_ssl/test_vicreg_loss.py``, float64). The official
model also starts its ResNet with ``zero_init_residual=True``; this package's
:class:`drac_ssl.models.Backbone` does not (docs/design.md).

The loss is computed in (at least) float32 with autocast disabled: the covariance of wide
embeddings overflows in half precision, a known source of NaN under mixed precision.

Multi-GPU: pass ``gather=drac_ssl.distributed.gather_with_grad`` so that the variance and
covariance terms see the batch of all ranks; the invariance term stays local.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from drac_ssl.losses.view_pairs import at_least_float32, check_view_pair

if TYPE_CHECKING:
    from drac_ssl.config import VICRegLossConfig

Gather = Callable[[Tensor], Tensor]

__all__ = [
    "VICRegLoss",
    "VICRegTerms",
    "covariance_loss",
    "invariance_loss",
    "variance_loss",
    "vicreg_loss",
]


class VICRegTerms(NamedTuple):
    """The VICReg loss and its three unweighted terms, each a 0-dim tensor.

    ``loss = sim_coeff * invariance + std_coeff * variance + cov_coeff * covariance`` with
    ``variance = (v(Z) + v(Z')) / 2`` and ``covariance = c(Z) + c(Z')``.
    """

    loss: Tensor
    invariance: Tensor
    variance: Tensor
    covariance: Tensor


def invariance_loss(z_a: Tensor, z_b: Tensor) -> Tensor:
    """Mean squared distance between the two views' embeddings.

    Args:
        z_a, z_b: ``(n, d)`` embeddings of the two views.

    Returns:
        0-dim tensor ``mean_{i,k} (z_a[i,k] - z_b[i,k])^2`` (``F.mse_loss``, mean over
        ``n * d`` elements, as in the official code), computed in float32 or wider, as
        :func:`vicreg_loss` (``at_least_float32``: float16, bfloat16 and integers go to
        float32, float64 stays; float16 embeddings ~300 apart gave inf: their squared
        differences overflow float16's 65504).

    Raises:
        TypeError: ``z_a`` or ``z_b`` is not a ``torch.Tensor``.
        ValueError: either not 2-D, their shapes differ (no broadcasting: ``(4, d)``
            against ``(1, d)`` is refused), or no rows or no dimensions (``n`` or ``d`` 0:
            the mean of nothing is NaN).
    """
    check_view_pair(z_a, z_b, "invariance_loss")
    _check_not_empty(z_a, "invariance_loss")
    return F.mse_loss(at_least_float32(z_a), at_least_float32(z_b))


def variance_loss(z: Tensor, gamma: float = 1.0, eps: float = 1e-4) -> Tensor:
    """Hinge on the standard deviation of every embedding dimension.

    Args:
        z: ``(n, d)`` embeddings, ``n >= 2``.
        gamma: target standard deviation.
        eps: added to the variance before the square root (numerical stability).

    Returns:
        0-dim tensor ``1/d sum_k relu(gamma - sqrt(Var_k(z) + eps))`` with the unbiased
        variance over the ``n`` rows (mean over dimensions: the official-code convention of
        Bardes et al., ICLR 2022, ``main_vicreg.py``). Computed in float32 or wider, as
        :func:`vicreg_loss` (``at_least_float32``: float16, bfloat16 and integers go to
        float32, float64 stays; a float16 variance of embeddings ~100 overflowed to inf).

    Raises:
        TypeError: ``z`` is not a ``torch.Tensor`` (a NumPy array, a list).
        ValueError: ``z`` not 2-D ``(n, d)``, ``n < 2`` (the unbiased variance of one row
            is undefined: torch would give nan and a warning), or ``d == 0`` (no dimension
            to average over: NaN).
    """
    _check_embeddings(z, "variance_loss")
    z = at_least_float32(z)
    std = torch.sqrt(z.var(dim=0) + eps)  # unbiased (n - 1)
    return F.relu(gamma - std).mean()


def covariance_loss(z: Tensor) -> Tensor:
    """Sum of squared off-diagonal covariance entries, divided by the dimension.

    Args:
        z: ``(n, d)`` embeddings, ``n >= 2``.

    Returns:
        0-dim tensor ``1/d sum_{k != l} C_kl^2`` with
        ``C = (z - mean(z))^T (z - mean(z)) / (n - 1)`` of shape ``(d, d)`` (the
        official-code convention; memory ``O(d^2)``). Computed in float32 or wider, as
        :func:`vicreg_loss` (``at_least_float32``: float16, bfloat16 and integers go to
        float32, float64 stays; float16 embeddings ~100 gave NaN: their squared covariances
        overflow float16's 65504).

    Raises:
        TypeError: ``z`` is not a ``torch.Tensor`` (a NumPy array, a list).
        ValueError: ``z`` not 2-D ``(n, d)``, ``n < 2`` (the unbiased covariance of one
            row is undefined), or ``d == 0`` (divided by ``d``: NaN).
    """
    _check_embeddings(z, "covariance_loss")
    z = at_least_float32(z)
    n, d = z.shape
    z = z - z.mean(dim=0)
    cov = (z.T @ z) / (n - 1)
    off_diagonal = cov.pow(2).sum() - torch.diagonal(cov).pow(2).sum()
    return off_diagonal / d


def _check_embeddings(z: Tensor, name: str) -> None:
    """TypeError unless ``z`` is a tensor, ValueError unless it is ``(n, d)`` with ``n >= 2``
    and ``d >= 1`` (shape only: no device sync)."""
    if not isinstance(z, torch.Tensor):
        raise TypeError(f"{name} expects a torch tensor (n, d); z is a "
                        f"{type(z).__module__}.{type(z).__qualname__}: pass torch.as_tensor(z).")
    if z.ndim != 2:
        raise ValueError(f"{name} expects 2-D embeddings of shape (n, d); got shape "
                         f"{tuple(z.shape)}. Flatten the expander output first (z.flatten(1)).")
    if z.shape[0] < 2:
        raise ValueError(f"{name} needs at least 2 rows (n >= 2) for the unbiased estimate, got "
                         f"{z.shape[0]}: use a batch of at least 2 images.")
    _check_not_empty(z, name)


def _check_not_empty(z: Tensor, name: str) -> None:
    """ValueError when ``z`` ``(n, d)`` has no rows or no dimensions (its terms would be NaN)."""
    if z.shape[0] < 1 or z.shape[1] < 1:
        raise ValueError(f"{name} got embeddings of shape {tuple(z.shape)} with no "
                         f"{'rows' if z.shape[0] < 1 else 'dimensions (d = 0)'}: the mean of nothing is NaN; "
                         f"give the expander at least one output dimension and the batch at least one image.")


def vicreg_loss(
    z_a: Tensor,
    z_b: Tensor,
    *,
    sim_coeff: float = 25.0,
    std_coeff: float = 25.0,
    cov_coeff: float = 1.0,
    gamma: float = 1.0,
    eps: float = 1e-4,
    gather: Gather | None = None,
) -> VICRegTerms:
    """VICReg loss of two views (official-code convention, see the module docstring).

    Args:
        z_a, z_b: ``(n, d)`` expander outputs of the two views; row ``i`` of both comes from
            the same image. Computed in float32 (float64 is kept; half precision and
            integers are cast) with autocast disabled. NaN or inf in an embedding makes the
            loss non-finite; it is returned, not raised (the training stops on it:
            :class:`drac_ssl.pretrain.NonFiniteLossError`).
        sim_coeff, std_coeff, cov_coeff: lambda, mu, nu of the paper (25, 25, 1).
        gamma, eps: target standard deviation and variance epsilon of :func:`variance_loss`.
        gather: optional callable ``(n, d) -> (N, d)`` applied to ``z_a`` and ``z_b`` before
            the variance and covariance terms, e.g. ``gather_with_grad`` under DDP so that
            they see the global batch. The invariance term is always local.

    Returns:
        :class:`VICRegTerms` of 0-dim tensors.

    Raises:
        TypeError: ``z_a`` or ``z_b`` is not a ``torch.Tensor`` (a numpy array, a list).
        ValueError: non-2-D input, shape mismatch, an empty local batch (0 rows), no
            dimensions (``d == 0``: every term would be NaN), or fewer
            than 2 rows in the (gathered) batch: checked after ``gather``, so under DDP one
            row per process passes when there are several processes (the unbiased variance
            and covariance need ``N >= 2``).
    """
    check_view_pair(z_a, z_b, "vicreg_loss")
    with torch.autocast(device_type=z_a.device.type, enabled=False):
        z_a = at_least_float32(z_a)
        z_b = at_least_float32(z_b)
        _check_not_empty(z_a, "vicreg_loss")
        invariance = invariance_loss(z_a, z_b)
        if gather is not None:
            z_a = gather(z_a)
            z_b = gather(z_b)
        n = z_a.shape[0]
        if n < 2:
            raise ValueError(
                f"vicreg_loss needs a batch of at least 2 rows for the unbiased variance and "
                f"covariance, got {n}. Use batch_size >= 2 (and drop_last=True so that the "
                f"last batch is never a single image)."
            )
        variance = (variance_loss(z_a, gamma, eps) + variance_loss(z_b, gamma, eps)) / 2
        covariance = covariance_loss(z_a) + covariance_loss(z_b)
        loss = sim_coeff * invariance + std_coeff * variance + cov_coeff * covariance
    return VICRegTerms(loss, invariance, variance, covariance)


class VICRegLoss(nn.Module):
    """Thin module around :func:`vicreg_loss` (no parameters, no state).

    ``forward(z_a, z_b)`` takes two ``(n, d)`` embeddings and returns :class:`VICRegTerms`.
    The defaults are the official code's and the paper's: ``sim_coeff`` 25, ``std_coeff`` 25,
    ``cov_coeff`` 1 (lambda, mu, nu), ``gamma`` 1 (target standard deviation), ``eps`` 1e-4
    (variance epsilon); ``gather`` None (no DDP gather). Nothing is checked when it is built.

    Raises:
        TypeError, ValueError: from ``forward``, as :func:`vicreg_loss` raises them.
    """

    def __init__(
        self,
        sim_coeff: float = 25.0,
        std_coeff: float = 25.0,
        cov_coeff: float = 1.0,
        gamma: float = 1.0,
        eps: float = 1e-4,
        gather: Gather | None = None,
    ) -> None:
        super().__init__()
        self.sim_coeff = sim_coeff
        self.std_coeff = std_coeff
        self.cov_coeff = cov_coeff
        self.gamma = gamma
        self.eps = eps
        self.gather = gather

    @classmethod
    def from_config(cls, cfg: VICRegLossConfig, gather: Gather | None = None) -> VICRegLoss:
        """Build from ``PretrainConfig.loss``."""
        return cls(
            sim_coeff=cfg.sim_coeff,
            std_coeff=cfg.std_coeff,
            cov_coeff=cfg.cov_coeff,
            gamma=cfg.gamma,
            eps=cfg.eps,
            gather=gather,
        )

    def forward(self, z_a: Tensor, z_b: Tensor) -> VICRegTerms:
        """:func:`vicreg_loss` of ``z_a``, ``z_b`` ``(n, d)`` with this module's settings:
        :class:`VICRegTerms` (call ``.backward()`` on its ``.loss``). Raises as
        :func:`vicreg_loss`."""
        return vicreg_loss(
            z_a,
            z_b,
            sim_coeff=self.sim_coeff,
            std_coeff=self.std_coeff,
            cov_coeff=self.cov_coeff,
            gamma=self.gamma,
            eps=self.eps,
            gather=self.gather,
        )

    def extra_repr(self) -> str:
        return (
            f"sim_coeff={self.sim_coeff}, std_coeff={self.std_coeff}, "
            f"cov_coeff={self.cov_coeff}, gamma={self.gamma}, eps={self.eps}, "
            f"gather={'yes' if self.gather is not None else 'no'}"
        )
