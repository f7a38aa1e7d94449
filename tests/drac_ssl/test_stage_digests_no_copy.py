"""Performance review (minor): :meth:`drac_ssl.models.Backbone.stage_digests` copied every
parameter into a ``bytes`` object (``.numpy().tobytes()``) before hashing it; it hashes the
tensor's own buffer now. The digests are the same."""

from __future__ import annotations

import hashlib
import tracemalloc
from types import SimpleNamespace

import torch
from torch import nn

from drac_ssl.models import Backbone


def _backbone() -> SimpleNamespace:
    """What stage_digests reads of a backbone (a real one takes seconds to build): two stages,
    one with a 4 MiB weight and a BatchNorm's buffers."""
    torch.manual_seed(0)
    stages = {"stem": nn.Sequential(nn.Conv2d(1, 8, 3), nn.BatchNorm2d(8)), "layer1": nn.Linear(1024, 1024)}
    return SimpleNamespace(architecture=("toy", 1), stage_names=tuple(stages), _stage=stages.__getitem__)


def _copied_digests(backbone) -> tuple[str, ...]:
    """The digests as they were computed before, byte copies and all."""
    digest = hashlib.sha256(repr(tuple(backbone.architecture)).encode())
    out = []
    for name in backbone.stage_names:
        for key, t in backbone._stage(name).state_dict().items():
            t = t.detach().to("cpu").contiguous()
            digest.update(f"{name}.{key}:{t.dtype}:{tuple(t.shape)};".encode())
            digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
        out.append(digest.copy().hexdigest())
    return tuple(out)


def test_the_digests_hash_the_weights_in_place_and_are_unchanged() -> None:
    backbone = _backbone()
    largest = 1024 * 1024 * 4
    tracemalloc.start()
    try:
        digests = Backbone.stage_digests(backbone)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < largest / 4, (peak, largest)  # no copy of the 4 MiB weight
    assert digests == _copied_digests(backbone)
