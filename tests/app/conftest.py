"""Fixtures the app's test modules share."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import torch


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """One torch thread: faster than two on a shared 2-core machine; restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def predictor(tmp_path_factory: pytest.TempPathFactory, one_thread: None) -> Any:
    """A tiny untrained demo bundle's Predictor (one fold, 32 px), one per test module; a module
    that needs another bundle defines its own ``predictor``."""
    from app.demo_bundle import build_demo_bundle
    from app.predict import Predictor

    return Predictor(build_demo_bundle(tmp_path_factory.mktemp("run"), image_size=32,
                                       source_size=48, n_folds=1))
