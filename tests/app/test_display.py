"""The page's pictures: the overlay drawn at the display size, the JPEG files and their bound."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app import server
from app.gradcam import overlay_heatmap


def test_overlay_at_display_size_matches_blending_at_full_size() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (1024, 1024), dtype=np.uint8)
    yy, xx = np.mgrid[0:1024, 0:1024]
    heat = np.clip(1 - np.hypot(yy - 300, xx - 700) / 400, 0, 1).astype(np.float32)  # smooth
    got = server._display_overlay(image, heat)
    want = server._display(overlay_heatmap(image, heat))
    assert got.shape == want.shape == (768, 768, 3) and got.dtype == np.uint8
    # the same picture: a smooth heatmap, the image's noise averaged alike by INTER_AREA
    assert np.abs(got.astype(int) - want.astype(int)).mean() < 3.0


def test_display_files_are_jpeg_and_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server, "DISPLAY_FILES_KEPT", 2)
    files = server._DisplayFiles()
    grey = np.full((40, 60), 128, np.uint8)
    rgb = np.zeros((40, 60, 3), np.uint8)
    rgb[..., 0] = 255  # red stays red (RGB in, BGR written)
    paths = [Path(files.write(grey, "image")), Path(files.write(rgb, "gradcam"))]
    with Image.open(paths[1]) as im:
        assert im.format == "JPEG" and im.size == (60, 40)
        r, g, b = np.asarray(im.convert("RGB"))[20, 30]
        assert r > 200 and g < 60 and b < 60
    paths.append(Path(files.write(grey, "image")))
    assert not paths[0].exists() and paths[1].exists() and paths[2].exists()
