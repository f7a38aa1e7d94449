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
