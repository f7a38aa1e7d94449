"""A checkpoint that needs code unpickled is refused in the words of a weights file that holds
code (security review F9): never torch's "Re-running torch.load with weights_only set to False
will likely succeed", never "the file may be truncated"."""

from __future__ import annotations

import os
import pathlib
from pathlib import Path

import pytest
import torch

from drac_ssl.checkpoint import CHECKPOINT_REFUSED_FIX, load_checkpoint, save_checkpoint
from drac_ssl.weights_file import torch_load_detail

CALLED: list[str] = []


def _harmless() -> str:
    """What the payload below would call were it unpickled: it records the call."""
    CALLED.append("called")
    return "harmless"


class _Payload:
    """Unpickles as a call of os.getcwd (harmless, but code all the same)."""

    def __reduce__(self) -> tuple[object, tuple[()]]:
        return os.getcwd, ()


class _OwnCall:
    """Unpickles as a call of this module's :func:`_harmless`."""

    def __reduce__(self) -> tuple[object, tuple[()]]:
        return _harmless, ()


def _checkpoint(tmp_path: Path, extra: object) -> Path:
    path = tmp_path / "last.pt"
    save_checkpoint(path, {"model": {"w": torch.zeros(3)}, "epoch": 2, "extra": extra})
    return path


def test_a_checkpoint_calling_os_getcwd_is_refused_with_do_not_load_it(tmp_path: Path) -> None:
    path = _checkpoint(tmp_path, _Payload())
    with pytest.raises(ValueError) as caught:
        load_checkpoint(path)
    words = str(caught.value)
    assert words.startswith(f"{path}: unpickling this file would call posix.getcwd") or \
        words.startswith(f"{path}: unpickling this file would call nt.getcwd")
    assert "which a drac_ssl checkpoint has no reason to do" in words
    assert "fix: do NOT load it with weights_only=False (that runs code stored in the file)" in words
    assert CHECKPOINT_REFUSED_FIX in words
    assert "will likely succeed" not in words and "truncated" not in words
    assert "Re-running" not in words


def test_a_checkpoint_calling_a_function_of_the_code_is_refused_and_nothing_runs(tmp_path: Path) -> None:
    path = _checkpoint(tmp_path, _OwnCall())
    CALLED.clear()
    with pytest.raises(ValueError) as caught:
        load_checkpoint(path)
    words = str(caught.value)
    assert not CALLED  # refused before anything was called
    assert f"{__name__}._harmless" in words  # the global it needs is listed
    assert "needs Python objects that a drac_ssl checkpoint never holds" in words
    assert "do NOT load it with weights_only=False" in words and "will likely succeed" not in words


def test_a_checkpoint_holding_a_path_object_is_refused_the_same_way(tmp_path: Path) -> None:
    path = _checkpoint(tmp_path, pathlib.PurePosixPath("/data"))
    with pytest.raises(ValueError) as caught:
        load_checkpoint(path)
    words = str(caught.value)
    assert "pathlib.PurePosixPath" in words and "do NOT load it with weights_only=False" in words
    assert "will likely succeed" not in words and "add_safe_globals" not in words


def test_a_cut_short_checkpoint_keeps_its_truncated_fix_without_torch_advice(tmp_path: Path) -> None:
    path = _checkpoint(tmp_path, 1)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError) as caught:
        load_checkpoint(path)
    words = str(caught.value)
    assert "cannot be read as a drac_ssl checkpoint" in words and "was cut short or altered since" in words
    assert "weights_only" not in words


def test_a_plain_checkpoint_still_loads(tmp_path: Path) -> None:
    state = load_checkpoint(_checkpoint(tmp_path, {"lr": 0.1}))
    assert state["epoch"] == 2 and torch.equal(state["model"]["w"], torch.zeros(3))


def test_torch_load_detail_drops_the_weights_only_advice() -> None:
    torch_words = ("Weights only load failed. In PyTorch 2.6, we changed the default value of the "
                   "`weights_only` argument in `torch.load` from `False` to `True`. Re-running "
                   "`torch.load` with `weights_only` set to `False` will likely succeed, but it can "
                   "result in arbitrary code execution.\n\n\nTrying to load unsupported GLOBAL "
                   "posix.system whose module posix is blocked.\n\nCheck the documentation of "
                   "torch.load to learn more")
    assert torch_load_detail(RuntimeError(torch_words)) == (
        "Trying to load unsupported GLOBAL posix.system whose module posix is blocked.")
    assert torch_load_detail(RuntimeError("PytorchStreamReader failed reading zip archive")) == (
        "PytorchStreamReader failed reading zip archive")


def test_the_weights_file_refusal_is_the_same_wording(tmp_path: Path) -> None:
    """pretrain.backbone.weights given the same file: the words the checkpoint's borrow."""
    from drac_ssl.weights_file import WeightsFileError, read_weights_file

    path = _checkpoint(tmp_path, _Payload())
    with pytest.raises(WeightsFileError) as caught:
        read_weights_file(path)
    words = str(caught.value)
    assert "which a weights file has no reason to do" in words
    assert "fix: do NOT load it with weights_only=False (that runs code stored in the file)" in words
    assert "will likely succeed" not in words
