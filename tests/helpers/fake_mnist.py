"""A fake MNIST folder for the tiny MNIST pretraining tests (tests/helpers is on the test path:
``from fake_mnist import fake_mnist``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def fake_mnist(root: Path) -> Path:
    """``root/mnist_{train,test}.npz`` (``root`` made here) of 48 and 24 random 28 px uint8
    digits (seed 0), labels 0..9 in turn; returns ``root``."""
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", 48), ("test", 24)):
        np.savez(root / f"mnist_{split}.npz", x=rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
                 y=(np.arange(n) % 10).astype(np.uint8))
    return root
