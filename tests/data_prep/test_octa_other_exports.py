"""An OCTA researcher's exports from other devices, built from grey scans. Each test fails
without its fix:

* F1: a grey export saved as RGB with a small coloured overlay (a scale bar) made a plain
  folder colour "fundus" silently; it is grey with one warning, the summary names the
  modality, and ``--modality octa`` with a colour cache warns. Colour photographs stay colour.
  (The app and the export: tests/app/test_overlay_scans.py.)
* F2: a non-square grey OCTA scan's squeeze warning advised ``--fundus-crop`` (a fundus
  photograph's crop, which cuts into a scan); an OCTA set is told to crop or pad to a square.
* F3: the bit-depth warning's fix for a dim 16-bit TIFF read at another depth than the rest
  asked for PNG sBIT chunks, which a TIFF cannot hold: it says convert every image alike.
* F5: a truncated 16-bit TIFF leaked Pillow's ``UserWarning: Corrupt EXIF data`` to stderr
  before the decoder's clear error.

Small synthetic images (CPU, well under a second each)."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from shared_data import SHARED_DATA, need
from test_ingest import config, write_csv
from test_octa_device_sets import deep_scan

from data_prep import ingest
from data_prep.decode import GREY_SPREAD_LEVELS, OVERLAY_SHARE, colour_share, decode


def grey_scan(seed: int, side: int = 64) -> np.ndarray:
    """A smooth uint8 grey scan of ``side`` px."""
    coarse = np.random.default_rng(seed).uniform(20, 230, (8, 8)).astype(np.float32)
    return cv2.resize(coarse, (side, side), interpolation=cv2.INTER_LINEAR).astype(np.uint8)


def overlay_set(root: Path, n: int = 6, colour: bool = False) -> Path:
    """A plain folder of ``n`` grey scans saved as RGB PNG with a 6 x 6 px orange scale bar
    (0.9 % of the pixels), graded 0..2; ``colour``: tinted colour pictures instead."""
    root.mkdir(parents=True)
    for i in range(n):
        rgb = np.dstack([grey_scan(i)] * 3)
        if colour:
            rgb[..., 0] = np.clip(rgb[..., 0].astype(int) + 40, 0, 255)
        rgb[55:61, 55:61] = (0, 160, 255)  # BGR orange
        assert cv2.imwrite(str(root / f"s{i:02d}.png"), rgb)
    write_csv(root / "labels.csv", ["image name", "DR grade"], [[f"s{i:02d}.png", i % 3] for i in range(n)])
    return root


def test_a_grey_export_with_a_coloured_scale_bar_is_grey_octa_with_a_warning(tmp_path: Path) -> None:
    result = ingest.run(config(overlay_set(tmp_path / "d")), tmp_path / "out", verbose=False)
    assert result.channels == 1 and result.modality == "octa"
    (said,) = [w for w in result.warnings if "coloured overlay" in w]
    assert "6 images are grey pictures with a coloured overlay" in said and "0.9%" in said, said
    assert "read as grey" in said and "--channels 1 --modality octa" in said, said
    assert "without the overlay" in said
    assert "modality: octa (UW-OCTA scans)" in ingest.format_summary(result)
    # said as it is under --channels 3: kept in colour, and --modality octa warns of the colour
    kept = ingest.run(config(tmp_path / "d", channels=3, modality="octa"), tmp_path / "out3", verbose=False)
    assert kept.channels == 3
    assert any("kept in colour" in w for w in kept.warnings), kept.warnings
    assert any("--modality octa, but the cache is colour" in w and "UW-OCTA scans are grey" in w
               for w in kept.warnings), kept.warnings


def test_colour_pictures_stay_colour_and_octa_says_so(tmp_path: Path) -> None:
    result = ingest.run(config(overlay_set(tmp_path / "d", colour=True)), tmp_path / "out", verbose=False)
    assert result.channels == 3 and result.modality == "fundus"
    assert not [w for w in result.warnings if "overlay" in w], result.warnings
    octa = ingest.run(config(tmp_path / "d", modality="octa"), tmp_path / "o", verbose=False)
    assert octa.channels == 3
    assert any("--modality octa, but the cache is colour" in w for w in octa.warnings), octa.warnings


def test_real_colour_fundus_photographs_are_far_above_the_overlay_share() -> None:
    folder = need(SHARED_DATA / "aptos_samples" / "train_images", "the APTOS sample photographs")
    shares = [colour_share(decode(p.read_bytes(), str(p)).pixels) for p in sorted(folder.glob("*.png"))[:10]]
    assert shares and min(shares) > 10 * OVERLAY_SHARE, shares
    assert colour_share(np.dstack([grey_scan(0)] * 3)) == 0.0


@pytest.mark.parametrize("share", [0.005, 0.019])
def test_the_share_is_measured(share: float) -> None:
    rgb = np.dstack([grey_scan(1, 100)] * 3)
    rgb.reshape(-1, 3)[: round(share * 10000), 2] += GREY_SPREAD_LEVELS + 1
    assert colour_share(rgb) == pytest.approx(share)
    rgb.reshape(-1, 3)[-100:, 0] += GREY_SPREAD_LEVELS  # JPEG's chroma noise: not colour
    assert colour_share(rgb) == pytest.approx(share)


def test_a_non_square_octa_scan_is_not_told_to_use_the_fundus_crop(tmp_path: Path) -> None:
    root = tmp_path / "d"
    root.mkdir()
    for i in range(6):
        assert cv2.imwrite(str(root / f"s{i:02d}.png"), grey_scan(i)[:, :48])
    write_csv(root / "labels.csv", ["image name", "DR grade"], [[f"s{i:02d}.png", i % 3] for i in range(6)])
    result = ingest.run(config(root), tmp_path / "out", verbose=False)
    assert result.modality == "octa"
    squeezed = [w for w in result.warnings if "squeezed to a square" in w]
    assert len(squeezed) == 6 and all("crop or pad the scan to a square" in w and "add --fundus-crop" not in w
                                      for w in squeezed), squeezed
    # a photograph keeps the crop's advice
    photo = ingest.run(config(root, modality="fundus"), tmp_path / "photo", verbose=False)
    assert any("squeezed to a square" in w and "add --fundus-crop" in w for w in photo.warnings), photo.warnings


def test_a_cut_16_bit_tiff_says_only_the_decoder_s_words() -> None:
    buf = io.BytesIO()
    Image.fromarray(grey_scan(2).astype(np.uint16) * 64).save(buf, "TIFF")
    for cut in (100, 20):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            decoded = decode(buf.getvalue()[:cut], "cut.tif")
        assert decoded.pixels is None and [p.severity for p in decoded.problems] == ["error"], decoded.problems
        assert "truncated TIFF" in decoded.problems[0].what, decoded.problems
        assert [str(w.message) for w in caught] == [], cut


def test_a_dim_16_bit_tiff_is_told_to_convert_alike_not_to_write_sbit(tmp_path: Path) -> None:
    root = tmp_path / "d"
    root.mkdir()
    for i in range(6):  # 14-bit data in 16-bit TIFFs; one dim scan guessed as 12-bit
        assert cv2.imwrite(str(root / f"s{i:02d}.tif"), deep_scan(i, 48, 3000 if i == 4 else 16383))
    write_csv(root / "labels.csv", ["image name", "DR grade"], [[f"s{i:02d}.tif", i % 3] for i in range(6)])
    result = ingest.run(config(root), tmp_path / "out", verbose=False)
    (mixed,) = [w for w in result.warnings if "different bit depths" in w]
    fix = mixed.split(" -> ", 1)[1]
    assert "all 8-bit grey, converted alike from their 14 bits" in fix, fix
    assert "PNG with an sBIT chunk" in fix and "a TIFF has no field" in fix, fix

