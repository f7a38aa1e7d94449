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


def test_files_of_the_same_content_and_the_image_cache_are_said(tmp_path: Path, capsys) -> None:
    """Two copies of one backbone in distinct files count as the same content (one copy
    freeable); a hard link, a file of other bytes of the same size and small equal files do not."""
    from bench.disk_use import main

    run = tmp_path / "run"
    for folder in ("pretrain", "umm", "finetune/vicreg", "bundle", "data/cache"):
        (run / folder).mkdir(parents=True)
    (run / "pretrain" / "backbone.safetensors").write_bytes(b"b" * (2 * MIB))
    (run / "umm" / "backbone.safetensors").write_bytes(b"b" * (2 * MIB))  # the same bytes, another file
    (run / "finetune" / "vicreg" / "backbone.safetensors").write_bytes(b"b" * (2 * MIB - 1) + b"x")
    os.link(run / "pretrain" / "backbone.safetensors", run / "bundle" / "backbone.safetensors")
    (run / "pretrain" / "small.json").write_text("{}")
    (run / "umm" / "small.json").write_text("{}")
    (run / "data" / "cache" / "128px.npy").write_bytes(b"i" * (3 * MIB))
    (run / "stages.json").write_text("{}")
    figures = disk_use(run)
    assert figures["same_content_mib"] == 4.0 and figures["same_content_freeable_mib"] == 2.0
    # the linked file is named by its first path, as the total counts it (bundle before pretrain)
    assert figures["same_content_groups"] == [["bundle/backbone.safetensors", "umm/backbone.safetensors"]]
    assert figures["image_cache_mib"] == 3.0
    assert main(["--run-dir", str(run), "--out-dir", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "run: image cache (data/cache) 3.0 MiB" in out
    assert "run: same content (files >= 1 MiB, SHA-256) 4.0 MiB in 2 files, of it 2.0 MiB in copies beyond one" in out


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
