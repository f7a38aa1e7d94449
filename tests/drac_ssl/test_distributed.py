"""Distributed helpers (drac_ssl.distributed): a real 2-process gloo run on the CPU checks
that VICReg with ``gather=gather_with_grad`` on two halves of a batch equals one process on
the whole batch, in value and in (DDP-averaged) gradients."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from drac_ssl.distributed import (
    DistInfo,
    all_reduce_mean,
    barrier,
    cleanup,
    gather_with_grad,
    init_distributed,
    is_dist,
)
from drac_ssl.losses import VICRegTerms, vicreg_loss

WORLD = 2
N_PER_RANK = (4, 4)
IN_DIM, OUT_DIM = 5, 6


def make_problem() -> tuple[torch.Tensor, torch.Tensor, torch.nn.Linear]:
    """Two views of 8 inputs and a tiny linear 'expander', identical in every process."""
    g = torch.Generator().manual_seed(0)
    x_a = torch.randn(sum(N_PER_RANK), IN_DIM, generator=g)
    x_b = x_a + 0.5 * torch.randn(sum(N_PER_RANK), IN_DIM, generator=g)
    torch.manual_seed(0)
    layer = torch.nn.Linear(IN_DIM, OUT_DIM)
    return x_a, x_b, layer


def run_loss(
    x_a: torch.Tensor,
    x_b: torch.Tensor,
    layer: torch.nn.Linear,
    gather: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> tuple[VICRegTerms, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Loss and gradients w.r.t. both inputs, the weight and the bias."""
    x_a = x_a.clone().requires_grad_(True)
    x_b = x_b.clone().requires_grad_(True)
    terms = vicreg_loss(layer(x_a), layer(x_b), gather=gather)
    terms.loss.backward()
    return terms, x_a.grad, x_b.grad, layer.weight.grad.clone(), layer.bias.grad.clone()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, port: int, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(WORLD), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    info = init_distributed("gloo")
    try:
        assert is_dist() and info.world_size == WORLD and info.rank == rank
        x_a, x_b, layer = make_problem()
        start = sum(N_PER_RANK[:rank])
        rows = slice(start, start + N_PER_RANK[rank])
        terms, g_a, g_b, g_w, g_bias = run_loss(x_a[rows], x_b[rows], layer, gather_with_grad)
        # what DDP does with the parameter gradients, and how the loss is logged
        g_w = all_reduce_mean(g_w)
        g_bias = all_reduce_mean(g_bias)
        loss = all_reduce_mean(terms.loss)
        # unequal shards (3 + 5 rows): the gathered statistics are still the global ones
        uneven = slice(0, 3) if rank == 0 else slice(3, 8)
        layer.zero_grad()
        uneven_terms = run_loss(x_a[uneven], x_b[uneven], layer, gather_with_grad)[0]
        barrier()
        torch.save({"loss": loss, "variance": terms.variance, "covariance": terms.covariance,
                    "g_a": g_a, "g_b": g_b, "g_w": g_w, "g_bias": g_bias,
                    "uneven_variance": uneven_terms.variance,
                    "uneven_covariance": uneven_terms.covariance},
                   Path(out_dir) / f"rank{rank}.pt")
    finally:
        cleanup()


def test_single_process_fallbacks() -> None:
    assert not is_dist()
    info = init_distributed()
    assert info == DistInfo(rank=0, world_size=1, local_rank=0, is_main=True)
    x = torch.randn(3, 2, requires_grad=True)
    assert gather_with_grad(x) is x
    y = all_reduce_mean(x)
    torch.testing.assert_close(y, x.detach())
    assert not y.requires_grad
    barrier()
    cleanup()


@pytest.mark.skipif(not torch.distributed.is_available(), reason="no torch.distributed")
def test_two_process_gloo_matches_single_process(tmp_path: Path) -> None:
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        assert var not in os.environ, f"{var} set in the test environment"
    mp.spawn(_worker, args=(free_port(), str(tmp_path)), nprocs=WORLD, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]

    x_a, x_b, layer = make_problem()
    ref, ref_ga, ref_gb, ref_gw, ref_gbias = run_loss(x_a, x_b, layer)

    for r in ranks:
        # global statistics are identical on every rank and equal the single-process ones
        torch.testing.assert_close(r["variance"], ref.variance)
        torch.testing.assert_close(r["covariance"], ref.covariance)
        # averaged loss (local invariance, equal halves) equals the whole-batch loss
        torch.testing.assert_close(r["loss"], ref.loss)
        # averaged parameter gradients (what DDP applies) equal the whole-batch gradients
        torch.testing.assert_close(r["g_w"], ref_gw)
        torch.testing.assert_close(r["g_bias"], ref_gbias)
        torch.testing.assert_close(r["uneven_variance"], ref.variance)
        torch.testing.assert_close(r["uneven_covariance"], ref.covariance)
    # input gradients: each rank holds WORLD x the whole-batch gradient of its own rows
    # (DDP's 1/WORLD averaging brings it back)
    got_ga = torch.cat([r["g_a"] for r in ranks]) / WORLD
    got_gb = torch.cat([r["g_b"] for r in ranks]) / WORLD
    torch.testing.assert_close(got_ga, ref_ga)
    torch.testing.assert_close(got_gb, ref_gb)
