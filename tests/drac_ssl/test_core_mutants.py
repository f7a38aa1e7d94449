"""The core methods' numbers that a mutation audit (session 73) found no test pinned: each test
below fails under the named mutant of drac_ssl (expected values computed by hand, in the
docstrings), and each runs in well under a second on a CPU."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from drac_ssl.config import Config
from drac_ssl.grading.model import Calibration
from drac_ssl.losses.vicreg import VICRegLoss
from drac_ssl.metrics import knn_accuracy
from drac_ssl.submission import write_submission
from drac_ssl.umm.step import inner_objective


def test_default_vicreg_coefficients_and_coding_rate_eps2_are_those_of_methods_md() -> None:
    """methods.md section 1: lam = mu = 25, nu = 1, gamma = 1, eps = 1e-4 (the VICReg paper's
    coefficients); section 2: eps^2 = 0.5, the MCR^2 default. A default drifting in config.py
    (mutants at its ``sim_coeff``, ``eps`` and ``umm.eps2`` lines) changes every run silently;
    and the loss a run builds from its configuration is the paper's loss."""
    cfg = Config()
    loss = cfg.pretrain.loss
    assert (loss.sim_coeff, loss.std_coeff, loss.cov_coeff, loss.gamma, loss.eps) == (25.0, 25.0, 1.0, 1.0, 1e-4)
    assert cfg.umm.eps2 == 0.5
    built, paper = VICRegLoss.from_config(loss), VICRegLoss()
    settings = ("sim_coeff", "std_coeff", "cov_coeff", "gamma", "eps")
    assert [getattr(built, s) for s in settings] == [getattr(paper, s) for s in settings] == [25.0, 25.0, 1.0, 1.0, 1e-4]
    g = torch.Generator().manual_seed(0)
    z_a, z_b = (torch.randn(8, 5, generator=g, dtype=torch.float64) for _ in range(2))
    assert torch.equal(built(z_a, z_b).loss, paper(z_a, z_b).loss)


class _FlatHead(nn.Module):
    """A stand-in for :class:`drac_ssl.umm.layers.AfterCut`: ``(n, C, H, W)`` early features
    -> ``(features (n, 4), embedding (n, 3))``; piecewise affine, as the ResNet's later stages."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(2 * 3 * 3, 4), nn.ReLU())
        self.expander = nn.Linear(4, 3)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.body(h)
        return features, self.expander(features)


def test_inner_objective_weights_the_js_term_by_beta() -> None:
    """UMM's inner loss L_in = L_ssl + beta * JS(p || U) (methods.md section 2): with beta = 0.25
    the JS term counts a quarter (mutant: ``ssl + js``, beta ignored)."""
    torch.manual_seed(0)
    head = _FlatHead().double()
    h_a, h_b = torch.randn(2, 6, 2, 3, 3, dtype=torch.float64)
    terms = inner_objective(head, h_a, h_b, VICRegLoss(), beta=0.25, use_js=True)
    ssl, js = float(terms.ssl.loss.detach()), float(terms.js.detach())
    assert 0.0 < js <= math.log(2)  # a JS divergence, and one large enough to tell beta apart
    inner = float(terms.inner.detach())
    assert inner == pytest.approx(ssl + 0.25 * js, rel=1e-12)
    assert inner != pytest.approx(ssl + js, rel=1e-6)


def test_knn_weights_each_neighbour_by_exp_cosine_over_temperature() -> None:
    """The weighted k-NN of methods.md section 3: neighbours weighted by exp(s / T), T = 0.07. Query
    [1, 0]; train [1, 0] of class 0 (cosine 1) and [.8, +-.6] of class 1 (cosine 0.8), k = 3.
    Class 0 gets exp(1/T), class 1 2 exp(0.8/T): relative to class 0, 2 exp(-0.2/0.07) = 0.115,
    so class 0 wins. With exp(s * T) (the mutant) the three weigh almost alike (1 vs
    2 exp(-0.014) = 1.97) and class 1 wins, as it does with a large T (uniform votes)."""
    train = np.array([[1.0, 0.0], [0.8, 0.6], [0.8, -0.6]])
    query = np.array([[1.0, 0.0]])
    assert knn_accuracy(train, [0, 1, 1], query, [0], k=3, temperature=0.07) == 1.0
    assert knn_accuracy(train, [0, 1, 1], query, [0], k=3, temperature=100.0) == 0.0


def test_regression_head_probabilities_are_softmax_of_minus_squared_distance_over_temperature() -> None:
    """The regression head's P_k = softmax_k(-(s - k)^2 / T) (Calibration's docstring, the
    fitted temperature T applied). Score 0.3, T = 2: logits -0.045, -0.245, -1.445, so
    P = (0.484185, 0.396417, 0.119398). Mutants: |s - k| instead of the squared distance
    (0.432, 0.354, 0.214), or T ignored (0.578, 0.387, 0.035)."""
    cal = Calibration("regression", temperature=2.0, thresholds=(0.5, 1.5))
    probs, score = cal.probs_and_scores([np.array([[0.3]])])
    assert score.tolist() == [0.3]
    logits = np.array([-0.045, -0.245, -1.445])
    np.testing.assert_allclose(probs[0], np.exp(logits) / np.exp(logits).sum(), rtol=1e-12)
    np.testing.assert_allclose(probs[0], [0.484185, 0.396417, 0.119398], atol=1e-6)


def test_written_rows_off_by_under_1e3_are_renormalised_before_the_six_decimals(tmp_path) -> None:
    """write_submission renormalises a row whose sum is off by less than 1e-3 (float32
    rounding) before rounding to 6 decimals: [0.5004, 0.3, 0.2] (sum 1.0004) becomes
    0.500200, 0.299880, 0.199920. Without the renormalisation (the mutant) the entries round
    as given and the first absorbs the -400 residual: 0.500000, 0.300000, 0.200000. A tied row
    does not tell them apart (the residual is shared out among equal entries either way):
    [.3334] * 3 is 1/3 each, the one-millionth remainder to the submitted class 1."""
    path = write_submission(tmp_path / "sub.csv", ["1.png", "2.png"], np.array([[0.5004, 0.3, 0.2], [0.3334] * 3]),
                            classes=np.array([0, 1]))
    assert path.read_text().splitlines() == ["case,class,P0,P1,P2", "1.png,0,0.500200,0.299880,0.199920",
                                             "2.png,1,0.333333,0.333334,0.333333"]
