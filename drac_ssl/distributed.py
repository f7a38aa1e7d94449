"""Multi-process (torchrun / DDP) helpers; everything degrades to a no-op in one process.

``init_distributed`` reads the torchrun environment (``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``); without it the run is a single process
and no process group is created. :func:`gather_with_grad` is what the VICReg loss needs to
compute its variance and covariance terms on the global batch (methods.md section 1).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import Tensor

__all__ = [
    "DistInfo",
    "GatherWithGrad",
    "all_reduce_mean",
    "barrier",
    "cleanup",
    "collective_device",
    "gather_with_grad",
    "init_distributed",
    "is_dist",
    "sums_over_processes",
    "on_main",
]

T = TypeVar("T")


@dataclass
class DistInfo:
    """Where this process sits: ``rank`` in ``[0, world_size)``, ``local_rank`` on its node
    (the CUDA device index), and ``is_main`` (rank 0: the one that logs and saves)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    is_main: bool = True


def is_dist() -> bool:
    """True when a process group with more than one process is initialised."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def init_distributed(backend: str | None = None) -> DistInfo:
    """Initialise the default process group from the torchrun environment variables.

    Args:
        backend: ``nccl`` | ``gloo``; default ``nccl`` when CUDA is available, else ``gloo``.

    Returns:
        :class:`DistInfo`. Without ``WORLD_SIZE`` > 1 in the environment: rank 0 of 1 and no
        process group. When a group is already initialised, it is reused.
        On CUDA the current device is set to ``LOCAL_RANK``.
    """
    if dist.is_available() and dist.is_initialized():
        rank, world = dist.get_rank(), dist.get_world_size()
        local = int(os.environ.get("LOCAL_RANK", rank))
        return DistInfo(rank, world, local, rank == 0)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if not dist.is_available():
        raise RuntimeError(
            f"WORLD_SIZE={world} but this torch build has no torch.distributed support."
        )
    for var in ("RANK", "MASTER_ADDR", "MASTER_PORT"):
        if var not in os.environ:
            raise RuntimeError(
                f"WORLD_SIZE={world} is set but {var} is not: launch with torchrun "
                f"(e.g. torchrun --nproc_per_node=2 -m drac_ssl.train ...), which sets "
                f"RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT."
            )
    rank = int(os.environ["RANK"])
    local = int(os.environ.get("LOCAL_RANK", rank))
    use_cuda = torch.cuda.is_available()
    if backend is None:
        backend = "nccl" if use_cuda else "gloo"
    kwargs: dict[str, Any] = {}
    if use_cuda and backend == "nccl":
        torch.cuda.set_device(local)
        kwargs["device_id"] = torch.device("cuda", local)
    dist.init_process_group(backend=backend, init_method="env://", rank=rank,
                            world_size=world, **kwargs)
    return DistInfo(rank, world, local, rank == 0)


def barrier() -> None:
    """Wait for every process (no-op in a single process)."""
    if is_dist():
        dist.barrier()


def on_main(work: Callable[[], T], what: str) -> T | None:
    """Run ``work`` on rank 0 only while the other processes wait, then tell them how it ended.

    A barrier that carries rank 0's outcome: when ``work`` raises on rank 0, the other
    processes raise too (instead of waiting for a process that will never come, or going on
    without its files). In a single process: ``work()``.

    Args:
        work: what rank 0 does (e.g. write the exported weights).
        what: the words for it in the other processes' error ("the pretraining export").

    Returns:
        ``work()``'s value on rank 0, None on the other ranks.

    Raises:
        whatever ``work`` raised (rank 0); RuntimeError naming it (other ranks).
    """
    if not is_dist():
        return work()
    outcome: list[Any] = [None]
    result: T | None = None
    if dist.get_rank() == 0:
        try:
            result = work()
        except BaseException as exc:
            outcome[0] = f"{type(exc).__name__}: {exc}"
            dist.broadcast_object_list(outcome, src=0)
            raise
    dist.broadcast_object_list(outcome, src=0)
    if outcome[0] is not None:
        raise RuntimeError(f"process 0 failed during {what} ({outcome[0]}); see its output")
    return result


def cleanup() -> None:
    """Destroy the process group if one exists."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_mean(x: Tensor) -> Tensor:
    """Mean of ``x`` over all processes, as a new detached tensor (``x`` unchanged).

    For logging (losses, metrics): no gradient flows through it. Identity (a detached
    copy) in a single process. Integer tensors are averaged in float32.
    """
    out = x.detach().clone()
    if not out.is_floating_point():
        out = out.float()
    if is_dist():
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        out /= dist.get_world_size()
    return out


def sums_over_processes(sums: torch.Tensor | None, n_steps: int, n_keys: int) -> tuple[list[float], int]:
    """The epoch's sums and step count added over every process of the group (one
    all-reduce, read back once), so that ``sum / steps`` is the mean over all the steps every
    process ran, whatever each process's count (a process with more steps weighs more)."""
    if sums is None:
        sums = torch.zeros(n_keys, dtype=torch.float64, device=collective_device())
    both = torch.cat([sums, sums.new_tensor([float(n_steps)])])
    dist.all_reduce(both, op=dist.ReduceOp.SUM)
    values = both.tolist()
    return values[:n_keys], int(round(values[n_keys]))


def collective_device() -> torch.device:
    """Where a tensor must lie for the group's backend (NCCL: this process's GPU)."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


class GatherWithGrad(torch.autograd.Function):
    """All-gather along dim 0 whose backward returns this rank's slice of the summed grad.

    Forward: ``(n_r, ...) -> (sum_r n_r, ...)``, the rows of every rank in rank order
    (ranks may hold different numbers of rows; see :func:`gather_with_grad` for what that
    does to a loss's gradient). Backward: all-reduce (sum) the incoming gradient over ranks,
    return the rows of this rank.
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:  # type: ignore[override]
        world = dist.get_world_size()
        x = x.contiguous()
        local_n = torch.tensor([x.shape[0]], device=x.device, dtype=torch.long)
        sizes_t = [torch.zeros_like(local_n) for _ in range(world)]
        dist.all_gather(sizes_t, local_n)
        sizes = [int(s.item()) for s in sizes_t]
        max_n = max(sizes)
        if x.shape[0] < max_n:
            pad = x.new_zeros((max_n - x.shape[0], *x.shape[1:]))
            x_padded = torch.cat([x, pad], dim=0)
        else:
            x_padded = x
        chunks = [torch.empty_like(x_padded) for _ in range(world)]
        dist.all_gather(chunks, x_padded)
        ctx.sizes = sizes
        ctx.rank = dist.get_rank()
        return torch.cat([c[:n] for c, n in zip(chunks, sizes, strict=True)], dim=0)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:  # type: ignore[override]
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        start = sum(ctx.sizes[: ctx.rank])
        return grad[start : start + ctx.sizes[ctx.rank]]


def gather_with_grad(x: Tensor) -> Tensor:
    """Concatenate ``x`` ``(n_r, ...)`` from all ranks along dim 0, keeping the gradient.

    Why: VICReg's variance and covariance are statistics of the *batch*. Computed per rank,
    they would be statistics of ``batch / world_size`` rows, so the loss (and the trained
    model) would silently change with the number of GPUs. Gathering makes every rank compute
    them on the global batch. A plain ``all_gather`` cuts the graph; this one's backward
    hands each rank the gradient of its own rows.

    Why sum, not mean, in the backward: every rank computes the same global terms, so each
    produces the same gradient w.r.t. the gathered tensor; summing gives ``world_size`` times
    the gradient of this rank's rows, and DDP's gradient averaging divides it back, so the
    parameter gradient of the variance and covariance terms equals that of one process on
    the whole batch. The whole loss's does only when every rank holds the same number of
    rows: VICReg's invariance term is a mean over this rank's rows, and DDP averages it over
    ranks with equal weights, so with unequal rows the rows of the smaller rank weigh more.
    Pretraining always feeds equal rows (``TwoViewFeed``
    gives every rank whole batches of ``batch_size``); the forward accepts unequal ones.

    Identity when not distributed (one process).
    """
    if not is_dist():
        return x
    return GatherWithGrad.apply(x)
