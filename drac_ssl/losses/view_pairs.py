"""Input checks and precision shared by the two-view losses (docs/design.md, "Adding a
self-supervised method", step 1).

A two-view loss takes the expander outputs of the two views of a batch, ``z_a`` and ``z_b``,
each of shape ``(n, d)``: :func:`check_view_pair` refuses anything else in the loss's own name
(``vicreg_loss``'s messages are its own, word for word; MCR^2's two-view functions,
:mod:`drac_ssl.losses.mcr2`, use it too), and :func:`at_least_float32` is the
precision such a loss computes in (autocast off: half precision overflows in a covariance
of wide embeddings). Pure functions of tensors; no device sync.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["at_least_float32", "check_view_pair"]


def check_view_pair(z_a: Tensor, z_b: Tensor, loss_name: str) -> None:
    """Refuse two views' embeddings that a two-view loss cannot read.

    ``loss_name``: the function's name as the caller knows it (``"vicreg_loss"``), which
    every message starts with.

    Raises:
        TypeError: ``z_a`` or ``z_b`` is not a ``torch.Tensor`` (a NumPy array, a list).
        ValueError: either is not 2-D ``(batch, dim)``, or their shapes differ.
    """
    for name, z in (("z_a", z_a), ("z_b", z_b)):
        if not isinstance(z, torch.Tensor):
            raise TypeError(f"{loss_name} expects torch tensors (n, d); {name} is a "
                            f"{type(z).__module__}.{type(z).__qualname__}: pass torch.as_tensor({name}).")
    if z_a.ndim != 2 or z_b.ndim != 2:
        raise ValueError(
            f"{loss_name} expects 2-D embeddings of shape (batch, dim); got shapes "
            f"{tuple(z_a.shape)} and {tuple(z_b.shape)}. Flatten the expander output first."
        )
    if z_a.shape != z_b.shape:
        raise ValueError(
            f"{loss_name} expects both views to have the same shape (batch, dim); got "
            f"{tuple(z_a.shape)} and {tuple(z_b.shape)}."
        )


def at_least_float32(z: Tensor) -> Tensor:
    """``z`` in float32 or wider: float64 stays float64 (the exact checks against a float64
    reference), half precision, bfloat16 and integers go to float32."""
    return z if z.dtype == torch.float64 else z.float()
