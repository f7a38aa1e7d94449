"""bench/disk_use.py: hard-linked weights count once, checkpoints and weights are summed."""

from __future__ import annotations

import os
from pathlib import Path

from bench.disk_use import MIB, disk_use


def test_hard_links_count_once_and_the_parts_are_named(tmp_path: Path) -> None:
    run = tmp_path / "run"
    for folder in ("finetune/vicreg", "bundle", "pretrain/checkpoints", "umm/checkpoints", "bundles"):
        (run / folder).mkdir(parents=True)
    (run / "finetune" / "vicreg" / "fold0.safetensors").write_bytes(b"w" * (2 * MIB))
    os.link(run / "finetune" / "vicreg" / "fold0.safetensors", run / "bundle" / "fold0.safetensors")
    (run / "pretrain" / "checkpoints" / "last.pt").write_bytes(b"c" * MIB)
    (run / "umm" / "checkpoints" / "last.pt").write_bytes(b"c" * (MIB // 2))
    (run / "bundles" / "extra.bin").write_bytes(b"x" * MIB)
    (run / "stages.json").write_text("{}")
    figures = disk_use(run, skip=("bundles",))
    assert figures["per_top_level_mib"]["finetune"] == 2.0
    assert figures["per_top_level_mib"]["bundle"] == 0.0  # a link to the fine-tuning's file
    assert "bundles" not in figures["per_top_level_mib"]
    assert figures["total_mib"] == 3.5
    assert figures["checkpoints_total_mib"] == 1.5 and figures["fine_tuned_weights_mib"] == 2.0
    assert disk_use(run)["total_mib"] == 4.5  # nothing skipped


def test_a_folder_counts_its_files_once_and_follows_no_link(tmp_path: Path) -> None:
    """docs/running.md's "Disk after command (1)" cites the set-up's .venv and the phantom set
    beside the run folder: ``--folder`` measures any folder, a hard link once, a symbolic link (a
    venv's bin/python) neither counted nor followed."""
    import json

    from bench.disk_use import folder_use, main

    venv = tmp_path / "venv"
    (venv / "lib" / "nvidia").mkdir(parents=True)
    (venv / "lib" / "nvidia" / "libcudnn.so").write_bytes(b"n" * (3 * MIB))
    os.link(venv / "lib" / "nvidia" / "libcudnn.so", venv / "lib" / "again.so")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "python").write_bytes(b"p" * MIB)
    (venv / "bin").symlink_to(outside, target_is_directory=True)
    (venv / "python").symlink_to(outside / "python")
    assert folder_use(venv) == {"path": str(venv), "total_mib": 3.0, "files": 1}
    assert main(["--folder", str(venv), "--name", "disk_use_t", "--out-dir", str(tmp_path / "out")]) == 0
    written = json.loads((tmp_path / "out" / "disk_use_t.json").read_text())
    assert written["folders"] == {str(venv): {"path": str(venv), "total_mib": 3.0, "files": 1}}
    assert "runs" not in written
