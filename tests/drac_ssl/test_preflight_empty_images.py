"""The train preflight names a 0-byte image file (a clinic data manager's finding F6c): it
listed the folder without a word, and the ingest stage found the empty file only after the
run had started."""

from __future__ import annotations

from pathlib import Path

from drac_ssl import preflight, train

SMALL_BATCHES = ["pretrain.batch_size=8", "umm.batch_size=8"]


def folder(root: Path, empty: set[int]) -> Path:
    """25 listed images (the preflight opens none), graded ``i % 5``, those of ``empty`` 0 bytes."""
    root.mkdir()
    rows = []
    for i in range(25):
        (root / f"{i:03d}.png").write_bytes(b"" if i in empty else b"not decoded by the preflight")
        rows.append(f"{i:03d}.png,{i % 5}")
    (root / "labels.csv").write_text("image name,DR grade\n" + "\n".join(rows) + "\n")
    return root


def found(root: Path) -> list[preflight.Finding]:
    cfg, sources, _ = preflight.read_config(train.DEFAULT_CONFIG, [f"data.root={root}",
                                                                  "data.grades=[icdr]", *SMALL_BATCHES])
    return preflight.check(cfg, Path("runs-that-do-not-exist") / "x", sources)


def test_an_empty_image_file_is_an_error_before_the_ingest(tmp_path: Path) -> None:
    root = folder(tmp_path / "d", {7})
    lines = [f.line for f in found(root) if f.severity == "error"]
    assert any(f"{root / '007.png'}: empty file (0 bytes)" in line
               and "re-copy the image from the original data" in line for line in lines), lines
    assert not [f for f in found(folder(tmp_path / "clean", set())) if "0 bytes" in f.line]
