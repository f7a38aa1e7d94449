"""Milliseconds of the frozen backbone's forward (the fine-tuning feature bank's
``forward_until(x, "layer4")``, no gradient, NCHW float32 on the CPU) with the stem's max-pool
through the channels-last kernel (``drac_ssl.models.Backbone._max_pool``) against the plain
``nn.MaxPool2d`` call it replaced, and whether the two give the same bits.

    python -m bench.stem_pool                       # 64 px x 64 and 224 px x 32, 7 repeats
    python -m bench.stem_pool --cases 64:64 --repeats 3

Cases ``SIZE:BATCH``: ``64:64`` is the default job's feature bank (``finetune.image_size`` 64,
batches of ``finetune.EXTRACT_BATCH`` = 64 images), ``224:32`` the DRAC recipe's images
(``configs/drac.yaml``). The backbone is the package's 1-channel ResNet-18 (random weights, eval
mode: the time does not depend on the weights' values). For each case it times the whole
forward to ``layer4`` and the stem's pool alone, both ways.

``plain`` is the earlier code path, kept here as the reference: conv1 -> bn1 -> relu ->
``maxpool`` on the NCHW map -> layer1..layer4, the backbone's own modules. Repeats interleave
the two paths in a random order, so drift of a shared machine's load spreads over both; a
figure is the median over repeats, the speed-up the ratio of medians measured in the same run,
and ``speedup_paired_median`` the median of each repeat's own ratio (less moved by a load that
drifts between repeats). ``bitwise_equal`` compares the two ``layer4`` maps (and the two pooled maps) bit for bit.
Writes ``bench/results/stem_pool.json``.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch

from bench.common import add_threads_argument, load_average, write_result
from drac_ssl.models import Backbone
from drac_ssl.runtime import apply_thread_policy
from drac_ssl.starting import python_command

DEFAULT_CASES = ("64:64", "224:32")


def parse_case(text: str) -> tuple[int, int]:
    """``"SIZE:BATCH"`` -> ``(size, batch)``; ValueError naming the form otherwise."""
    try:
        size, batch = (int(part) for part in text.split(":"))
    except ValueError:
        raise ValueError(f"--cases takes SIZE:BATCH pairs such as 64:64, got {text!r}") from None
    if size < 8 or batch < 1:
        raise ValueError(f"--cases {text!r}: the image side must be >= 8 px and the batch >= 1")
    return size, batch


def plain_forward(net: Backbone, x: torch.Tensor) -> torch.Tensor:
    """The earlier ``forward_until(x, "layer4")``: the stem's ``maxpool`` on the NCHW map."""
    h = net.maxpool(net.relu(net.bn1(net.conv1(x))))
    for name in net.stage_names[1:]:
        h = getattr(net, name)(h)
    return h


def _same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and torch.equal(a.contiguous().view(torch.int32), b.contiguous().view(torch.int32))


def _timed(fn: Callable[[], torch.Tensor]) -> tuple[float, torch.Tensor]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def measure_case(net: Backbone, size: int, batch: int, repeats: int, order: random.Random) -> dict[str, Any]:
    """Median milliseconds of both paths (forward to layer4, pool alone) for one case."""
    x = torch.randn(batch, net.in_channels, size, size, generator=torch.Generator().manual_seed(size + batch))
    with torch.no_grad():
        stem_map = net.relu(net.bn1(net.conv1(x)))
        paths = {"forward": {"plain": lambda: plain_forward(net, x),
                             "channels_last_pool": lambda: net.forward_until(x, "layer4")},
                 "pool": {"plain": lambda: net.maxpool(stem_map),
                          "channels_last_pool": lambda: net._max_pool(stem_map)}}
        outs: dict[tuple[str, str], torch.Tensor] = {}
        for what, pair in paths.items():  # warm-up (first-call allocations), and the outputs
            for method, fn in pair.items():
                outs[(what, method)] = fn()
        times: dict[tuple[str, str], list[float]] = {}
        for _ in range(repeats):
            for what, pair in paths.items():
                for method in order.sample(list(pair), len(pair)):
                    seconds, _out = _timed(pair[method])
                    times.setdefault((what, method), []).append(seconds)
    figures: dict[str, Any] = {"image_px": size, "batch": batch,
                               "stem_map_shape": list(stem_map.shape)}
    for what in paths:
        plain = statistics.median(times[(what, "plain")]) * 1e3
        fast = statistics.median(times[(what, "channels_last_pool")]) * 1e3
        paired = statistics.median(a / b for a, b in zip(times[(what, "plain")], times[(what, "channels_last_pool")],
                                                         strict=True))
        figures[what] = {"plain_ms": round(plain, 2), "channels_last_pool_ms": round(fast, 2),
                         "speedup": round(plain / fast, 2), "speedup_paired_median": round(paired, 2),
                         "bitwise_equal": _same_bits(outs[(what, "plain")], outs[(what, "channels_last_pool")]),
                         "plain_ms_each": [round(t * 1e3, 2) for t in times[(what, "plain")]],
                         "channels_last_pool_ms_each": [round(t * 1e3, 2) for t in times[(what, "channels_last_pool")]]}
    figures["plain_pool_share_of_plain_forward"] = round(figures["pool"]["plain_ms"] / figures["forward"]["plain_ms"], 3)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=python_command("bench.stem_pool"), allow_abbrev=False, description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", nargs="+", default=list(DEFAULT_CASES), metavar="SIZE:BATCH",
                        help="image side in px and batch size (default: 64:64 224:32)")
    parser.add_argument("--repeats", type=int, default=7, help="interleaved repeats (default 7)")
    parser.add_argument("--name", default="stem_pool")
    add_threads_argument(parser)
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be >= 1, got {args.repeats}")
    try:
        cases = [parse_case(c) for c in args.cases]
    except ValueError as exc:
        parser.error(str(exc))
    apply_thread_policy(args.threads)
    torch.manual_seed(0)
    net = Backbone("resnet18", in_channels=1).eval()
    order = random.Random(0)
    load_start = load_average()
    results: dict[str, Any] = {}
    for size, batch in cases:
        key = f"{size}px_batch{batch}"
        results[key] = f = measure_case(net, size, batch, args.repeats, order)
        print(f"  {key:16s} forward plain {f['forward']['plain_ms']:8.1f} ms  channels-last pool "
              f"{f['forward']['channels_last_pool_ms']:8.1f} ms  x{f['forward']['speedup']:.2f}  "
              f"(pool alone {f['pool']['plain_ms']:.1f} -> {f['pool']['channels_last_pool_ms']:.1f} ms, "
              f"x{f['pool']['speedup']:.2f}); bitwise equal {f['forward']['bitwise_equal']}", flush=True)
    write_result(args.name, {
        "what": "milliseconds of the frozen ResNet-18's forward to layer4 (no gradient, NCHW float32) and of "
                "the stem's max-pool alone: the pool through the channels-last kernel vs the plain "
                "nn.MaxPool2d call (interleaved, median of repeats)",
        "repeats": args.repeats,
        "load_average_1_5_15_min": {"start": load_start, "end": load_average()},
        "cases": results,
    })
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
