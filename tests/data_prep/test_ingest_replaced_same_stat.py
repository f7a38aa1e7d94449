"""A file replaced by another of the same byte count and mtime (``cp -p``, ``rsync -a``, an
archive's extraction; a fixed-size uncompressed re-export) is not reused unread from the
finished cache: its inode or ctime (the state's ``identity``) tells it (review of data_prep's
mutation audit: the cache kept the old picture's rows)."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest
from test_ingest import SIZE, config, make_plain, smooth_image

from data_prep import ingest

STORED = [cv2.IMWRITE_PNG_COMPRESSION, 0]  # uncompressed: same size whatever the picture




def _small(root: Path) -> Path:
    data = make_plain(root, {f"{i:03d}.png": i % 2 for i in range(1, 5)})
    for i, png in enumerate(sorted(data.glob("*.png"))):  # small: a fast test
        assert cv2.imwrite(str(png), smooth_image(7 + i, 256), STORED)
    return data


def test_a_file_replaced_keeping_size_and_mtime_gets_its_new_rows(tmp_path: Path) -> None:
    data = _small(tmp_path / "d")
    cfg = config(data, grades=["Normal", "DR"], expected_side=0)
    out = tmp_path / "out"
    first = ingest.run(cfg, out, verbose=False)
    old_row = np.load(first.cache_paths[SIZE])[0]
    target = data / "001.png"
    before = target.stat()
    new = tmp_path / "new.png"
    assert cv2.imwrite(str(new), smooth_image(4242, 256), STORED)
    assert new.stat().st_size == before.st_size
    os.replace(new, target)
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))  # as cp -p / rsync -a leave it

    again = ingest.run(cfg, out, verbose=False)
    row = np.load(again.cache_paths[SIZE])[0]
    fresh = cv2.resize(smooth_image(4242, 256), (SIZE, SIZE), interpolation=cv2.INTER_AREA)
    assert np.abs(row.astype(int) - fresh).max() <= 1 and not np.array_equal(row, old_row)
    assert again.n_decoded == 1


def test_a_state_without_identity_is_hashed_once_not_decoded_then_reused_unread(
        tmp_path: Path, count_decodes: Counter[str], monkeypatch: pytest.MonkeyPatch) -> None:
    data = _small(tmp_path / "d")
    cfg = config(data, grades=["Normal", "DR"], expected_side=0)
    out = tmp_path / "out"
    first = ingest.run(cfg, out, verbose=False)
    state_path = first.cache_paths[SIZE].parent / "state.json"
    state = json.loads(state_path.read_text(encoding="utf-8"))
    assert all(len(f["identity"]) == 2 for f in state["files"].values())
    for entry in state["files"].values():  # as a state written before identities were kept
        del entry["identity"]
    state_path.write_text(json.dumps(state), encoding="utf-8")

    reads: Counter[str] = Counter()
    real = ingest.cache.process_file

    def counting(task):  # type: ignore[no-untyped-def]
        reads[task.rel] += 1
        return real(task)

    monkeypatch.setattr(ingest.cache, "process_file", counting)
    count_decodes.clear()
    ingest.run(cfg, out, verbose=False)
    assert count_decodes["decodes"] == 0 and sum(reads.values()) == 4  # each read once, none decoded
    assert all(len(f["identity"]) == 2 for f in
               json.loads(state_path.read_text(encoding="utf-8"))["files"].values())

    reads.clear()
    third = ingest.run(cfg, out, verbose=False)
    assert not reads and (third.n_decoded, third.n_reused) == (0, 4)
