"""``status`` and the report (:func:`drac_ssl.run_state.finetune_saved_on_disk`) count a saved
fold as reused on resume exactly when the fine-tuning's resume reuses it
(:func:`drac_ssl.finetune._fold_reusable`): one check, :func:`drac_ssl.run_state.fold_weights_problem`.
They differed (a review, F2): the count checked the fold file's size alone, so a same-size
altered file (its time changed) or an older record's cut-short file was said "saved, resume
reuses them" and then retrained."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

from drac_ssl.finetune import _fold_reusable
from drac_ssl.run_state import TRAIN_VIEWS, _fold_saved


def _saved_fold(folder: Path, recorded: bool) -> tuple[dict, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "fold0.safetensors"
    save_file({"head.weight": np.arange(40, dtype=np.float32).reshape(5, 8)}, str(path))
    record = {"signature": "sig", "val_raw": [[0.1, 0.9], [0.7, 0.3]], "train_views": TRAIN_VIEWS}
    if recorded:
        stat = path.stat()
        record["weights_file"] = {"bytes": stat.st_size, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                                  "mtime_ns": stat.st_mtime_ns}
    (folder / "fold0.json").write_text(json.dumps(record))
    return record, path


def _both(folder: Path, record: dict, path: Path) -> tuple[bool, bool]:
    return _fold_saved(folder, 0, ["sig"]) == "reusable", _fold_reusable(record, {"sig"}, path, {})


def test_a_same_size_altered_fold_file_is_not_counted_as_reused(tmp_path: Path) -> None:
    record, path = _saved_fold(tmp_path, recorded=True)
    assert _both(tmp_path, record, path) == (True, True)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # a weight's byte: same size, still a readable safetensors file
    path.write_bytes(bytes(data))
    os.utime(path, ns=(record["weights_file"]["mtime_ns"] + 10**9,) * 2)
    assert _both(tmp_path, record, path) == (False, False)


def test_an_older_records_cut_short_fold_file_is_not_counted_as_reused(tmp_path: Path) -> None:
    record, path = _saved_fold(tmp_path, recorded=False)
    assert _both(tmp_path, record, path) == (True, True)
    with open(path, "r+b") as fh:
        fh.truncate(path.stat().st_size - 10)
    assert _both(tmp_path, record, path) == (False, False)


def test_a_damaged_fold_file_is_checked_once_per_command(tmp_path: Path, monkeypatch) -> None:
    """The frozen banks' look ahead (``_fold_reusable``) and the fold loop (``_weights_problem``)
    share one check of a fold file as it is: a damaged one was hashed twice (a review, F5)."""
    from drac_ssl import finetune

    record, path = _saved_fold(tmp_path, recorded=True)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    os.utime(path, ns=(record["weights_file"]["mtime_ns"] + 10**9,) * 2)
    calls: list[Path] = []
    check = finetune.fold_weights_problem
    monkeypatch.setattr(finetune, "fold_weights_problem", lambda r, p: calls.append(p) or check(r, p))
    problems: dict = {}
    assert not finetune._fold_reusable(record, {"sig"}, path, problems)
    assert finetune._weights_problem(record, path, problems) == "its bytes are not those saved (SHA-256)"
    assert calls == [path]


def test_an_older_records_fold_file_is_checked_without_torch(tmp_path: Path) -> None:
    """An older record (no ``weights_file``) has its fold file's header read; ``python -m app
    --bundle RUN`` on a killed run reaches that check before torch loads, so it must not load
    torch (a review, F1: it did, 0.9 s -> 5 s)."""
    import subprocess
    import sys

    run = tmp_path / "killed-ft"
    (run / "finetune").mkdir(parents=True)
    (run / "stages.json").write_text(json.dumps({"finetune": {"status": "running", "attempts": 1}}))
    (run / "finetune" / "folds_plan.json").write_text(
        json.dumps({"variants": ["linear"], "folds": [0, 1], "signatures": {"linear": ["sig"]}}))
    _saved_fold(run / "finetune" / "linear", recorded=False)
    code = ("import sys, drac_ssl.run_state as r; "
            f"print(r.finetune_saved_on_disk({str(run)!r})[0], 'torch' in sys.modules, sep='|')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "1 of 2 folds saved: linear 1 of 2|False", out
