"""A UMM run folder moved, copied or renamed mid-stage resumes: its checkpoint's starting
model is compared by content, not by its absolute path (docs/running.md); an older checkpoint
(path only) only with a starting model written no later than it."""
from __future__ import annotations

import os
from pathlib import Path

from drac_ssl.config import load_config
from drac_ssl.io import sha256_file
from drac_ssl.umm.stage import _resume_differences, _same_source

WEIGHTS = Path("pretrain") / "vicreg_model.safetensors"


def _run_folder(root: Path, data: bytes = b"weights-v1") -> Path:
    """A run folder whose starting model (written at t=1000 s) predates its UMM ``last.pt`` (2000 s)."""
    (root / "pretrain").mkdir(parents=True)
    (root / WEIGHTS).write_bytes(data)
    os.utime(root / WEIGHTS, (1000, 1000))
    (root / "umm" / "checkpoints").mkdir(parents=True)
    (root / "umm" / "checkpoints" / "last.pt").write_bytes(b"state")
    os.utime(root / "umm" / "checkpoints" / "last.pt", (2000, 2000))
    return root


def _differences(state: dict, run: Path) -> list[str]:
    return _resume_differences(state, load_config(None, []), run / WEIGHTS, run / "umm")


def test_moved_run_with_digest_resumes_and_other_weights_are_refused(tmp_path: Path) -> None:
    run = _run_folder(tmp_path / "other" / "k_mv")
    state = {"source": str(tmp_path / "runs" / "k_mv" / WEIGHTS), "source_sha256": sha256_file(run / WEIGHTS)}
    assert _differences(state, run) == []  # the old absolute path no longer exists: same bytes
    (run / WEIGHTS).write_bytes(b"weights-v2")
    diffs = _differences(state, run)
    assert len(diffs) == 1 and diffs[0].startswith("checkpoint: ") and "other weights: SHA-256" in diffs[0]


def test_old_checkpoint_of_a_moved_run_resumes_by_its_path_inside_the_run(tmp_path: Path) -> None:
    run = _run_folder(tmp_path / "other" / "renamed")
    gone = tmp_path / "runs" / "k_mv"
    assert _differences({"source": str(gone / WEIGHTS)}, run) == []  # path only (older checkpoints)
    assert _differences({"source": str(gone / "pretrain" / "checkpoints" / "epoch_3.pt")}, run) != []


def test_old_checkpoint_of_a_copied_run_compares_the_original_file(tmp_path: Path) -> None:
    original = _run_folder(tmp_path / "runs" / "k_cp")
    copy = _run_folder(tmp_path / "other" / "k_cp")
    state = {"source": str((original / WEIGHTS).resolve())}
    assert _differences(state, copy) == []
    (original / WEIGHTS).write_bytes(b"pretrained again")  # the original now holds other weights
    assert _differences(state, copy) != []


def test_old_checkpoint_refuses_a_starting_model_written_after_it(tmp_path: Path) -> None:
    run = _run_folder(tmp_path / "other" / "k_mv")
    moved = {"source": str(tmp_path / "runs" / "k_mv" / WEIGHTS)}  # gone: moved, or another run's
    in_place = {"source": str((run / WEIGHTS).resolve())}
    os.utime(run / WEIGHTS, (3000, 3000))  # pretrained again, or another run's model, after last.pt
    for state in (moved, in_place):
        diffs = _differences(state, run)
        assert len(diffs) == 1 and "was written after it" in diffs[0], diffs
    os.utime(run / WEIGHTS, (2000, 2000))  # as old as the checkpoint: mv and cp -a keep file times
    assert _differences(moved, run) == [] and _differences(in_place, run) == []
    (run / "umm" / "checkpoints" / "last.pt").unlink()  # its time unknown: path alone is not enough
    assert _differences(moved, run) != []


def test_old_checkpoint_refuses_a_starting_model_outside_the_run_folder(tmp_path: Path) -> None:
    # mutation audit M13: the recorded path gone and the name alike, but the starting model is
    # not inside the run folder (another run's): no moved run explains it, so it is refused
    run = _run_folder(tmp_path / "other" / "k_mv")
    elsewhere = _run_folder(tmp_path / "elsewhere" / "k_x")
    state = {"source": str(tmp_path / "runs" / "k_mv" / WEIGHTS)}  # gone
    assert _same_source(state, run / WEIGHTS, run, saved_at=2000.0)  # inside: a moved run
    assert not _same_source(state, elsewhere / WEIGHTS, run, saved_at=2000.0)
