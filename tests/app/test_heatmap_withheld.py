"""An image headed "Not reliably gradable" gets no heatmap: no picture, no description, one line
why (an ophthalmologist's trial: a map was drawn and its strongest region named under a heading
saying there is no grade to read); a gradable image still gets its map."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.demo_bundle import build_demo_bundle
from app.predict import Predictor
from app.server import (
    HEATMAP_WITHHELD,
    AppSettings,
    _grade_single_now,
    _heatmap_markdown,
    heatmap_withheld,
)
from tests.helpers.app_fixtures import ramp_scan


@pytest.fixture(scope="module")
def predictor(tmp_path_factory: pytest.TempPathFactory, one_thread: None) -> Predictor:
    """A 64 px demo bundle (layer4: 2 x 2 cells, a map with a location)."""
    return Predictor(build_demo_bundle(tmp_path_factory.mktemp("run"), image_size=64, source_size=64, n_folds=1))


def _colour(path: Path) -> Path:
    """A colour picture: not reliably gradable by the grey demo model."""
    rng = np.random.default_rng(5)
    ramp = np.add.outer(np.arange(96), np.arange(96)) // 2
    Image.fromarray(np.stack([ramp + rng.integers(0, 40, (96, 96)) for _ in range(3)], -1)
                    .astype(np.uint8)).save(path)
    return path


def test_no_heatmap_for_an_image_not_reliably_gradable(predictor: Predictor, tmp_path: Path) -> None:
    photo = str(_colour(tmp_path / "photo.png"))
    markdown, _, original, overlay, details = _grade_single_now(predictor, AppSettings(gradcam=True), photo,
                                                                None, "photo.png")
    assert details["not_reliably_gradable"] and original is not None
    assert overlay is None and f"Heatmap: none: {HEATMAP_WITHHELD}." in markdown, markdown
    assert "Heatmap: the more" not in markdown and "Grad-CAM)" not in markdown
    assert details["heatmap"]["none"] == HEATMAP_WITHHELD and details["heatmap"]["shape"] is None
    scan = str(ramp_scan(tmp_path / "scan.png"))
    markdown, _, _, overlay, details = _grade_single_now(predictor, AppSettings(gradcam=True), scan, None, "scan.png")
    assert not details["not_reliably_gradable"] and overlay is not None and "none" not in details["heatmap"]


def test_a_withheld_heatmap_is_not_computed(predictor: Predictor, tmp_path: Path) -> None:
    # a review: its Grad-CAM still ran, its time in details["timings_seconds"] and the page's
    # "Inference ... s"; a gradable image still gets its map's time
    photo = str(_colour(tmp_path / "photo.png"))
    *_, details = _grade_single_now(predictor, AppSettings(gradcam=True), photo, None, "photo.png")
    assert details["not_reliably_gradable"] and "gradcam" not in details["timings_seconds"], details["timings_seconds"]
    assert details["heatmap"]["none"] == HEATMAP_WITHHELD
    scan = str(ramp_scan(tmp_path / "scan.png"))
    *_, details = _grade_single_now(predictor, AppSettings(gradcam=True), scan, None, "scan.png")
    assert "gradcam" in details["timings_seconds"] and details["heatmap"]["shape"] is not None


def test_a_one_cell_map_of_an_image_not_reliably_gradable_is_withheld(predictor: Predictor, tmp_path: Path) -> None:
    # a 1 x 1 cell map makes no heatmap (no_location), yet the page says it is withheld, not
    # that the map has no location (mutation audit M38)
    pred = predictor.predict_file(_colour(tmp_path / "photo.png"), gradcam=False)
    one_cell = replace(pred, heatmap=None, cam_cells=(1, 1), cam_skipped=False)
    assert one_cell.not_reliably_gradable and one_cell.no_location and one_cell.heatmap is None
    assert heatmap_withheld(one_cell)
    said = _heatmap_markdown(one_cell, predictor)
    assert said.startswith(f"Heatmap: none: {HEATMAP_WITHHELD}"), said
