"""A second review of the OCTA exports (octa_fx). Each test fails without its fix:

* F1: a JPEG export's chroma subsampling and ringing spread a small coloured overlay (text)
  over more pixels whose channels differ by a level or two: a grey scan with a text header
  was colour again. A pixel is coloured only when its channels differ by more than
  GREY_SPREAD_LEVELS (the Grad-CAM overlay's rule too).
* F2: a TIFF whose other pages are a declared preview (NewSubfileType bit 0) or copies of the
  first is a plain note, not "only the first is used"; the page-count words are mended.
* F3: ``channels.grey_train`` counts the overlaid scans as grey; a set mixing colour
  photographs and overlaid scans is told to be split.
* F4: records of an older cache (no measured share) are said to be unmeasured.
* F5: the preflight's thumbnail is a nearest-neighbour subsample, not an average.

Small synthetic images (CPU, well under a second each)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, TiffImagePlugin
from test_ingest import config, write_csv
from test_octa_other_exports import grey_scan

from data_prep import ingest
from data_prep.decode import GREY_SPREAD_LEVELS, OVERLAY_SHARE, decode


def text_overlaid(side: int = 384, lines: int = 2, text: str = "3x3 mm OD 2026-12-07") -> Image.Image:
    """A smooth grey scan as RGB with ``lines`` lines of yellow ``text`` (Pillow's default font)."""
    image = Image.fromarray(np.dstack([grey_scan(0, side)] * 3))
    draw = ImageDraw.Draw(image)
    for line in range(lines):
        draw.text((4, 4 + 12 * line), text, fill=(255, 255, 0))
    return image


def encoded(image: Image.Image, fmt: str, **options: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **options)
    return buf.getvalue()


def test_a_jpeg_export_with_a_text_header_stays_a_grey_scan() -> None:
    jpeg = decode(encoded(text_overlaid(), "JPEG", quality=95), "scan.jpg")
    pixels = jpeg.pixels.astype(int)
    any_level = np.mean((pixels.max(-1) - pixels.min(-1)) > 0)
    assert any_level > OVERLAY_SHARE  # what the 1-level rule counted: a colour picture
    assert jpeg.colour and 0 < jpeg.colour_share < OVERLAY_SHARE, (any_level, jpeg.colour_share)
    png = decode(encoded(text_overlaid(), "PNG"), "scan.png")
    assert png.colour_share < jpeg.colour_share
    # chroma noise alone (GREY_SPREAD_LEVELS) on a grey scan is no colour
    noisy = np.dstack([grey_scan(1, 64)] * 3)
    noisy[::2, :, 2] += GREY_SPREAD_LEVELS
    assert decode(encoded(Image.fromarray(noisy), "PNG"), "n.png").colour_share == 0.0


def tiff(pages: list[Image.Image], infos: list[dict[int, int] | None]) -> bytes:
    """A multi-page TIFF of ``pages``, each with its ``tiffinfo`` tags (or none)."""
    buf = io.BytesIO()
    with TiffImagePlugin.AppendingTiffWriter(buf) as writer:
        for page, info in zip(pages, infos, strict=True):
            page.save(writer, "TIFF", **({"tiffinfo": info} if info else {}))
            writer.newFrame()
    return buf.getvalue()


def test_a_tiff_with_a_preview_page_or_a_copy_is_a_plain_note() -> None:
    scan = Image.fromarray(grey_scan(2, 256))
    preview = scan.resize((128, 128))
    other = Image.fromarray(grey_scan(3, 256))
    for name, data in {"preview": tiff([scan, preview], [None, {254: 1}]),
                       "copy": tiff([scan, scan.copy()], [None, None])}.items():
        decoded = decode(data, name)
        np.testing.assert_array_equal(decoded.pixels, grey_scan(2, 256))
        (said,) = decoded.problems
        assert said.severity == "note" and said.kind == "frames", said
        assert "the first is used, the others being a preview" in said.what, said
        assert "only the first is used" not in said.what
    for name, data in {"another scan": tiff([scan, other], [None, None]),
                       "undeclared small page": tiff([scan, preview], [None, None]),
                       "preview first": tiff([preview, scan], [{254: 1}, None])}.items():
        (said,) = decode(data, name).problems
        assert said.severity == "warning" and "2 frames: only the first is used" in said.what, name
    many = decode(tiff([scan] * 10, [None] * 10), "copies").problems[0].what
    assert many.endswith(" px, and 2 more pages)"), many


def mixed_set(root: Path, photos: int = 6, scans: int = 12) -> Path:
    """A plain folder of ``photos`` tinted colour pictures and ``scans`` grey scans with an
    orange scale bar (0.9 % of the pixels), graded 0..2."""
    root.mkdir(parents=True)
    names = []
    for i in range(photos + scans):
        rgb = np.dstack([grey_scan(i)] * 3)
        if i < photos:
            rgb[..., 0] = np.clip(rgb[..., 0].astype(int) + 40, 0, 255)
        rgb[55:61, 55:61] = (0, 160, 255)
        names.append(f"{'p' if i < photos else 's'}{i:02d}.png")
        assert cv2.imwrite(str(root / names[-1]), rgb)
    write_csv(root / "labels.csv", ["image name", "DR grade"], [[n, i % 3] for i, n in enumerate(names)])
    return root


def test_overlaid_scans_count_as_grey_training_images_and_a_mixed_set_is_told_to_split(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = ingest.run(config(mixed_set(tmp_path / "d")), out, verbose=False)
    assert result.channels == 3 and result.n_grey_train == 12
    summary = json.loads((out / "ingest_summary.json").read_text(encoding="utf-8"))
    assert summary["channels"]["grey_train"] == 12
    (said,) = [w for w in result.warnings if "coloured overlay" in w]
    assert "mixes 6 colour photographs and grey scans and should be split" in said, said
    fix = said.split(" -> ", 1)[1]
    assert fix.startswith("split the set") and "--channels 3 --modality fundus" in fix, fix
    # F4: a cache written before the share was kept: its colour records are not measured
    state_path = result.cache_paths[min(result.cache_paths)].parent / "state.json"
    state = json.loads(state_path.read_text(encoding="utf-8"))
    for rel, entry in state["files"].items():
        if rel.startswith(("p00", "s1")):
            entry.pop("colour_share")
    state_path.write_text(json.dumps(state), encoding="utf-8")
    again = ingest.run(config(tmp_path / "d"), out, verbose=False)
    assert again.n_decoded == 0
    (said,) = [w for w in again.warnings if "coloured overlay" in w]
    assert "4 images are grey pictures" in said, said
    assert ("9 colour records from an older cache are not measured (counted as colour): ingest "
            "into a new --out") in said, said


def test_the_preflight_thumbnail_does_not_spread_a_thin_overlay(tmp_path: Path) -> None:
    path = tmp_path / "scan.png"
    text_overlaid(1024, 20, "3x3 mm OD 2026-12-07 ZEISS PLEX Elite").save(path)
    share = decode(path.read_bytes(), "scan.png").colour_share
    assert 0.01 < share < OVERLAY_SHARE, share  # an averaged thumbnail measured 3.7 %
    assert not ingest._colour_by_header([path])
    photo = np.asarray(Image.open(path)).copy()
    photo[..., 0] = np.clip(photo[..., 0].astype(int) + 40, 0, 255)
    Image.fromarray(photo).save(tmp_path / "photo.png")
    assert ingest._colour_by_header([tmp_path / "photo.png"])
