"""The rule of one picture held twice (stdlib only): what makes an ungraded pool image a copy of
a test, training or earlier pool image, for the ingest (:func:`data_prep.ingest._pool_copies`,
which leaves such copies out of the pool) and the pretraining
(:func:`drac_ssl.pretrain._without_test_images`, which leaves a test image's copies out of an
older ingest's pool too): one rule, so that the two leave out the same images. The copies
among a set's images are grouped by :func:`copy_groups` (numpy and scipy imported when it is
called, so the pretraining's import stays stdlib only)."""
from __future__ import annotations

from collections.abc import Sequence

__all__ = ["copy_groups", "copy_keys"]


def copy_keys(sha256: str | None, pixels_sha256: str | None) -> list[str]:
    """The keys by which two images are one: the file's bytes (``b:`` its ``sha256``) and its
    decoded pixels (``p:`` its ``pixels_sha256``, :func:`data_prep.validate.pixels_sha256`: the
    same for a PNG re-save of a JPEG's decoded pixels, a PNG written from a MedMNIST ``.npz``
    row, or a grey image stored in three equal channels). Two images are copies when they share
    a key; a byte hash never meets a pixel hash. An empty or None digest (not recorded) gives
    no key. A MedMNIST row's ``sha256`` is that of the row's bytes, no file's: only its pixel
    hash can meet a file's."""
    return [key for key in (f"b:{sha256}" if sha256 else "",
                            f"p:{pixels_sha256}" if pixels_sha256 else "") if key]


def copy_groups(keys_of: Sequence[Sequence[str]]) -> list[list[int]]:
    """The copies among images whose keys are ``keys_of`` (one list per image,
    :func:`copy_keys`): images linked through any shared key, directly or by a chain (a~b by
    bytes, b~c by pixels), as one group (connected components,
    :func:`data_prep.near_duplicates.twin_groups`). Returns each group of two or more images as
    its indices into ``keys_of``, ascending, the groups in the order of their first image."""
    import numpy as np

    from data_prep.near_duplicates import twin_groups  # scipy: imported here, not by pretrain

    first_with: dict[str, int] = {}
    pairs = [(i, first_with.setdefault(key, i)) for i, keys in enumerate(keys_of) for key in keys]
    group = twin_groups(len(keys_of), np.array(pairs, dtype=np.int64).reshape(-1, 2))
    members: dict[int, list[int]] = {}
    for i, g in enumerate(group.tolist()):
        members.setdefault(g, []).append(i)
    return [indices for indices in members.values() if len(indices) > 1]
