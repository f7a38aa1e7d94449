"""Coding rate and rate reduction (drac_ssl.losses.rate_reduction), MCR^2 formulas of
methods.md section 2, checked against direct float64 determinants."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from drac_ssl.losses import (
    coding_rate,
    compress_rate,
    pair_compress_rate,
    rate_reduction,
    rate_reduction_general,
)


def direct_rate(z: np.ndarray, eps2: float) -> float:
    """0.5 * logdet(I_d + d / (m eps2) Z^T Z) on the d x d matrix, numpy float64."""
    m, d = z.shape
    sign, logdet = np.linalg.slogdet(np.eye(d) + d / (m * eps2) * z.T @ z)
    assert sign > 0
    return 0.5 * logdet


def pair_membership(n: int) -> torch.Tensor:
    """(n, 2n) hard membership: group j = rows j and n + j of [z_a; z_b]."""
    pi = torch.zeros(n, 2 * n)
    idx = torch.arange(n)
    pi[idx, idx] = 1.0
    pi[idx, idx + n] = 1.0
    return pi


@pytest.mark.parametrize(("m", "d"), [(6, 20), (40, 8), (10, 10)])
@pytest.mark.parametrize("eps2", [0.5, 0.1])
def test_coding_rate_equals_direct_logdet(m: int, d: int, eps2: float) -> None:
    z = np.random.default_rng(m * d).normal(size=(m, d))
    got = coding_rate(torch.from_numpy(z), eps2)
    assert got.dtype == torch.float64
    assert got.item() == pytest.approx(direct_rate(z, eps2), rel=1e-10)
    got32 = coding_rate(torch.from_numpy(z).float(), eps2)
    assert got32.item() == pytest.approx(direct_rate(z, eps2), rel=1e-4)


def test_pair_closed_form_equals_compress_rate_with_hard_membership() -> None:
    g = torch.Generator().manual_seed(0)
    n, d = 7, 5
    za = torch.randn(n, d, generator=g, dtype=torch.float64)
    zb = torch.randn(n, d, generator=g, dtype=torch.float64)
    closed = pair_compress_rate(za, zb, eps2=0.3)
    general = compress_rate(torch.cat([za, zb]), pair_membership(n), eps2=0.3)
    torch.testing.assert_close(closed, general)
    # and each group against an explicit 2-row determinant:
    # R_c = sum_j 2/(2m) * logdet(I + d/(2 eps2) [a;b]^T[a;b]), m = 2n
    c = d / (2 * 0.3)
    explicit = sum(
        np.linalg.slogdet(np.eye(d) + c * np.stack([a, b]).T @ np.stack([a, b]))[1]
        for a, b in zip(za.numpy(), zb.numpy(), strict=True)
    ) * 2 / (2 * 2 * n)
    assert closed.item() == pytest.approx(explicit, rel=1e-10)


def test_rate_reduction_matches_general_and_is_non_negative() -> None:
    g = torch.Generator().manual_seed(1)
    for n, d in [(8, 16), (32, 4)]:
        za, zb = torch.randn(n, d, generator=g), torch.randn(n, d, generator=g)
        rr = rate_reduction(za, zb)
        general = rate_reduction_general(torch.cat([za, zb]), pair_membership(n))
        for x, y in zip(rr, general, strict=True):
            torch.testing.assert_close(x, y, rtol=1e-4, atol=1e-4)
        assert rr.delta.item() >= 0.0
        torch.testing.assert_close(rr.delta, rr.total - rr.compress)


def test_identical_views_give_positive_delta_and_normalize_matters() -> None:
    z = torch.randn(16, 8) * 5
    normed = rate_reduction(z, z)
    raw = rate_reduction(z, z, normalize=False)
    assert normed.delta.item() > 0
    assert normed.total.item() != pytest.approx(raw.total.item())
    torch.testing.assert_close(normed.total, coding_rate(F.normalize(torch.cat([z, z]), dim=1)))


def test_soft_membership_with_one_hot_rows_equals_hard() -> None:
    g = torch.Generator().manual_seed(2)
    m, d, k = 12, 6, 3
    z = torch.randn(m, d, generator=g)
    labels = torch.randint(0, k, (m,), generator=g)
    labels[:k] = torch.arange(k)  # every group non-empty
    hard = torch.zeros(k, m, dtype=torch.bool)
    hard[labels, torch.arange(m)] = True
    one_hot = F.one_hot(labels, k).T.float()  # (k, m), soft format with one-hot columns
    near_one_hot = torch.softmax(F.one_hot(labels, k).T.float() * 50.0, dim=0)
    ref = rate_reduction_general(z, hard)
    torch.testing.assert_close(rate_reduction_general(z, one_hot).delta, ref.delta)
    torch.testing.assert_close(rate_reduction_general(z, near_one_hot).delta, ref.delta,
                               rtol=1e-4, atol=1e-4)


def test_empty_group_contributes_nothing_and_gradients_flow() -> None:
    z = torch.randn(6, 4, requires_grad=True)
    pi = torch.zeros(3, 6)
    pi[0, :3] = 1
    pi[1, 3:] = 1  # group 2 empty
    value = compress_rate(z, pi)
    torch.testing.assert_close(value, compress_rate(z, pi[:2]))
    rr = rate_reduction(z[:3], z[3:])
    rr.delta.backward()
    assert z.grad is not None and torch.isfinite(z.grad).all()


def test_bf16_autocast_is_float32_and_finite() -> None:
    z = torch.randn(16, 32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        rr = rate_reduction(z.bfloat16()[:8], z.bfloat16()[8:])
    assert rr.delta.dtype == torch.float32
    assert torch.isfinite(rr.delta)


def test_errors() -> None:
    with pytest.raises(ValueError, match="eps2"):
        coding_rate(torch.randn(4, 3), eps2=0.0)
    with pytest.raises(ValueError, match="same shape"):
        pair_compress_rate(torch.randn(4, 3), torch.randn(5, 3))
    with pytest.raises(ValueError, match="membership"):
        compress_rate(torch.randn(4, 3), torch.ones(2, 5))
    with pytest.raises(ValueError, match="non-negative"):
        compress_rate(torch.randn(4, 3), -torch.ones(2, 4))
