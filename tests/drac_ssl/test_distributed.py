"""Distributed helpers (drac_ssl.distributed): a real 2-process gloo run on the CPU checks
that VICReg with ``gather=gather_with_grad`` on two halves of a batch equals one process on
the whole batch, in value and in (DDP-averaged) gradients; that the engine and the
pretraining stage log and decide on the same (global) epoch means in every process."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

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
from drac_ssl.engine import Engine, Monitor, TrainingTask
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


def _join(rank: int, port: int) -> DistInfo:
    """Process ``rank`` of :data:`WORLD` joins a gloo group on ``port`` (torchrun's variables),
    one thread."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(WORLD), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    return init_distributed("gloo")


def _two_process_worker(rank: int, port: int, out_dir: str) -> None:
    """Process ``rank`` of the module's one 2-process gloo group (:func:`two_processes`): the
    VICReg gather, the engine's epoch means, then the pretraining stage, each writing what its
    test reads. One group for the three: each start of a spawned process imports torch and
    this module again (about 10 s of the 2-core CI per process)."""
    info = _join(rank, port)
    try:
        _gloo_phase(rank, info, out_dir)
        _engine_phase(rank, info, out_dir)
        _pretrain_phase(rank, out_dir)
    finally:
        cleanup()


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder :func:`_two_process_worker`'s two processes wrote to."""
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        assert var not in os.environ, f"{var} set in the test environment"
    out_dir = tmp_path_factory.mktemp("two_processes")
    mp.spawn(_two_process_worker, args=(free_port(), str(out_dir)), nprocs=WORLD, join=True)
    return out_dir


def _gloo_phase(rank: int, info: DistInfo, out_dir: str) -> None:
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
def test_two_process_gloo_matches_single_process(two_processes: Path) -> None:
    ranks = [torch.load(two_processes / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]

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


# --------------------------------------------------------------------------------------
# The engine and the pretraining stage under two processes: one set of epoch means, one
# early-stopping decision (every process must stop at the same epoch, or the others wait in
# a collective for a process that has left: gloo "Connection closed by peer", NCCL a hang)

# per rank: steps per epoch and the value every step logs in each epoch. Rank 0 alone gets
# worse after its first epoch (patience 1: it would stop after epoch 2); rank 1 alone keeps
# improving. Over both, weighted by steps: 7.75, 4.25, 2.25, 1.75 (improving: no stop); the
# plain mean of the two ranks' means would be 5.5, 3.5, 2.5, 2.5 (a stop after epoch 4).
RANK_STEPS = (1, 3)
RANK_VALUES = ((1.0, 2.0, 3.0, 4.0), (10.0, 5.0, 2.0, 1.0))
GLOBAL_MEANS = [7.75, 4.25, 2.25, 1.75]


class RankTask(TrainingTask):
    """A task whose logged value depends on the rank (what VICReg's local invariance does)."""

    keys = ("loss",)
    watched = ("loss",)
    pairs_per_step = 2

    def __init__(self, rank: int) -> None:
        self.rank, self.steps_per_epoch = rank, RANK_STEPS[rank]

    def batches(self, epoch: int) -> Iterator[int]:
        return iter(range(self.steps_per_epoch))

    def step(self, batch: int, step: int) -> dict[str, torch.Tensor]:
        return {"loss": torch.tensor(RANK_VALUES[self.rank][step // self.steps_per_epoch])}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


def _engine_phase(rank: int, info: DistInfo, out_dir: str) -> None:
    task = RankTask(rank)
    engine = Engine("toy", Path(out_dir) / "engine_run", epochs=4, config={}, seed=0, is_main=info.is_main,
                    monitor=Monitor("loss", mode="min", patience=1), distributed=True)
    result = engine.run(task)
    torch.save({"losses": [r["loss"] for r in result.history], "stopped": result.stopped,
                "best_epoch": result.best_epoch}, Path(out_dir) / f"engine{rank}.pt")


@pytest.mark.skipif(not torch.distributed.is_available(), reason="no torch.distributed")
def test_engine_means_are_global_so_every_process_stops_at_the_same_epoch(two_processes: Path) -> None:
    ranks = [torch.load(two_processes / f"engine{r}.pt", weights_only=True) for r in range(WORLD)]
    for r in ranks:
        # the mean over every step of every process (weighted by each process's steps)
        assert r["losses"] == pytest.approx(GLOBAL_MEANS)
        assert r["stopped"] == "completed all epochs" and r["best_epoch"] == 3
    # what rank 0 logs is the global mean, not its own share
    logged = (two_processes / "engine_run" / "metrics.csv").read_text().splitlines()
    assert [float(line.split(",")[2]) for line in logged[1:]] == pytest.approx(GLOBAL_MEANS)


def _pretrain_phase(rank: int, out_dir: str) -> None:
    import numpy as np

    from drac_ssl import pretrain
    from drac_ssl.config import load_config

    cfg = load_config(None, [
        "pretrain.epochs=4", "pretrain.batch_size=4", "pretrain.num_workers=0",
        "pretrain.expander=32-32", "pretrain.augment.image_size=16", "pretrain.augment.source_size=24",
        "pretrain.backbone.cifar_stem=true", "pretrain.lr=0.001", "pretrain.monitor_images=0",
        "pretrain.compile=false", "pretrain.patience=1", "run.device=cpu"])
    images = np.random.default_rng(0).integers(0, 256, size=(16, 24, 24), dtype=np.uint8)
    data = pretrain.PretrainData(images=images, description="random test images")
    result = pretrain.run(cfg, Path(out_dir) / "run", data=data)
    # rank 0 has exported by the time any process returns
    exported = (Path(out_dir) / "run" / "pretrain" / "vicreg_model.safetensors").is_file()
    torch.save({"history": [{k: row[k] for k in pretrain.TERMS} for row in result.history],
                "stopped": result.stopped, "best_epoch": result.best_epoch, "exported": exported},
               Path(out_dir) / f"pretrain{rank}.pt")


@pytest.mark.skipif(not torch.distributed.is_available(), reason="no torch.distributed")
def test_two_process_pretraining_logs_and_decides_on_the_same_epoch_means(two_processes: Path) -> None:
    ranks = [torch.load(two_processes / f"pretrain{r}.pt", weights_only=True) for r in range(WORLD)]
    assert ranks[0]["history"], "no epoch ran"
    for r in ranks[1:]:
        assert r["history"] == ranks[0]["history"]
        assert (r["stopped"], r["best_epoch"]) == (ranks[0]["stopped"], ranks[0]["best_epoch"])
    assert all(r["exported"] for r in ranks)
    # metrics.csv holds the same (global) means
    lines = (two_processes / "run" / "pretrain" / "metrics.csv").read_text().splitlines()
    header = lines[0].split(",")
    logged = [float(line.split(",")[header.index("loss")]) for line in lines[1:]]
    assert logged == [row["loss"] for row in ranks[0]["history"]]


def test_ddp_pretraining_on_cuda_synchronises_batchnorm_and_nothing_else_changes() -> None:
    """The official VICReg code converts to SyncBatchNorm under DDP. Converting needs no GPU:
    checked here on a CPU model; the CPU (gloo) and single-process runs keep the model as is
    (torch's SyncBatchNorm refuses CPU tensors; the 2-process test above runs that path)."""
    from drac_ssl import pretrain
    from drac_ssl.config import load_config
    from drac_ssl.models import build_vicreg_model

    pc = load_config(None, ["pretrain.expander=16-16", "pretrain.backbone.cifar_stem=true"]).pretrain
    model = build_vicreg_model(pc)
    keys = list(model.state_dict())
    params = [id(p) for p in model.parameters()]
    n_bn = sum(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())
    assert n_bn > 0
    for world, device in ((1, "cuda"), (2, "cpu"), (1, "cpu")):
        same = pretrain.sync_batchnorm(model, DistInfo(world_size=world), torch.device(device))
        assert same is model and not any(isinstance(m, torch.nn.SyncBatchNorm) for m in model.modules())
    synced = pretrain.sync_batchnorm(model, DistInfo(rank=1, world_size=2, local_rank=1, is_main=False),
                                     torch.device("cuda"))
    assert sum(isinstance(m, torch.nn.SyncBatchNorm) for m in synced.modules()) == n_bn
    assert not any(type(m) in (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d) for m in synced.modules())
    # the optimiser's parameters, the checkpoint keys and the exported weights stay as they were
    assert [id(p) for p in synced.parameters()] == params
    assert list(synced.state_dict()) == keys
