"""VICReg loss (drac_ssl.losses.vicreg) against hand-computed values and a float64 numpy
reference, official-code convention (methods.md section 1)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from drac_ssl.config import VICRegLossConfig
from drac_ssl.losses import (
    VICRegLoss,
    covariance_loss,
    invariance_loss,
    variance_loss,
    vicreg_loss,
)


def numpy_vicreg(
    za: np.ndarray, zb: np.ndarray, sim: float = 25.0, std: float = 25.0, cov: float = 1.0,
    gamma: float = 1.0, eps: float = 1e-4,
) -> tuple[float, float, float, float]:
    """Independent float64 reference written from the formulas, loops over dimensions."""
    za = za.astype(np.float64)
    zb = zb.astype(np.float64)
    n, d = za.shape
    inv = float(np.mean((za - zb) ** 2))

    def v(z: np.ndarray) -> float:
        total = 0.0
        for k in range(d):
            col = z[:, k]
            var = np.sum((col - col.mean()) ** 2) / (n - 1)
            total += max(0.0, gamma - np.sqrt(var + eps))
        return total / d

    def c(z: np.ndarray) -> float:
        zc = z - z.mean(axis=0, keepdims=True)
        total = 0.0
        for k in range(d):
            for j in range(d):
                if k != j:
                    total += (np.dot(zc[:, k], zc[:, j]) / (n - 1)) ** 2
        return total / d

    var_term = (v(za) + v(zb)) / 2
    cov_term = c(za) + c(zb)
    return sim * inv + std * var_term + cov * cov_term, inv, var_term, cov_term


# Hand example, n = 3 rows, d = 2 dims.
ZA = [[0.0, 0.0], [1.0, 0.0], [2.0, 3.0]]
ZB = [[1.0, 0.0], [1.0, 2.0], [1.0, 0.0]]


def test_hand_computed_3x2_eps0() -> None:
    za, zb = torch.tensor(ZA), torch.tensor(ZB)
    # invariance: za - zb = [[-1, 0], [0, -2], [1, 3]]; squares 1+0+0+4+1+9 = 15; 15/6 = 2.5
    # variance, eps = 0:
    #   za col0 [0,1,2]: mean 1, unbiased var (1+0+1)/2 = 1 -> std 1 -> relu(1-1) = 0
    #   za col1 [0,0,3]: mean 1, var (1+1+4)/2 = 3 -> std 1.73 -> 0;         v(za) = 0
    #   zb col0 [1,1,1]: var 0 -> std 0 -> relu(1-0) = 1
    #   zb col1 [0,2,0]: mean 2/3, var (4/9+16/9+4/9)/2 = 4/3 -> std 1.15 -> 0; v(zb) = 1/2
    #   variance = (0 + 1/2)/2 = 0.25
    # covariance:
    #   za centred: col0 [-1,0,1], col1 [-1,-1,2]; C01 = (1+0+2)/2 = 1.5
    #   c(za) = (C01^2 + C10^2)/d = 2*2.25/2 = 2.25; zb col0 is constant -> C01 = 0, c(zb) = 0
    #   covariance = 2.25
    # loss = 25*2.5 + 25*0.25 + 1*2.25 = 62.5 + 6.25 + 2.25 = 71
    terms = vicreg_loss(za, zb, eps=0.0)
    assert terms.invariance.item() == pytest.approx(2.5)
    assert terms.variance.item() == pytest.approx(0.25)
    assert terms.covariance.item() == pytest.approx(2.25)
    assert terms.loss.item() == pytest.approx(71.0)


def test_hand_computed_3x2_default_eps() -> None:
    za, zb = torch.tensor(ZA), torch.tensor(ZB)
    # with eps = 1e-4 only zb col0 changes: std = sqrt(0 + 1e-4) = 0.01 -> relu(1 - 0.01) = 0.99
    # (za col0: sqrt(1.0001) > 1 -> still 0). v(zb) = 0.99/2 = 0.495; variance = 0.2475
    # loss = 62.5 + 25*0.2475 + 2.25 = 62.5 + 6.1875 + 2.25 = 70.9375
    terms = vicreg_loss(za, zb)
    assert terms.variance.item() == pytest.approx(0.2475)
    assert terms.loss.item() == pytest.approx(70.9375)
    assert all(t.ndim == 0 for t in terms)


def test_pure_terms_match_hand_values() -> None:
    za, zb = torch.tensor(ZA), torch.tensor(ZB)
    assert invariance_loss(za, zb).item() == pytest.approx(2.5)
    assert variance_loss(zb, eps=0.0).item() == pytest.approx(0.5)
    assert covariance_loss(za).item() == pytest.approx(2.25)
    assert covariance_loss(zb).item() == pytest.approx(0.0)


def test_symmetric_in_views() -> None:
    g = torch.Generator().manual_seed(0)
    za, zb = torch.randn(8, 6, generator=g), torch.randn(8, 6, generator=g)
    ab, ba = vicreg_loss(za, zb), vicreg_loss(zb, za)
    for x, y in zip(ab, ba, strict=True):
        torch.testing.assert_close(x, y)


@pytest.mark.parametrize("n", [5, 7])
def test_normalised_by_actual_batch_size(n: int) -> None:
    rng = np.random.default_rng(n)
    za = rng.normal(size=(n, 4)) * 0.7
    zb = za + 0.3 * rng.normal(size=(n, 4))
    got = vicreg_loss(torch.from_numpy(za), torch.from_numpy(zb))
    ref = numpy_vicreg(za, zb)
    for value, expected in zip(got, ref, strict=True):
        assert value.item() == pytest.approx(expected, rel=1e-10, abs=1e-12)


def test_invariance_is_a_mean_unchanged_by_duplicating_rows() -> None:
    g = torch.Generator().manual_seed(1)
    za, zb = torch.randn(6, 5, generator=g), torch.randn(6, 5, generator=g)
    once = vicreg_loss(za, zb).invariance
    twice = vicreg_loss(torch.cat([za, za]), torch.cat([zb, zb])).invariance
    torch.testing.assert_close(once, twice)


def test_agrees_with_float64_numpy_reference_random() -> None:
    rng = np.random.default_rng(42)
    za = rng.normal(size=(16, 12)).astype(np.float32) * 0.5
    zb = rng.normal(size=(16, 12)).astype(np.float32) * 2.0
    got = vicreg_loss(torch.from_numpy(za), torch.from_numpy(zb), sim_coeff=10.0,
                      std_coeff=5.0, cov_coeff=2.0, gamma=1.5, eps=1e-3)
    assert got.loss.dtype == torch.float32
    ref = numpy_vicreg(za, zb, 10.0, 5.0, 2.0, 1.5, 1e-3)
    for value, expected in zip(got, ref, strict=True):
        assert value.item() == pytest.approx(expected, rel=1e-5, abs=1e-6)


def test_module_and_from_config_match_function() -> None:
    cfg = VICRegLossConfig(sim_coeff=3.0, std_coeff=4.0, cov_coeff=0.5, gamma=0.8, eps=1e-3)
    module = VICRegLoss.from_config(cfg)
    g = torch.Generator().manual_seed(2)
    za, zb = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)
    expected = vicreg_loss(za, zb, sim_coeff=3.0, std_coeff=4.0, cov_coeff=0.5, gamma=0.8,
                           eps=1e-3)
    torch.testing.assert_close(module(za, zb).loss, expected.loss)


def test_gather_applies_to_variance_and_covariance_only() -> None:
    g = torch.Generator().manual_seed(3)
    za, zb = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    other_a, other_b = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    others = iter([other_a, other_b])  # gather is applied to z_a, then to z_b

    def fake_gather(z: torch.Tensor) -> torch.Tensor:  # "rank 0" of 2: local rows first
        return torch.cat([z, next(others)])

    got = vicreg_loss(za, zb, gather=fake_gather)
    full = vicreg_loss(torch.cat([za, other_a]), torch.cat([zb, other_b]))
    torch.testing.assert_close(got.variance, full.variance)
    torch.testing.assert_close(got.covariance, full.covariance)
    torch.testing.assert_close(got.invariance, invariance_loss(za, zb))


def test_finite_under_bf16_autocast_wide_large_embedding() -> None:
    torch.manual_seed(0)
    layer = torch.nn.Linear(64, 2048)
    x = torch.randn(16, 64) * 50.0
    with torch.autocast("cpu", dtype=torch.bfloat16):
        za, zb = layer(x), layer(x + torch.randn_like(x))
        assert za.dtype == torch.bfloat16
        terms = vicreg_loss(za, zb)
    assert terms.loss.dtype == torch.float32
    assert torch.isfinite(terms.loss)
    reference = vicreg_loss(za.float(), zb.float())
    torch.testing.assert_close(terms.loss, reference.loss)
    terms.loss.backward()
    assert torch.isfinite(layer.weight.grad).all()


def test_half_precision_input_does_not_overflow() -> None:
    # covariance entries ~ 300^2 * 300^2 / ... exceed float16's 65504 if computed in half
    z = (torch.randn(32, 2048) * 300.0).half()
    terms = vicreg_loss(z, z + 1)
    assert torch.isfinite(terms.loss)
    assert terms.covariance.item() > 65504


def test_variance_and_covariance_terms_cast_half_precision_as_vicreg_loss_does() -> None:
    # the terms alone once ran in float16: the covariance of embeddings ~100 was NaN
    g = torch.Generator().manual_seed(0)
    z = torch.randn(32, 512, generator=g) * 100.0
    half = z.half()
    cov = covariance_loss(half)
    var = variance_loss(half * 1e-3)  # std ~0.1: a hinge term away from 0
    assert cov.dtype == var.dtype == torch.float32
    torch.testing.assert_close(cov, covariance_loss(half.float()))
    torch.testing.assert_close(var, variance_loss(half.float() * 1e-3))
    assert torch.isfinite(cov) and cov.item() > 65504


def test_invariance_term_casts_half_precision_as_vicreg_loss_does() -> None:
    # alone it once ran in float16: squared differences of views ~300 apart overflowed to inf
    g = torch.Generator().manual_seed(0)
    z_a, z_b = (torch.randn(8, 16, generator=g) * 300.0).half(), (torch.randn(8, 16, generator=g) * 300.0).half()
    got = invariance_loss(z_a, z_b)
    assert got.dtype == torch.float32 and torch.isfinite(got) and got.item() > 65504
    torch.testing.assert_close(got, invariance_loss(z_a.float(), z_b.float()))
    assert invariance_loss(z_a.double(), z_b.double()).dtype == torch.float64


@pytest.mark.parametrize(
    ("za", "zb", "match"),
    [
        (torch.randn(1, 4), torch.randn(1, 4), "at least 2"),
        (torch.randn(4, 3), torch.randn(4, 5), "same shape"),
        (torch.randn(4, 3), torch.randn(5, 3), "same shape"),
        (torch.randn(2, 3, 4), torch.randn(2, 3, 4), "2-D"),
    ],
)
def test_clear_errors(za: torch.Tensor, zb: torch.Tensor, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        vicreg_loss(za, zb)
    if za.shape == zb.shape:  # the terms alone refuse the same (nan or an unpack error before)
        for term in (variance_loss, covariance_loss):
            with pytest.raises(ValueError, match=match):
                term(za)
    with pytest.raises(ValueError, match=r"covariance_loss expects 2-D embeddings of shape \(n, d\); got shape \(4,\)"):
        covariance_loss(torch.randn(4))


def test_an_array_or_list_is_a_type_error_that_names_the_fix() -> None:
    """A library-user review: a numpy array gave "'str' object has no attribute 'type'", a list
    "'list' object has no attribute 'ndim'"."""
    with pytest.raises(TypeError, match=r"z_a is a numpy\.ndarray: pass torch\.as_tensor\(z_a\)"):
        vicreg_loss(np.ones((4, 3)), torch.randn(4, 3))
    with pytest.raises(TypeError, match=r"z_b is a builtins\.list"):
        VICRegLoss()(torch.randn(2, 2), [[1.0, 2.0], [3.0, 4.0]])


# ---- the official code, line by line (facebookresearch/vicreg, main_vicreg.py) -----------


def _official_off_diagonal(x: torch.Tensor) -> torch.Tensor:
    """``off_diagonal`` of main_vicreg.py: the off-diagonal entries of a square matrix."""
    n, m = x.shape
    assert n == m
    return x.flatten()[:-1].view(n - 1, n + 1)[:, 1:].flatten()


def _official_vicreg_forward(x: torch.Tensor, y: torch.Tensor, batch_size: int,
                             sim_coeff: float = 25.0, std_coeff: float = 25.0,
                             cov_coeff: float = 1.0) -> torch.Tensor:
    """``VICReg.forward`` of main_vicreg.py after the projector, one process (no gather;
    ``batch_size`` is the configured batch, here the actual one: ``n``)."""
    num_features = x.shape[1]
    repr_loss = torch.nn.functional.mse_loss(x, y)

    x = x - x.mean(dim=0)
    y = y - y.mean(dim=0)

    std_x = torch.sqrt(x.var(dim=0) + 0.0001)
    std_y = torch.sqrt(y.var(dim=0) + 0.0001)
    std_loss = torch.mean(torch.nn.functional.relu(1 - std_x)) / 2 + \
        torch.mean(torch.nn.functional.relu(1 - std_y)) / 2

    cov_x = (x.T @ x) / (batch_size - 1)
    cov_y = (y.T @ y) / (batch_size - 1)
    cov_loss = _official_off_diagonal(cov_x).pow_(2).sum().div(num_features) + \
        _official_off_diagonal(cov_y).pow_(2).sum().div(num_features)

    loss = sim_coeff * repr_loss + std_coeff * std_loss + cov_coeff * cov_loss
    return loss


@pytest.mark.parametrize(("n", "d"), [(2, 1), (3, 2), (8, 16), (5, 64), (64, 32)])
def test_equals_the_official_forward_in_value_and_gradient(n: int, d: int) -> None:
    """The package's defaults (25 / 25 / 1, gamma 1, eps 1e-4) are the official loss: same
    value and same gradients for both views, float64; columns spread from 0.2 to 3 so some
    dimensions sit under the variance hinge and some above it."""
    g = torch.Generator().manual_seed(n * 1000 + d)
    scale = torch.linspace(0.2, 3.0, d, dtype=torch.float64)
    x0 = torch.randn(n, d, generator=g, dtype=torch.float64) * scale
    y0 = x0 + 0.5 * torch.randn(n, d, generator=g, dtype=torch.float64) * scale
    x_pkg, y_pkg = x0.clone().requires_grad_(), y0.clone().requires_grad_()
    x_off, y_off = x0.clone().requires_grad_(), y0.clone().requires_grad_()

    ours = vicreg_loss(x_pkg, y_pkg).loss
    official = _official_vicreg_forward(x_off, y_off, batch_size=n)
    assert ours.dtype == torch.float64
    torch.testing.assert_close(ours, official, rtol=1e-12, atol=1e-12)
    ours.backward()
    official.backward()
    assert x_pkg.grad is not None and y_pkg.grad is not None
    torch.testing.assert_close(x_pkg.grad, x_off.grad, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(y_pkg.grad, y_off.grad, rtol=1e-10, atol=1e-12)
    if n >= 8:  # the hinge is both active and inactive here, so both sides' gradients were compared
        std = x0.var(dim=0).add(1e-4).sqrt()
        assert bool((std < 1).any()) and bool((std > 1).any())


def test_invariance_loss_refuses_views_of_other_shapes() -> None:
    """``(4, 3)`` against ``(1, 3)`` was broadcast by ``F.mse_loss`` (a warning and a number);
    it is refused as ``vicreg_loss`` refuses it, in the function's own name."""
    z = torch.randn(4, 3)
    with pytest.raises(ValueError, match=r"invariance_loss expects both views to have the same shape"):
        invariance_loss(z, z[:1])
    with pytest.raises(ValueError, match=r"invariance_loss expects 2-D embeddings"):
        invariance_loss(z[0], z[1])
    with pytest.raises(TypeError, match=r"invariance_loss expects torch tensors"):
        invariance_loss(z.numpy(), z)  # type: ignore[arg-type]
    assert float(invariance_loss(z, z)) == 0.0


def test_an_empty_batch_is_said_with_its_shape_and_fix() -> None:
    """A reviewer's finding: a check of its own before _check_not_empty said only "empty batch
    (0 rows)", leaving that check's words (the shape, the fix) unreachable here."""
    z = torch.zeros(0, 4)
    with pytest.raises(ValueError, match=r"shape \(0, 4\) with no rows.*at least one image"):
        vicreg_loss(z, z)
