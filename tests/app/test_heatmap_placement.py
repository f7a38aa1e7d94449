"""Where the app puts the Grad-CAM heat, and what it says about it.

A toy bundle whose Grad-CAM is known: the backbone's ``layer4`` map is the model input's
brightness (the mean over the channels) average-pooled to 16 x 16 and copied over 512
channels, and the head's logit of the last grade is the mean of that map; so the map of the
last grade is the input's brightness, brightest at a white spot. Built from
:func:`app.demo_bundle.build_demo_bundle` (colour, ICDR) with ``data.fundus_crop``: the
model reads the fundus disc cropped and padded to a square, and the heat must land on the
spot of the upload, not where the uncropped upload stretched over the model's square would
put it. Also: coarse maps drawn as cells and said so, a regression head's heatmap explaining
its score, and the page's words about the preprocessing.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from app.demo_bundle import build_demo_bundle
from app.predict import Predictor

ICDR = ["No DR", "Mild", "Moderate", "Severe", "PDR"]


def _toy_bundle_dir(root: Path, **prep: bool) -> Path:
    bundle = build_demo_bundle(root, image_size=128, source_size=256, n_folds=1, head="linear",
                               grade_names=ICDR, channels=3)
    meta_path = bundle / "metadata.json"
    meta = json.loads(meta_path.read_text())
    if prep:
        meta["input"]["ingest_preprocessing"] = {"fundus_crop": False, "graham": False,
                                                 "graham_mask": True, **prep}
    meta_path.write_text(json.dumps(meta))
    return bundle


def _toy_predictor(bundle_dir: Path) -> Predictor:
    """The toy bundle's predictor: the brightness backbone and the last grade's mean head."""
    from drac_ssl.grading.bundle import load_bundle

    bundle = load_bundle(bundle_dir, "cpu")
    model = bundle.models[0]

    def brightness(x: Tensor, cut: str) -> Tensor:
        return F.adaptive_avg_pool2d(x.float().mean(1, keepdim=True), 16).expand(-1, 512, -1, -1).contiguous()

    model.backbone.forward_until = brightness  # type: ignore[method-assign]
    with torch.no_grad():
        model.head.fc.weight.zero_()
        model.head.fc.bias.zero_()
        model.head.fc.weight[-1] = 1.0 / 512
    predictor = Predictor(bundle, tta=False)
    predictor.untrained = False  # known weights, not the demo's random ones: the page's words for a model
    return predictor


def _fundus(height: int, width: int, centre: tuple[int, int], radius: int,
            spot: tuple[int, int]) -> np.ndarray:
    """A dark fundus disc (40) on black, a white spot (radius 30) at ``spot`` (y, x)."""
    yy, xx = np.mgrid[0:height, 0:width]
    image = np.where((yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius ** 2, 40, 0)
    image = np.where((yy - spot[0]) ** 2 + (xx - spot[1]) ** 2 <= 30 ** 2, 255, image)
    return np.repeat(image.astype(np.uint8)[..., None], 3, axis=-1)


def _heat_centre(heat: np.ndarray) -> tuple[float, float]:
    ys, xs = np.nonzero(heat >= 0.5 * heat.max())
    w = heat[ys, xs]
    return float((ys * w).sum() / w.sum()), float((xs * w).sum() / w.sum())


@pytest.mark.parametrize("centre, spot", [
    ((300, 600), (300, 480)),  # a whole disc: cropped to its box, no padding
    ((200, 600), (150, 690)),  # a disc cut by the top edge: cropped, then padded to a square
], ids=["whole-disc", "cut-disc"])
def test_the_heat_lands_on_the_spot_of_a_fundus_crop_bundle(tmp_path: Path, one_thread: None,
                                                             centre: tuple[int, int],
                                                             spot: tuple[int, int]) -> None:
    predictor = _toy_predictor(_toy_bundle_dir(tmp_path / "run", fundus_crop=True))
    image = _fundus(600, 1200, centre, 250, spot)
    pred = predictor.predict(image, explain=len(ICDR) - 1)
    assert pred.heatmap is not None and pred.heatmap.shape == (600, 1200)
    assert pred.cam_cells == (16, 16)
    y, x = _heat_centre(pred.heatmap)
    assert abs(y - spot[0]) <= 6 and abs(x - spot[1]) <= 6, (y, x, spot)
    # the model read nothing outside the disc's box: no heat there
    x0, x1 = centre[1] - 250, centre[1] + 250
    assert float(pred.heatmap[:, :x0 - 4].max()) == 0.0 and float(pred.heatmap[:, x1 + 4:].max()) == 0.0
    summary = pred.heatmap_summary(predictor.target_layer)
    assert summary is not None and summary["image_box"][0] == pytest.approx(x0, abs=4)
    from app.server import _heatmap_markdown, heatmap_method

    # the page in plain words, the details JSON's method in technical ones
    assert "The model read only the fundus disc's box, so there is no heat outside it." in _heatmap_markdown(
        pred, predictor)
    assert "put back over the fundus disc's box" in heatmap_method(pred, predictor)


def test_without_the_crop_the_heat_still_lands_on_the_spot(tmp_path: Path, one_thread: None) -> None:
    predictor = _toy_predictor(_toy_bundle_dir(tmp_path / "run"))
    pred = predictor.predict(_fundus(600, 1200, (300, 600), 250, (300, 480)), explain=len(ICDR) - 1)
    assert pred.heatmap is not None
    y, x = _heat_centre(pred.heatmap)
    assert abs(y - 300) <= 10 and abs(x - 480) <= 10  # a cell is 75 x 37 px of this squeezed image


def test_without_a_crop_the_placement_is_the_plain_resize() -> None:
    """Pixel centres to pixel centres, as cv2.resize maps them: a whole image (no crop, no
    padding) gets the bilinear stretch the app made before, to float32 rounding."""
    from app.gradcam import place_heatmap, resize_heatmap
    from data_prep.cache import RowGeometry

    rng = np.random.default_rng(1)
    heat = rng.random((64, 64)).astype(np.float32)
    for shape in [(600, 1200), (300, 520), (64, 64), (50, 40)]:
        got = place_heatmap(heat, RowGeometry.whole(*shape), shape)
        np.testing.assert_allclose(got, resize_heatmap(heat, shape), rtol=0, atol=1e-3)


def test_the_preprocessing_reports_its_geometry_and_keeps_its_pixels(tmp_path: Path) -> None:
    """The geometry is a report: the model input is bit-identical with or without asking."""
    from drac_ssl.grading.predict import preprocess_image

    meta = json.loads((_toy_bundle_dir(tmp_path / "run", fundus_crop=True, graham=True)
                       / "metadata.json").read_text())
    image = _fundus(600, 1200, (200, 600), 250, (150, 690))
    geometry: list = []
    x = preprocess_image(image, meta, geometry=geometry)
    assert torch.equal(x, preprocess_image(image, meta))
    (g,) = geometry
    x0, y0, x1, y1 = g.box
    assert abs(x0 - 350) <= 4 and abs(x1 - 850) <= 4 and y0 == 0 and abs(y1 - 450) <= 4
    top, bottom, left, right = g.margins
    assert left == right == 0 and top + (y1 - y0) + bottom == x1 - x0 and g.cropped


def test_the_page_says_the_crop_and_the_graham_filter(tmp_path: Path, one_thread: None) -> None:
    from app.server import _image_caption, _resize_words

    predictor = Predictor(_toy_bundle_dir(tmp_path / "run", fundus_crop=True, graham=True), gradcam=False)
    words = _resize_words(predictor.bundle.spec)
    assert "crop to the fundus disc" in words and "Graham" in words
    caption = _image_caption(predictor)
    assert "cropped to the fundus disc" in caption and "Graham" in caption
    plain = Predictor(_toy_bundle_dir(tmp_path / "plain"), gradcam=False)
    assert "crop" not in _resize_words(plain.bundle.spec) and "crop" not in _image_caption(plain)


# --------------------------------------------------------------------------------------
# Coarse maps: cells, not a blob


@pytest.fixture(scope="module")
def coarse_predictor(tmp_path_factory: pytest.TempPathFactory, one_thread: None) -> Predictor:
    """The default demo bundle at 64 px: layer4 is 2 x 2 cells."""
    return Predictor(build_demo_bundle(tmp_path_factory.mktemp("run"), image_size=64,
                                       source_size=128, n_folds=2))


def _texture(h: int, w: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:h, 0:w]
    return np.clip(60 + 40 * np.sin(xx / 7.0) * np.cos(yy / 11.0) + rng.normal(0, 12, (h, w)),
                   0, 255).astype(np.uint8)


def test_a_coarse_map_is_drawn_as_cells_and_said_to_be_coarse(coarse_predictor: Predictor,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from app.server import _heatmap_markdown

    monkeypatch.setattr(coarse_predictor, "untrained", False)  # a trained model's words

    image = _texture(512, 512)
    found = None
    for grade in range(3):  # a grade whose map is not all zeros
        pred = coarse_predictor.predict(image, explain=grade)
        if not pred.heatmap_empty:
            found = pred
            break
    assert found is not None and found.cam_cells == (2, 2)
    heat = found.heatmap
    # nearest-neighbour: 4 constant quarters, no smooth blob
    assert len(np.unique(heat)) <= 4
    for rows in (slice(0, 256), slice(256, 512)):
        for cols in (slice(0, 256), slice(256, 512)):
            assert float(np.ptp(heat[rows, cols])) == 0.0
    summary = found.heatmap_summary(coarse_predictor.target_layer)
    assert summary is not None and summary["cells"] == [2, 2] and summary["coarse"] is True
    assert "which quarter of the image, not which lesion" in summary["meaning"]
    text = _heatmap_markdown(found, coarse_predictor)
    assert "2 × 2 cells" in text and "which quarter of the image, not which lesion" in text


def test_a_fine_map_stays_smooth(tmp_path: Path, one_thread: None) -> None:
    predictor = _toy_predictor(_toy_bundle_dir(tmp_path / "run"))
    pred = predictor.predict(_fundus(600, 1200, (300, 600), 250, (300, 480)), explain=len(ICDR) - 1)
    assert pred.heatmap is not None and len(np.unique(pred.heatmap)) > 50
    summary = pred.heatmap_summary(predictor.target_layer)
    assert summary is not None and summary["coarse"] is False


# --------------------------------------------------------------------------------------
# A regression head explains its score, whatever grade is asked for


def test_a_regression_bundle_offers_and_reports_the_score_only(tmp_path: Path, one_thread: None) -> None:
    from app.server import AppSettings, _grade_single, _heatmap_choices

    predictor = Predictor(build_demo_bundle(tmp_path / "run", image_size=64, source_size=128,
                                            n_folds=1, head="regression"))
    assert [value for _, value in _heatmap_choices(predictor)] == ["-1"]
    path = tmp_path / "x.png"
    from PIL import Image

    Image.fromarray(_texture(256, 256)).save(path)
    markdown, _, _, _, details = _grade_single(predictor, AppSettings(), str(path), -1)
    assert details["heatmap"]["explains"] == "score" and "explains_grade" not in details["heatmap"]
    markdown, label, *_, details = _grade_single(predictor, AppSettings(), str(path), 2)
    assert label is None and "error" in details and "score" in details["error"]
    assert "Cannot grade this file" not in markdown
    # a classification bundle keeps every grade
    classes = Predictor(build_demo_bundle(tmp_path / "cls", image_size=64, source_size=128, n_folds=1))
    assert [value for _, value in _heatmap_choices(classes)] == ["-1", "0", "1", "2"]


def test_a_crop_box_of_the_whole_image_is_not_called_cropped(tmp_path: Path, one_thread: None) -> None:
    """A review: the ingest's crop to the disc keeps the whole image when the bright region
    fills the frame (no dark surround: an already cropped or filtered copy) and warns so, but
    the geometry said ``cropped``, so the page's heatmap text said "put back over the fundus
    disc's box ... no heat outside it" under that warning. A box that is the whole image is now
    not cropped; a disc on a dark surround still is. The cached rows are the same either way."""
    from app.server import _heatmap_markdown, heatmap_method
    from data_prep.cache import CacheOptions, cache_rows

    options = CacheOptions(target="native", expected_side=0, fundus_crop=True)
    framed = np.full((300, 400, 3), 150, np.uint8)  # bright to the edges: no dark surround
    framed[100:140, 200:240] = 255
    geometry: list = []
    rows, problems = cache_rows(framed, [32], options, "framed.png", geometry=geometry)
    assert any("no dark surround" in p.what for p in problems)
    (g,) = geometry
    assert g.box == (0, 0, 400, 300) and not g.cropped
    assert np.array_equal(rows[32], cache_rows(framed, [32], options, "framed.png")[0][32])
    disc = _fundus(600, 1200, (300, 600), 250, (300, 480))
    geometry = []
    cache_rows(disc, [32], options, "disc.png", geometry=geometry)
    assert geometry[0].cropped and geometry[0].box != (0, 0, 1200, 600)
    predictor = _toy_predictor(_toy_bundle_dir(tmp_path / "run", fundus_crop=True))
    pred = predictor.predict(framed, explain=len(ICDR) - 1)
    assert any("no dark surround" in w for w in pred.warnings)
    text = _heatmap_markdown(pred, predictor)
    assert "fundus disc's box" not in text, text
    method = heatmap_method(pred, predictor)
    assert "fundus disc's box" not in method and "not cropped" in method, method
