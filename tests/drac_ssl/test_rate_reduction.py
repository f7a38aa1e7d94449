"""Coding rate and rate reduction (drac_ssl.losses.mcr2), MCR^2 formulas of
methods.md section 2, checked against direct float64 determinants; the anchor-based soft
membership (issue #13) against its definition, the general log-det formula and the pairs
closed form."""

from __future__ import annotations

import math

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
from drac_ssl.losses.mcr2 import anchor_membership


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
        rr = rate_reduction(za, zb, membership="pairs")
        general = rate_reduction_general(torch.cat([za, zb]), pair_membership(n))
        for x, y in zip(rr, general, strict=True):
            torch.testing.assert_close(x, y, rtol=1e-4, atol=1e-4)
        assert rr.delta.item() >= 0.0
        torch.testing.assert_close(rr.delta, rr.total - rr.compress)


def test_identical_views_give_positive_delta_and_normalize_matters() -> None:
    z = torch.randn(16, 8) * 5
    normed = rate_reduction(z, z, membership="pairs")
    raw = rate_reduction(z, z, normalize=False, membership="pairs")
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
    with pytest.raises(ValueError, match="pair_compress_rate expects both views to have the same shape"):
        pair_compress_rate(torch.randn(4, 3), torch.randn(5, 3))
    # the shared two-view checks (losses.view_pairs) in each function's own name, and a coding
    # rate's own: at least one row
    with pytest.raises(ValueError, match=r"rate_reduction expects 2-D embeddings .* got shapes \(4,\) and \(4,\)"):
        rate_reduction(torch.randn(4), torch.randn(4))
    with pytest.raises(TypeError, match="anchor_membership expects torch tensors"):
        anchor_membership([[0.0, 1.0]], torch.randn(1, 2))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"rate_reduction needs at least one row .* \(0, 3\)"):
        rate_reduction(torch.randn(0, 3), torch.randn(0, 3))
    with pytest.raises(ValueError, match="membership"):
        compress_rate(torch.randn(4, 3), torch.ones(2, 5))
    with pytest.raises(ValueError, match="non-negative"):
        compress_rate(torch.randn(4, 3), -torch.ones(2, 4))
    with pytest.raises(ValueError, match="form"):
        compress_rate(torch.randn(4, 3), torch.ones(1, 4), form="woodbury")
    with pytest.raises(ValueError, match="umm.membership"):
        rate_reduction(torch.randn(4, 3), torch.randn(4, 3), membership="hard")
    with pytest.raises(ValueError, match="temperature"):
        anchor_membership(torch.randn(4, 3), torch.randn(4, 3), temperature=0.0)


# --------------------------------------------------------------------------------------
# The anchor-based soft membership (umm.membership=soft)


def direct_compress_rate(z: np.ndarray, pi: np.ndarray, eps2: float) -> float:
    """R_c = sum_j tr(Pi_j)/(2m) logdet(I_d + d/(tr(Pi_j) eps2) Z^T Pi_j Z), explicit diagonal
    matrices, numpy float64 (the general log-det formula)."""
    m, d = z.shape
    total = 0.0
    for row in pi:
        pj = np.diag(row)
        tr = np.trace(pj)
        sign, logdet = np.linalg.slogdet(np.eye(d) + d / (tr * eps2) * z.T @ pj @ z)
        assert sign > 0
        total += tr / (2 * m) * logdet
    return total


def views(n: int, d: int, seed: int, noise: float = 0.3) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    za = torch.randn(n, d, generator=g, dtype=torch.float64)
    return za, za + noise * torch.randn(n, d, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("tau", [0.05, 0.1, 0.5])
def test_anchor_membership_is_a_valid_membership_built_as_documented(tau: float) -> None:
    za, zb = views(6, 5, seed=0)
    pi = anchor_membership(za, zb, temperature=tau)
    m = 12
    assert pi.shape == (m, m) and bool((pi >= 0).all())
    # every sample's memberships over the 2n anchor groups sum to 1 (sum_j Pi_j = I)
    torch.testing.assert_close(pi.sum(0), torch.ones(m, dtype=torch.float64))
    # undo the per-sample normalisation: the anchor's own affinity is exactly 1 ...
    affinity = pi / pi.diagonal()[None, :]
    torch.testing.assert_close(affinity.diagonal(), torch.ones(m, dtype=torch.float64))
    # ... and the rest of row j is the softmax of cos(z_j, z_i) / tau over the other 2n - 1
    z = np.concatenate([za.numpy(), zb.numpy()])
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    for j in range(m):
        others = [i for i in range(m) if i != j]
        logits = z[others] @ z[j] / tau
        q = np.exp(logits - logits.max())
        q /= q.sum()
        np.testing.assert_allclose(affinity[j, others].numpy(), q, rtol=1e-10)


@pytest.mark.parametrize(("n", "d"), [(5, 16), (12, 4)])  # m < d (kernel form) and m > d
def test_soft_rate_reduction_equals_the_general_log_det_formula(n: int, d: int) -> None:
    za, zb = views(n, d, seed=n)
    rr = rate_reduction(za, zb, eps2=0.4, membership="soft", temperature=0.2)
    z = F.normalize(torch.cat([za, zb]), dim=1)
    pi = anchor_membership(za, zb, temperature=0.2)
    expected_rc = direct_compress_rate(z.numpy(), pi.numpy(), 0.4)
    assert rr.compress.item() == pytest.approx(expected_rc, rel=1e-10)
    assert rr.total.item() == pytest.approx(direct_rate(z.numpy(), 0.4), rel=1e-10)
    assert rr.delta.item() >= 0.0
    general = rate_reduction_general(z, pi, eps2=0.4, normalize=False)
    torch.testing.assert_close(general.delta, rr.delta)


@pytest.mark.parametrize(("m", "d"), [(8, 20), (20, 8), (10, 10)])
def test_kernel_and_feature_forms_agree_with_gradients(m: int, d: int) -> None:
    g = torch.Generator().manual_seed(m + d)
    z = torch.randn(m, d, generator=g, dtype=torch.float64, requires_grad=True)
    pi = torch.softmax(torch.randn(m, m, generator=g, dtype=torch.float64), dim=0)
    pi[0, 3] = 0.0  # an exact zero: the kernel form's square root must not give NaN gradients
    pi = pi / pi.sum(0, keepdim=True)
    pi.requires_grad_(True)
    values, grads = [], []
    for form in ("feature", "kernel"):
        value = compress_rate(z, pi, eps2=0.5, form=form)
        values.append(value)
        grads.append(torch.autograd.grad(value, (z, pi)))
    torch.testing.assert_close(values[0], values[1], rtol=1e-10, atol=1e-12)
    for a, b in zip(*grads, strict=True):
        assert torch.isfinite(a).all() and torch.isfinite(b).all()
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-10)


def test_soft_membership_in_its_hard_limit_is_the_pairs_closed_form() -> None:
    # each sample's nearest neighbour is its other view: as tau -> 0 group j = {j, partner(j)}
    # with weights 1/2, i.e. every pair twice at half weight, which is the same R_c
    za, zb = views(8, 32, seed=3, noise=0.05)
    soft = rate_reduction(za, zb, membership="soft", temperature=1e-3)
    pairs = rate_reduction(za, zb, membership="pairs")
    torch.testing.assert_close(soft.compress, pairs.compress, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(soft.delta, pairs.delta, rtol=1e-9, atol=1e-9)
    # and exactly, with the planted affinity I + P (P: the view permutation)
    n = 8
    perm = torch.cat([torch.arange(n, 2 * n), torch.arange(n)])
    affinity = torch.eye(2 * n, dtype=torch.float64)
    affinity[torch.arange(2 * n), perm] = 1.0
    planted = affinity / affinity.sum(0, keepdim=True)
    z = F.normalize(torch.cat([za, zb]), dim=1)
    torch.testing.assert_close(compress_rate(z, planted), pair_compress_rate(z[:n], z[n:]),
                               rtol=1e-12, atol=1e-12)
    # at a large temperature the anchor keeps half its own membership and spreads the other
    # half evenly: Pi -> I/2 + (J - I) / (2(2n - 1)), and Delta R is far below the pairs value
    m = 2 * n
    limit = torch.eye(m, dtype=torch.float64) / 2 + (1 - torch.eye(m, dtype=torch.float64)) / (2 * (m - 1))
    torch.testing.assert_close(anchor_membership(za, zb, temperature=1e8), limit)
    assert rate_reduction(za, zb, membership="soft", temperature=1e8).delta.item() < 0.5 * pairs.delta.item()


def test_soft_rate_reduction_gradient_flows_through_the_membership() -> None:
    za, zb = views(4, 6, seed=5)
    za.requires_grad_(True)

    def value(a: torch.Tensor) -> torch.Tensor:
        return rate_reduction(a, zb, membership="soft", temperature=0.3).delta

    (grad,) = torch.autograd.grad(value(za), za)
    direction = torch.randn(za.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    eps = 1e-6
    with torch.no_grad():
        numeric = (value(za + eps * direction) - value(za - eps * direction)) / (2 * eps)
    assert float((grad * direction).sum()) == pytest.approx(float(numeric), rel=1e-6)


def test_soft_membership_does_not_reward_pushing_the_views_apart() -> None:
    """The trap of hard pairs (methods.md section 2): with unit rows, 2n <= d and mutually
    orthogonal images, pairs' Delta R grows as the two views of each image turn apart; the
    soft membership's falls, because a far view is no longer its anchor's likely positive."""
    n, d = 32, 512
    g = torch.Generator().manual_seed(0)
    a = F.normalize(torch.randn(n, d, generator=g, dtype=torch.float64), dim=1)
    noise = torch.randn(n, d, generator=g, dtype=torch.float64)
    noise = F.normalize(noise - (noise * a).sum(1, keepdim=True) * a, dim=1)

    def delta(degrees: float, membership: str) -> float:
        t = math.radians(degrees)
        b = math.cos(t) * a + math.sin(t) * noise
        return rate_reduction(a, b, membership=membership, temperature=0.1).delta.item()

    assert delta(90, "pairs") > delta(0, "pairs") + 25
    assert delta(90, "soft") < delta(0, "soft") - 25


def test_the_mcr2_module_is_reachable_by_its_dotted_name_and_not_shadowed_by_a_function() -> None:
    # the module was named like its main function, which the package re-exports: `import
    # drac_ssl.losses.rate_reduction as rr` gave the function, and rr.anchor_membership failed
    import importlib

    import drac_ssl.losses
    import drac_ssl.losses.mcr2 as mcr2

    assert mcr2 is importlib.import_module("drac_ssl.losses.mcr2")
    assert callable(mcr2.anchor_membership) and callable(mcr2.pair_membership)
    for name in drac_ssl.losses.__all__:  # every re-export is a function or class, not a module
        assert not isinstance(getattr(drac_ssl.losses, name), type(mcr2)), name
    assert drac_ssl.losses.rate_reduction is mcr2.rate_reduction


def _views_cosine_after_rate_reduction_ascent(membership: str, steps: int = 80) -> tuple[float, float]:
    """Mean cosine of 16 free pairs of 64-d views before and after Adam maximises Delta R alone."""
    g = torch.Generator().manual_seed(0)
    base = torch.randn(16, 64, generator=g)
    a = (base + 0.3 * torch.randn(16, 64, generator=g)).requires_grad_()
    b = (base + 0.3 * torch.randn(16, 64, generator=g)).requires_grad_()
    before = F.cosine_similarity(a, b).mean().item()
    opt = torch.optim.Adam([a, b], lr=0.05)
    for _ in range(steps):
        loss = -rate_reduction(a, b, membership=membership, temperature=0.1).delta
        opt.zero_grad()
        loss.backward()
        opt.step()
    return before, F.cosine_similarity(a, b).mean().item()


def test_maximising_delta_r_alone_pushes_the_views_apart_with_either_membership() -> None:
    """What the UMM docstrings say (a methods review measured it): the hard ``pairs`` rule
    drives the two views of an image to orthogonal, and the soft membership (tau 0.1) only
    weakens that pull; nothing but the SSL term of the outer objective holds them together."""
    before, pairs = _views_cosine_after_rate_reduction_ascent("pairs")
    _, soft = _views_cosine_after_rate_reduction_ascent("soft")
    assert before > 0.9
    assert pairs < 0.1  # orthogonal
    assert soft < before - 0.1  # apart, too
    assert soft > pairs + 0.3  # but far less


def test_rate_reduction_general_checks_the_shape_before_normalising() -> None:
    """A 1-D ``z`` is the documented ValueError in the function's words, not ``F.normalize``'s
    IndexError ("Dimension out of range"), which came first; a NumPy array is a TypeError that
    says the conversion."""
    with pytest.raises(ValueError, match=r"z must have shape \(rows, dim\), got \(5,\)"):
        rate_reduction_general(torch.randn(5), torch.ones(1, 5))
    with pytest.raises(TypeError, match=r"torch.as_tensor\(z\)"):
        rate_reduction_general(np.zeros((4, 3), np.float32), torch.ones(1, 4))
    with pytest.raises(TypeError, match=r"torch.as_tensor\(z\)"):
        coding_rate(np.zeros((4, 3), np.float32))
