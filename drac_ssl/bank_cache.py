"""The cache the frozen feature banks of one fine-tuning stage share (``finetune.freeze=frozen``).

With a frozen backbone every variant of the stage (scratch, vicreg, vicreg_umm) computes a
feature bank: the head inputs of ``finetune.frozen_train_views`` augmented training views
and of the eval view with its TTA flips, for every labelled image. What two variants compute
alike is done once:

- the **inputs**: each training view's input batches, by the view's seed (the views' seeds
  are the same for every variant), each batch ``(b, C, S, S)`` float32 on the **CPU**,
  cloned out of the DataLoader's shared memory (``/dev/shm`` with workers > 0, where
  Docker allows 64 MB by default): ``n x C x S x S x 4`` bytes a view, 10 MB for the
  default job's 611 grey images at 64 px, 123 MB at 224 px;
- the **stage maps**: per-batch maps after one stage, on **the device** the banks run on
  (``ctx.device``), keyed by (that stage's entry of the backbone's
  :meth:`~drac_ssl.models.Backbone.stage_digests`, the view, the flip): a backbone whose
  weights are bitwise those of an earlier one up to that stage (the UMM backbone, which
  re-tunes only the stages after ``umm.early_cut``) runs the later stages alone. A
  ResNet-18 layer3 map is 4 x 4 x 256 values an image at 64 px (10 MB a view and flip in
  float32) and 14 x 14 x 256 at 224 px (123 MB; half that under bf16 autocast). Which stage
  a backbone keeps is the deepest it shares with another backbone still to come
  (:meth:`BankCache.expect`); the weights are compared, not the settings assumed.

Inputs and maps count against one budget, :data:`BANK_CACHE_BYTES`, whatever their device;
what does not fit is not kept and is computed again when asked for, as without the cache.
The budget changes the time only, never a result: each cached value is what the uncached
path computes, the same operations on the same tensors in the same order
(:meth:`~drac_ssl.models.Backbone.run_stages`), so the banks are bit-identical.

Assumptions, which the fine-tuning stage keeps: the backbones run in eval mode (BatchNorm
uses its running statistics, part of the digests) under ``torch.no_grad``; within one cache
the device, the autocast setting and the memory format do not change; the cache lives for one
fine-tuning stage (``finetune._Context.banks``) and is emptied once the last backbone
announced has its bank (:meth:`BankCache.finished`) or the variants are done.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from drac_ssl.models import Backbone

BANK_CACHE_BYTES = 1 << 30
"""What one fine-tuning stage's :class:`BankCache` holds at most, in bytes (1 GiB), inputs
(CPU) and stage maps (``ctx.device``) together. At 64 px (the default job) everything fits;
at 224 px a view's inputs and a layer3 map take about 123 MB each, so the views and maps
that come first are kept and the rest is computed again each time (a budget, not a setting:
it changes the time only, never a result). Read when each :class:`BankCache` is made (each
fine-tuning stage), so that setting it to 0 for a stage runs the stage as without the cache:
``bench/bank_cache.py`` times the stage both ways so."""

MapKey = tuple[str, tuple[Any, ...], tuple[int, ...]]
"""(stage digest, view, flip dims): the key of a kept list of per-batch stage maps."""


def _nbytes(tensors: Iterable[Tensor]) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


@dataclass
class BankCache:
    """The inputs and stage maps the frozen feature banks of one fine-tuning stage share
    (the module docstring says what, where and how big). ``held`` counts the bytes kept
    against ``budget``; :meth:`fits` alone decides what may be kept."""

    budget: int = field(default_factory=lambda: BANK_CACHE_BYTES)  # read when made
    inputs: dict[int, list[Tensor]] = field(default_factory=dict)  # view seed -> CPU batches
    maps: dict[MapKey, list[Tensor]] = field(default_factory=dict)  # -> device maps
    expected: list[tuple[str, ...]] = field(default_factory=list)  # digests of the banks to come
    held: int = 0  # bytes kept

    def expect(self, digests: tuple[str, ...]) -> None:
        """Announce a backbone (its :meth:`~drac_ssl.models.Backbone.stage_digests`) whose
        bank is to be computed in this stage, so that the ones before it keep the maps it
        shares with them."""
        self.expected.append(tuple(digests))

    def finished(self, digests: tuple[str, ...]) -> None:
        """The bank of backbone ``digests`` is built: it is no longer to come. Once no
        announced backbone is left to come, everything kept is let go (:meth:`clear`);
        a backbone never announced changes nothing."""
        digests = tuple(digests)
        if digests in self.expected:
            self.expected.remove(digests)
            if not self.expected:
                self.clear()

    def clear(self) -> None:
        """Let go of every input and map kept (the budget is whole again)."""
        self.inputs.clear()
        self.maps.clear()
        self.held = 0

    def stage_to_keep(self, digests: tuple[str, ...]) -> int | None:
        """The index of the deepest stage whose map the backbone ``digests`` shares with
        another announced backbone still to come (equal digest), or None."""
        need = 2 if tuple(digests) in self.expected else 1  # itself announced: one more
        for k in range(len(digests) - 1, -1, -1):
            if sum(e[k] == digests[k] for e in self.expected if len(e) == len(digests)) >= need:
                return k
        return None

    def deepest_map(self, digests: tuple[str, ...], view: tuple[Any, ...],
                    flip: tuple[int, ...]) -> tuple[int, list[Tensor] | None]:
        """``(first stage to run, per-batch maps to run it on)``: from the deepest stage
        whose map of this view and flip is kept for these weights, else ``(0, None)`` (from
        the inputs)."""
        for k in range(len(digests) - 1, -1, -1):
            maps = self.maps.get((digests[k], view, flip))
            if maps is not None:
                return k + 1, maps
        return 0, None

    def fits(self, tensors: Iterable[Tensor]) -> bool:
        """Whether ``tensors`` fit in what is left of the budget: the one keep-or-not
        decision (:meth:`keep_inputs` and :meth:`keep_map` keep only what it admits)."""
        return self.held + _nbytes(tensors) <= self.budget

    def keep_inputs(self, seed: int, batches: list[Tensor]) -> list[Tensor]:
        """Keep clones of training view ``seed``'s input batches when they fit (a clone: a
        DataLoader worker's batch lives in shared memory); returns what the caller uses
        (the clones, or ``batches`` themselves when not kept)."""
        if not self.fits(batches):
            return batches
        kept = [x.clone() for x in batches]
        self.held += _nbytes(kept)
        self.inputs[seed] = kept
        return kept

    def keep_map(self, key: MapKey, maps: list[Tensor]) -> bool:
        """Keep the per-batch stage ``maps`` under ``key`` when they fit; whether they were."""
        if not self.fits(maps):
            return False
        self.held += _nbytes(maps)
        self.maps[key] = maps
        return True


def view_inputs(cache: BankCache, seed: int, draw: Callable[[], Iterable[Tensor]]) -> list[Tensor]:
    """The input batches of training view ``seed``: ``cache``'s, else ``list(draw())`` kept
    (cloned) while they fit the budget."""
    kept = cache.inputs.get(seed)
    if kept is not None:
        return kept
    return cache.keep_inputs(seed, list(draw()))


@torch.no_grad()
def banked_features(backbone: Backbone, features_from_map: Callable[[Tensor], Tensor],
                    digests: tuple[str, ...], stop: int, view: tuple[Any, ...],
                    inputs: Callable[[], list[Tensor]], flips: Sequence[tuple[int, ...]],
                    cache: BankCache, device: torch.device, bf16: bool) -> Tensor:
    """Head inputs ``(len(flips), n, ...)`` float32 on ``device`` of ``backbone`` (in eval
    mode) up to stage ``stop - 1``, mapped by ``features_from_map``, for the input batches
    ``inputs()`` (CPU, each flipped along its dims) of ``view`` (a key naming them:
    ``("train", seed)``, ``("eval",)``); ``digests``: the backbone's
    :meth:`~drac_ssl.models.Backbone.stage_digests` up to ``stop``.

    Each flip starts from the deepest stage map ``cache`` holds for these weights, and keeps
    the map of the stage shared with another backbone to come
    (:meth:`BankCache.stage_to_keep`) while it fits. The same operations on the same batches
    as running every stage (bit-identical); ``inputs`` is called only when a flip has no map."""
    keep_at = cache.stage_to_keep(digests)
    batches: list[Tensor] | None = None
    per_flip: list[Tensor] = []
    for dims in flips:
        start, maps = cache.deepest_map(digests, view, dims)
        if maps is None and batches is None:
            batches = inputs()
        kept: list[Tensor] | None = [] if keep_at is not None and keep_at >= start else None
        chunks = []
        for h in (maps if maps is not None else batches or []):
            if maps is None:
                h = h.to(device)
                h = h.flip(dims) if dims else h
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bf16):
                if kept is not None and keep_at is not None:
                    h = backbone.run_stages(h, start, keep_at + 1)
                    kept.append(h)
                    kept = kept if cache.fits(kept) else None  # past the budget: not kept
                    h = backbone.run_stages(h, keep_at + 1, stop)
                else:
                    h = backbone.run_stages(h, start, stop)
                h = features_from_map(h)
            chunks.append(h.float())
        if kept is not None and keep_at is not None:
            cache.keep_map((digests[keep_at], view, dims), kept)
        per_flip.append(torch.cat(chunks))
    return torch.stack(per_flip)
