"""The bit-depth warning's fix in the set's own channels, without CMYK as a depth group (a
clinic data manager's finding F5): colour photographs with one 8-bit CMYK JPEG and one 16-bit
grey PNG were told "1 file is 8-bit CMYK ... export all 16-bit grey ... or all 8-bit grey"."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from data_prep import ingest
from drac_ssl.config import DataConfig


def colour_set(root: Path, n: int = 10) -> list[str]:
    """``n`` distinct colour JPEGs (64 px, upsampled noise); their names."""
    root.mkdir(parents=True)
    rng = np.random.default_rng(5)
    names = [f"eye{i}.jpg" for i in range(n)]
    for name in names:
        coarse = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        Image.fromarray(coarse).resize((64, 64), Image.Resampling.BILINEAR).save(root / name, quality=95)
    return names


def ingest_of(root: Path, names: list[str], out: Path) -> ingest.IngestResult:
    lines = ["image name,DR grade", *(f"{n},{i % 5}" for i, n in enumerate(names))]
    (root / "labels.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return ingest.run(DataConfig(root=str(root), cache_sizes=[32], n_folds=2, workers=1,  # type: ignore[arg-type]
                                 grades=["icdr"]), out, verbose=False)


def test_colour_photographs_are_told_to_export_rgb_and_cmyk_is_no_depth_group(tmp_path: Path) -> None:
    root = tmp_path / "d"
    names = colour_set(root)
    Image.open(root / names[1]).convert("CMYK").save(root / names[1])  # 8-bit CMYK JPEG
    grey = np.asarray(Image.open(root / names[2]).convert("L")).astype(np.uint16) * 257
    Image.fromarray(grey).save(root / "eye2.png")  # 16-bit grey
    (root / names[2]).unlink()
    names[2] = "eye2.png"
    result = ingest_of(root, names, tmp_path / "out")
    (mixed,) = [w for w in result.warnings if "scaled from different bit depths" in w]
    what, fix = mixed.split(" -> ", 1)
    assert "CMYK" not in what and "8 files are 8-bit RGB" in what and "1 file is 16-bit grey" in what
    assert fix == "export every image alike: all 8-bit RGB, so that every image is scaled alike"
    assert any("CMYK" in w and "converted to RGB" in w for w in result.warnings), result.warnings


def test_an_8_bit_cmyk_file_among_8_bit_rgb_ones_gets_no_bit_depth_warning(tmp_path: Path) -> None:
    root = tmp_path / "d"
    names = colour_set(root)
    Image.open(root / names[1]).convert("CMYK").save(root / names[1])
    result = ingest_of(root, names, tmp_path / "out")
    assert not [f for f in result.findings if f.kind == "bit-depth"], result.findings
    assert {fact["encoding"] for fact in result.bit_depths} == {"RGB", "CMYK"}  # still recorded
