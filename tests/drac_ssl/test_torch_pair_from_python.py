"""A notebook review: the torch/torchvision pair was checked only on the command lines, so a
notebook (Colab, Kaggle: a preinstalled torch beside the pinned torchvision) that called
``drac_ssl.train.main([...])`` or ``load_bundle`` got torchvision's raw "operator
torchvision::nms does not exist". Both now raise ``TorchPairError`` with the versions and the
fix first, the versions read once per process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from drac_ssl import torch_pair, train
from drac_ssl.grading import load_bundle
from drac_ssl.torch_pair import TorchPairError, require_torch_pair


@pytest.fixture()
def mismatched(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """torch 2.13 beside torchvision 0.29 (built for 2.14), as pip leaves a preinstalled torch;
    the names read, one per reading."""
    read: list[str] = []

    def version(name: str) -> str | None:
        read.append(name)
        return {"torch": "2.13.0+cu126", "torchvision": "0.29.1"}.get(name)

    monkeypatch.setattr(torch_pair, "installed_version", version)
    torch_pair._installed_pair_problem.cache_clear()
    yield read
    torch_pair._installed_pair_problem.cache_clear()  # the real pair again for later tests


def test_train_main_and_load_bundle_raise_the_pairs_words_before_anything_runs(
        mismatched: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # without the check a run would start here
    monkeypatch.setattr(train, "_command", lambda argv: pytest.fail("the run started"))
    with pytest.raises(TorchPairError, match=r"torchvision 0\.29\.1 is built for torch 2\.14, not the installed "
                                             r"torch 2\.13\.0\+cu126") as caught:
        train.main(["-c", "retinamnist", "--first-try"])
    assert "fix:" in str(caught.value) and "keep torch 2.13" in str(caught.value)
    with pytest.raises(TorchPairError, match="built for torch 2.14"):
        load_bundle(tmp_path / "no_such_bundle")  # the pair first: no BundleError
    assert isinstance(caught.value, ImportError)
    assert mismatched == ["torch", "torchvision"]  # read once, cached for the process


def test_a_matching_pair_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch_pair, "installed_version", {"torch": "2.14.1", "torchvision": "0.29.1"}.get)
    torch_pair._installed_pair_problem.cache_clear()
    try:
        require_torch_pair()
    finally:
        torch_pair._installed_pair_problem.cache_clear()


def test_a_matching_pair_is_read_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """A review nit: every require_torch_pair call (each train.main, load_bundle) read both
    versions again for the out-of-range warning; a matching pair is read once."""
    read: list[str] = []

    def installed_version(name: str) -> str:
        read.append(name)
        return {"torch": "2.14.1", "torchvision": "0.29.1"}[name]

    monkeypatch.setattr(torch_pair, "installed_version", installed_version)
    torch_pair._installed_pair_problem.cache_clear()
    torch_pair._said_installed_pair_warning.cache_clear()
    try:
        require_torch_pair()
        first = len(read)
        require_torch_pair()
        require_torch_pair()
        assert first and len(read) == first, read
    finally:
        torch_pair._installed_pair_problem.cache_clear()
        torch_pair._said_installed_pair_warning.cache_clear()
