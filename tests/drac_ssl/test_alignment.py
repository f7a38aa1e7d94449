"""The JS distribution-alignment term of UMM (drac_ssl.losses.alignment) on tiny tensors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from drac_ssl.losses.alignment import (
    alignment_js,
    early_feature_gradients,
    js_divergence,
    js_to_uniform,
    log_density_from_gradients,
    sample_log_norms,
)
from drac_ssl.losses.vicreg import vicreg_loss

LOG2 = math.log(2.0)


def js_reference(p: np.ndarray, q: np.ndarray) -> float:
    """Textbook JS divergence in probability space (natural log)."""
    m = (p + q) / 2

    def kl(a: np.ndarray, b: np.ndarray) -> float:
        mask = a > 0
        return float(np.sum(a[mask] * np.log(a[mask] / b[mask])))

    return 0.5 * kl(p, m) + 0.5 * kl(q, m)


def test_js_to_uniform_is_zero_for_the_uniform_density() -> None:
    for k in (1, 2, 16, 1000):
        log_p = torch.full((k,), -math.log(k))
        assert float(js_to_uniform(log_p)) == pytest.approx(0.0, abs=1e-6)


def test_js_to_uniform_of_a_one_hot_density_is_the_closed_form_and_near_log2() -> None:
    for k in (2, 10, 100_000):
        log_p = torch.full((k,), -math.inf, dtype=torch.float64)
        log_p[3 % k] = 0.0
        expected = 0.5 * (
            math.log(2 * k / (k + 1)) + math.log(2 / (k + 1)) / k + (k - 1) / k * LOG2
        )
        assert float(js_to_uniform(log_p)) == pytest.approx(expected, rel=1e-10)
    assert LOG2 - 2e-4 < float(js_to_uniform(log_p)) <= LOG2


def test_js_is_in_zero_log2_symmetric_and_matches_the_textbook_formula() -> None:
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        k = int(torch.randint(2, 40, (1,), generator=g))
        scale = float(torch.rand(1, generator=g)) * 20
        log_p = torch.log_softmax(scale * torch.randn(k, generator=g, dtype=torch.float64), 0)
        log_q = torch.log_softmax(scale * torch.randn(k, generator=g, dtype=torch.float64), 0)
        js = float(js_divergence(log_p, log_q))
        assert 0.0 <= js <= LOG2 + 1e-12
        assert js == pytest.approx(float(js_divergence(log_q, log_p)), rel=1e-12, abs=1e-15)
        assert js == pytest.approx(
            js_reference(log_p.exp().numpy(), log_q.exp().numpy()), rel=1e-9, abs=1e-12
        )
        uniform = np.full(k, 1.0 / k)
        assert float(js_to_uniform(log_p)) == pytest.approx(
            js_reference(log_p.exp().numpy(), uniform), rel=1e-9, abs=1e-12
        )


def test_js_batches_over_leading_dimensions() -> None:
    log_p = torch.log_softmax(torch.randn(3, 5, 7), -1)
    out = js_to_uniform(log_p)
    assert out.shape == (3, 5)
    assert torch.allclose(out[1, 2], js_to_uniform(log_p[1, 2]))


def test_zero_probabilities_give_finite_values_and_gradients() -> None:
    log_p = torch.tensor([0.0, -math.inf, -math.inf, -math.inf], requires_grad=True)
    js = js_to_uniform(log_p)
    js.backward()
    assert math.isfinite(float(js.detach()))
    assert torch.isfinite(log_p.grad).all()


def test_density_is_inverse_gradient_norm_normalised_over_the_batch() -> None:
    g = torch.randn(6, 3, 2, 2, dtype=torch.float64)
    h = torch.randn(4, 5, dtype=torch.float64)
    log_p = log_density_from_gradients((g, h))
    norms = torch.cat([g.flatten(1).norm(dim=1), h.norm(dim=1)])
    expected = (1 / norms) / (1 / norms).sum()
    assert log_p.shape == (10,)
    assert torch.allclose(log_p.exp(), expected)
    assert float(torch.logsumexp(log_p, 0)) == pytest.approx(0.0, abs=1e-12)
    # invariant to a common scale (the 1/n of a mean loss), stable for tiny gradients in float32
    tiny = log_density_from_gradients((1e-25 * g.float(), 1e-25 * h.float()))
    assert torch.allclose(tiny.double(), log_p, atol=1e-4)
    assert torch.isfinite(sample_log_norms((torch.zeros(3, 4),))).all()


class TinyLastLayers(nn.Module):
    """Stand-in for the layers after the early cut: conv + BatchNorm + ReLU + pool + linear."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 6, 3, padding=1)
        self.bn = nn.BatchNorm2d(6)
        self.head = nn.Linear(6, 5)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn(self.conv(h)))
        return self.head(x.mean(dim=(2, 3)))


def test_js_has_a_gradient_wrt_the_tuned_layers_through_second_derivatives() -> None:
    torch.manual_seed(0)
    model = TinyLastLayers()
    h_a = torch.randn(8, 4, 5, 5, requires_grad=True)
    h_b = (h_a.detach() + 0.3 * torch.randn(8, 4, 5, 5)).requires_grad_(True)
    loss = vicreg_loss(model(h_a), model(h_b)).loss
    js, log_p = alignment_js(loss, (h_a, h_b), create_graph=True)
    assert log_p.shape == (16,)
    assert 0.0 < float(js.detach()) < LOG2
    grads = torch.autograd.grad(js, list(model.parameters()), allow_unused=True)
    assert grads[0] is not None and float(grads[0].abs().sum()) > 0  # conv weight
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    # the released code's defect: without create_graph the term carries no gradient
    loss = vicreg_loss(model(h_a), model(h_b)).loss
    js_detached, _ = alignment_js(loss, (h_a, h_b), create_graph=False)
    assert not js_detached.requires_grad


def test_js_gradient_matches_finite_differences_in_float64() -> None:
    torch.manual_seed(1)
    w1 = torch.randn(5, 4, dtype=torch.float64) * 0.7
    w2 = torch.randn(4, 3, dtype=torch.float64) * 0.7
    h_a = torch.randn(6, 5, dtype=torch.float64)
    h_b = h_a + 0.5 * torch.randn(6, 5, dtype=torch.float64)

    def js_of(w1: torch.Tensor, w2: torch.Tensor) -> torch.Tensor:
        a = h_a.clone().requires_grad_(True)
        b = h_b.clone().requires_grad_(True)
        loss = vicreg_loss(torch.tanh(a @ w1) @ w2, torch.tanh(b @ w1) @ w2).loss
        grads = early_feature_gradients(loss, (a, b), create_graph=True)
        return js_to_uniform(log_density_from_gradients(grads))

    assert torch.autograd.gradcheck(
        js_of, (w1.requires_grad_(True), w2.requires_grad_(True)), eps=1e-6, atol=1e-6, rtol=1e-4
    )


def test_js_to_uniform_refuses_a_0_dim_input() -> None:
    """A 0-dim ``log_p`` has no entries: the documented ValueError, not an IndexError."""
    with pytest.raises(ValueError, match=r"js_to_uniform needs log-probabilities \(..., k\) with k >= 1"):
        js_to_uniform(torch.tensor(0.0))
    with pytest.raises(ValueError, match=r"got shape \(3, 0\)"):
        js_to_uniform(torch.zeros(3, 0))
