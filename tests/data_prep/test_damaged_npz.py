"""A damaged MedMNIST ``.npz`` (a review: a truncated download, a ``.npy`` renamed ``.npz``)
is one IngestError naming the file and the fix, from the ingest and from the training's
preflight alike, never a ``zipfile.BadZipFile`` or ``TypeError`` traceback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from data_prep import ingest
from data_prep.layout import discover
from data_prep.problems import IngestError
from drac_ssl.config import DataConfig


def _npz(path: Path) -> Path:
    rng = np.random.default_rng(0)
    np.savez_compressed(path, train_images=rng.integers(0, 256, (10, 28, 28, 3), dtype=np.uint8),
                        train_labels=(np.arange(10) % 5).reshape(-1, 1).astype(np.uint8))
    return path


def _truncated(tmp_path: Path) -> Path:
    whole = _npz(tmp_path / "whole.npz").read_bytes()
    cut = tmp_path / "retinamnist.npz"
    cut.write_bytes(whole[: len(whole) // 2])  # the central directory lost: not a zip
    return cut


def _npy_renamed(tmp_path: Path) -> Path:
    path = tmp_path / "retinamnist.npz"
    with open(path, "wb") as fh:
        np.save(fh, np.zeros((4, 28, 28, 3), np.uint8))
    return path


@pytest.mark.parametrize("make", [_truncated, _npy_renamed], ids=["truncated", "npy-renamed"])
def test_a_damaged_npz_is_one_clear_error(tmp_path: Path, make) -> None:
    npz = make(tmp_path)
    cfg = DataConfig(root=str(npz), cache_sizes=[28], n_folds=2, workers=1)
    layout = discover(cfg)
    with pytest.raises(IngestError) as caught:  # the preflight's call (drac_ssl/preflight.py)
        ingest.collect_images(cfg, layout, ["0", "1", "2", "3", "4"])
    message = str(caught.value)
    assert str(npz) in message and "not a readable .npz (incomplete download?)" in message
    assert "-> re-download it" in message
    with pytest.raises(IngestError, match="re-download it"):  # the ingest command's
        ingest.run(cfg, tmp_path / "out", verbose=False)
