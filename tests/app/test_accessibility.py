"""The page reads for everyone (an accessibility review): heat colours whose lightness rises
with the heat for normal and red-green colour-blind vision, outlines of the strongest heat that
show on any background, with a key and a caption that names no hue; alt text and a sentence
saying where the heat is; a cleared upload clears the result; number columns that do not break mid-number; the result announced to screen
readers; column names that say what they hold."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch

from app.demo_bundle import build_demo_bundle
from app.predict import Prediction, Predictor

# Machado, Oliveira & Fernandes 2009, severity 1, on linear RGB
DEUTERANOPIA = np.array([[0.367, 0.861, -0.228], [0.280, 0.673, 0.047], [-0.012, 0.043, 0.969]])
PROTANOPIA = np.array([[0.152, 1.053, -0.205], [0.115, 0.786, 0.099], [-0.004, -0.048, 1.052]])
VISIONS = {"normal": None, "deuteranopia": DEUTERANOPIA, "protanopia": PROTANOPIA}


def lightness(rgb: np.ndarray, simulation: np.ndarray | None = None) -> np.ndarray:
    """CIE L* (0 black .. 100 white) of sRGB uint8 colours ``(..., 3)``, as seen through a
    colour-vision ``simulation`` matrix on linear RGB (None: normal vision)."""
    c = np.asarray(rgb, dtype=np.float64) / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    if simulation is not None:
        linear = np.clip(linear @ simulation.T, 0.0, 1.0)
    y = linear @ np.array([0.2126, 0.7152, 0.0722])
    f = np.where(y > 216 / 24389, np.cbrt(y), (24389 / 27 * y + 16) / 116)
    return 116 * f - 16


# --------------------------------------------------------------------------------------
# 1. Heat colours, key and caption


def contrast(first: np.ndarray, second: np.ndarray, simulation: np.ndarray | None = None) -> np.ndarray:
    """WCAG 2.2 contrast ratio (1 .. 21) of sRGB uint8 colours ``(..., 3)``, as seen through a
    colour-vision ``simulation`` (None: normal vision)."""
    def luminance(rgb: np.ndarray) -> np.ndarray:
        c = np.asarray(rgb, dtype=np.float64) / 255.0
        linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
        if simulation is not None:
            linear = np.clip(linear @ simulation.T, 0.0, 1.0)
        return linear @ np.array([0.2126, 0.7152, 0.0722])
    lighter, darker = np.maximum(luminance(first), luminance(second)), np.minimum(luminance(first), luminance(second))
    return (lighter + 0.05) / (darker + 0.05)


@pytest.mark.parametrize("vision", list(VISIONS))
def test_heat_colours_get_lighter_with_heat_for_every_vision(vision: str) -> None:
    """Jet's peak (dark red) turned dark olive, as dark as OCTA's black background, for a
    red-green colour-blind reader, while its yellow ring looked like the peak."""
    from app.gradcam import blend_heat, heat_colours

    heat = np.linspace(0.0, 1.0, 17, dtype=np.float32)[None]  # one row, cold to hot
    black = np.zeros(heat.shape, np.uint8)  # OCTA's background
    seen = lightness(blend_heat(black, heat)[0], VISIONS[vision])
    assert np.all(np.diff(seen) > 0.5), seen.round(1)
    # the colours themselves (the key) also rise in lightness, darkest to lightest
    key = lightness(heat_colours(np.linspace(0.0, 1.0, 17)), VISIONS[vision])
    assert np.all(np.diff(key) > 0.5), key.round(1)
    # the peak on black is the key's bright yellow, not an olive (a review: L* 52.6 against 90.9)
    assert seen[-1] >= key[-1] - 15, (seen[-1], key[-1])


def _blob(size: int = 240) -> np.ndarray:
    """A smooth hot spot off centre, falling to 0 at 70 px: its 50 % and 90 % regions are discs."""
    yy, xx = np.mgrid[0:size, 0:size]
    return np.clip(1 - np.hypot(yy - 110, xx - 130) / 70, 0, 1).astype(np.float32)


def _edge(mask: np.ndarray) -> np.ndarray:
    """The pixels of ``mask`` (bool) with a 4-neighbour outside it."""
    inner = cv2.erode(mask.astype(np.uint8), np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], np.uint8))
    return mask & (inner == 0)


def _near(mask: np.ndarray, radius: int) -> np.ndarray:
    return cv2.dilate(mask.astype(np.uint8), np.ones((2 * radius + 1,) * 2, np.uint8)) > 0


def _lined(white: np.ndarray, region: np.ndarray, width: int, offset: int = 0) -> float:
    """The share of the band just outside ``region`` where its outline runs that is white: the
    pixels whose distance from the region is the line's (:func:`app.gradcam.draw_outlines` draws
    it round the region grown by half the line's ``width`` + 1 + 2 px), within half a pixel, or
    ``offset`` pixels further out. About 1 for a solid line, a half for a dashed one, less for a
    dotted one, 0 for none."""
    gap = width // 2 + 3 + offset
    far = cv2.distanceTransform((~region).astype(np.uint8), cv2.DIST_L2, 5)
    band = (far >= gap - 0.5) & (far <= gap + 0.5)
    return float(white[band].mean())


@pytest.mark.parametrize("vision", ["normal", "deuteranopia"])
@pytest.mark.parametrize("grey", [0, 128, 200])
def test_the_strongest_heat_is_outlined_on_any_background(grey: int, vision: str) -> None:
    """A review: blended viridis over a grey-200 image was L* 80.6 at no heat, ~68 at 0.2-0.4 and
    85.7 at the maximum (heat 0.6 looked like 0.1), and under deuteranopia mid heat turned plain
    grey. What the page now promises instead: the part within 10% of the maximum that holds it has
    a solid outline, the region at half of it or more a dashed one, each a white line on a black
    edge that stands out (WCAG's 3:1 for graphics) from whatever lies beside it, in either vision,
    drawn just outside the region, which shows as the colours draw it."""
    from app.gradcam import (
        OUTLINE_SHARES,
        STRONGEST_SHARE,
        blend_heat,
        outline_width,
        overlay_heatmap,
        strongest_heat,
    )

    heat = _blob()
    image = np.full(heat.shape, grey, np.uint8)
    out = overlay_heatmap(image, heat)
    simulation = VISIONS[vision]
    width = outline_width(out.shape)
    white = (lightness(out, simulation) > 99) & (out.min(-1) == 255)
    dark = lightness(out, simulation) < 1
    assert OUTLINE_SHARES["solid"] == STRONGEST_SHARE  # the outlined region is the one named in words
    found = strongest_heat(heat)
    assert found is not None and found["stands_out"]
    hot = heat >= STRONGEST_SHARE * heat.max()
    assert hot[found["y"], found["x"]]  # the named place lies inside the solid outline
    # solid: all round the 90 % region, a white line a few pixels outside its edge, its dark edge
    # beside it; the region itself, its peak included, shows as the colours draw it (a review: the
    # line lay on the region's own edge pixels)
    assert _lined(white, hot, width) > 0.95 and np.all(_near(dark, width + 4)[_edge(hot)])
    assert np.array_equal(out[hot], blend_heat(image, heat)[hot])
    # dashed: the 50 % edge is partly white (the dashes), partly not (the gaps)
    outer = heat >= OUTLINE_SHARES["dashed"] * heat.max()
    on_dash = _lined(white, outer, width)
    assert 0.3 <= on_dash <= 0.7, on_dash
    assert np.all(_near(white, 4 * width + 8)[_edge(outer)])  # short gaps: a line, not scattered dots
    assert not (white & outer & ~_near(hot, 3 * width)).any()  # the dashes lie outside the 50 % region
    # the line (white core or its black edge) stands out from what lies just outside it
    line = _near(white, 0)
    around = _near(line, width + 3) & ~_near(line, width + 1) & ~dark & ~white
    assert around.any()
    outside = out[around]
    best = np.maximum(contrast(outside, np.array([255, 255, 255]), simulation),
                      contrast(outside, np.array([0, 0, 0]), simulation))
    assert best.min() >= 3.0, best.min()
    # nothing outlined on an empty map: the image shows unchanged
    assert np.array_equal(overlay_heatmap(image, np.zeros_like(heat)), np.dstack([image] * 3))


def test_a_second_hot_part_is_outlined_dotted_and_only_the_named_one_solid() -> None:
    """A review: a map with two hot blobs (1.0 upper left, 0.95 lower right) was said "strongest
    in the upper left" while both blobs got the same solid outline (every part within 10% of the
    maximum). The solid line now surrounds the part the words name; the other gets a dotted one."""
    from app.gradcam import outline_masks, outline_width, overlay_heatmap, strongest_heat

    yy, xx = np.mgrid[0:400, 0:400]
    heat = np.maximum(np.clip(1 - np.hypot(yy - 80, xx - 80) / 150, 0, 1),
                      0.95 * np.clip(1 - np.hypot(yy - 300, xx - 300) / 250, 0, 1)).astype(np.float32)
    assert strongest_heat(heat)["region"] == "upper left"
    masks = outline_masks(heat)
    assert masks["solid"][80, 80] and not masks["solid"][300, 300]
    assert masks["dotted"][300, 300] and not masks["dotted"][80, 80]
    out = overlay_heatmap(np.full(heat.shape, 60, np.uint8), heat)
    white = out.min(-1) == 255
    width = outline_width(out.shape)

    assert _lined(white, masks["solid"], width) > 0.95  # solid: all round
    assert 0.1 <= _lined(white, masks["dotted"], width) <= 0.5  # dotted: broken
    # a dotted run is short: much shorter than a dash of the 50 % line
    ring = _near(masks["dotted"], width + 4) & ~masks["dotted"] & white
    n, _, stats, _ = cv2.connectedComponentsWithStats(ring.astype(np.uint8), connectivity=8)
    assert n - 1 >= 3 and stats[1:, cv2.CC_STAT_AREA].max() <= 6 * width * width


def test_small_pictures_get_a_white_line_and_the_display_outlines_the_named_part() -> None:
    """A review: below 384 px the white core was 1 px inside a 3 px black edge, a line that reads
    black while the caption says white; and the page's outlines came from the map averaged down
    to the picture, the words from the full-size map."""
    from app import server
    from app.gradcam import outline_masks, outline_width, strongest_heat

    assert outline_width((96, 96)) == outline_width((383, 500)) == 2 == outline_width((768, 768))
    yy, xx = np.mgrid[0:1536, 0:1536]
    heat = 0.96 * np.clip(1 - np.hypot(yy - 1200, xx - 1200) / 300, 0, 1).astype(np.float32)
    heat[201, 201] = 1.0  # a one-pixel peak, the one the words name
    assert strongest_heat(heat)["region"] == "upper left"
    # averaged down to 768 px the peak falls below the broad part's top (0.75 < 0.96), which
    # would then hold the maximum and get the solid line while the words said upper left
    small = cv2.resize(heat, (768, 768), interpolation=cv2.INTER_AREA)
    assert small[100, 100] < small.max() == pytest.approx(0.96, abs=0.01)
    out = server._display_overlay(np.zeros(heat.shape, np.uint8), heat)  # 768 px: halved
    white = out.min(-1) == 255
    width = outline_width(out.shape)
    peak = outline_masks(heat, out.shape[:2])["solid"]  # the full map's, brought to 768 px
    assert peak[100, 100] and peak.sum() <= 4 and not peak[small >= 0.9 * 0.96].any()
    assert _lined(white, peak, width) > 0.95  # the solid line round the small peak, at half size
    broad = small >= 0.9 * small.max()  # (about the broad part's 90 % disc at half size)
    assert _lined(white, broad, width) < 0.6  # dotted: broken, not all round


def test_the_page_has_a_key_whose_words_match_the_overlay() -> None:
    from app.gradcam import OUTLINE_SHARES, heat_colours
    from app.server import HEATMAP_CAPTION, heat_key_html

    caption = HEATMAP_CAPTION.lower()
    assert "red" not in caption and "bright" not in caption  # no hue, no "brighter = more"
    within = f"within {round(100 * (1 - OUTLINE_SHARES['solid']))}%"
    assert "solid line: the part holding that maximum, " + within in caption
    assert "dotted line: another part " + within in caption and "dashed line: half" in caption
    key = heat_key_html()
    assert "low" in key and "high" in key and 'role="img"' in key and "aria-label=" in key
    label = key.split('aria-label="', 1)[1].split('"', 1)[0]
    assert f"white solid line: the part that holds this map's maximum, the heat there {within} of it" in label
    assert f"white dotted line: any other part {within} of the maximum" in label
    assert f"white dashed line: the parts at {round(100 * OUTLINE_SHARES['dashed'])}% of the maximum or more" in label
    assert "do not get lighter" in label  # what is not promised is said
    assert 'stroke-dasharray="7 5"' in key and 'stroke-dasharray="1 7"' in key  # a sample beside each
    for v in (0.0, 0.5, 1.0):  # the key's gradient runs through the overlay's own colours
        r, g, b = (int(c) for c in heat_colours(np.array([v]))[0])
        assert f"#{r:02x}{g:02x}{b:02x}" in key


# --------------------------------------------------------------------------------------
# 2. Alt text and where the heat is


def _pred(heatmap: np.ndarray, **kw: Any) -> Prediction:
    shape = heatmap.shape
    return Prediction(name="scan.png", grade=2, grade_name="PDR", probs=np.array([0.2, 0.3, 0.5]),
                      heatmap=heatmap, image=np.zeros(shape, np.uint8), seconds=0.1, explained=2,
                      cam_cells=(7, 7), class_names=["Normal", "NPDR", "PDR"], **kw)


@pytest.mark.parametrize(("centre", "region"), [((20, 30), "upper left"), ((20, 170), "upper right"),
                                                ((100, 100), "centre"), ((180, 100), "lower centre"),
                                                ((100, 15), "centre left")])
def test_where_the_heat_is_is_said_in_words(centre: tuple[int, int], region: str) -> None:
    from app.gradcam import strongest_heat

    yy, xx = np.mgrid[0:200, 0:200]
    heat = np.clip(1 - np.hypot(yy - centre[0], xx - centre[1]) / 30, 0, 1).astype(np.float32)
    found = strongest_heat(heat)
    assert found is not None and found["region"] == region
    assert abs(found["x"] - centre[1]) <= 2 and abs(found["y"] - centre[0]) <= 2
    assert strongest_heat(np.zeros((50, 50), np.float32)) is None  # an empty map is nowhere


def test_a_coarse_cell_is_located_by_its_centre_not_its_corner() -> None:
    from app.gradcam import strongest_heat

    heat = np.zeros((400, 400), np.float32)
    heat[200:, 200:] = 1.0  # a 2 x 2 map's lower-right cell, drawn nearest-neighbour
    heat[:200, :200] = 0.3
    found = strongest_heat(heat)
    assert found is not None and found["region"] == "lower right"
    assert (found["x"], found["y"]) == (300, 300)


@pytest.mark.parametrize(("cells", "region"), [
    ([[1.0, 0.0], [0.0, 0.95]], "upper left"),  # diagonal hot cells touch at a corner only
    ([[0.0, 0.0, 0.95], [0.0, 0.2, 0.0], [1.0, 0.0, 0.0]], "lower left"),  # two equal parts: the maximum's
])
def test_the_strongest_heat_is_the_part_that_holds_the_maximum(cells: list[list[float]], region: str) -> None:
    # a diff review: 8-connected diagonal cells made one part whose centroid was a cold corner
    # ("centre"), and of two equal parts the first in raster order won, not the hottest
    from app.gradcam import strongest_heat

    heat = cv2.resize(np.array(cells, np.float32), (300, 300), interpolation=cv2.INTER_NEAREST)
    found = strongest_heat(heat)
    assert found is not None and found["region"] == region, found


def test_a_ring_of_heat_is_located_on_the_ring_not_at_its_cold_centre() -> None:
    from app.gradcam import strongest_heat

    yy, xx = np.mgrid[0:200, 0:200]
    ring = np.clip(1 - np.abs(np.hypot(yy - 100, xx - 100) - 60) / 8, 0, 1).astype(np.float32)
    found = strongest_heat(ring)
    assert found is not None and ring[found["y"], found["x"]] >= 0.9


def test_the_heat_line_json_and_alt_text_say_where_the_heat_is(predictor: Predictor,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from app.server import _heatmap_markdown, image_alt_texts

    monkeypatch.setattr(predictor, "untrained", False)  # a trained model's words (the demo's: nothing)

    yy, xx = np.mgrid[0:120, 0:160]
    heat = np.clip(1 - np.hypot(yy - 20, xx - 25) / 20, 0, 1).astype(np.float32)
    pred = _pred(heat)
    text = _heatmap_markdown(pred, predictor)
    assert "strongest in the upper left of the image" in text
    # plain words on the page (a review: "Grad-CAM of grade 0 (Normal) at `backbone.layer4`, 2 × 2
    # cells ..., mean of 5 fold model(s) from the prediction's own forward pass (identity view,
    # one backward through the heads)"): what the colour means; the method in the details JSON
    assert text.startswith("Heatmap: the more a part of the image raised the model's score for "
                           "grade 2 (PDR), the more strongly it is coloured, from dark purple to "
                           "yellow; uncoloured parts raised it little or not at all. A white solid "
                           "line outlines the part that holds this map's maximum, where the heat is "
                           "within 10% of it, a white dotted line any other part within 10% of it"), text
    from app.server import HEATMAP_PAGE_CAVEAT

    # the standing caveat names the method (Grad-CAM) once; the rest of the line is plain words
    assert HEATMAP_PAGE_CAVEAT in text
    for word in ("Grad-CAM", "layer4", "fold model", "backward", "identity view", "cells for"):
        assert word not in text.replace(HEATMAP_PAGE_CAVEAT, ""), word
    from app.server import heatmap_method

    method = heatmap_method(pred, predictor)
    assert method.startswith(f"Grad-CAM of grade 2 (PDR) at {predictor.target_layer}, 7 × 7 cells for "
                             f"the {predictor.bundle.spec.image_size} px model input, of the ensemble's "
                             f"mean logit over {len(predictor.bundle.models)} fold model(s)"), method
    summary = pred.heatmap_summary(predictor.target_layer)
    assert summary is not None and summary["strongest"]["region"] == "upper left"
    details = {**pred.as_dict(), "heatmap": summary}
    original, overlay = image_alt_texts(details, predictor)
    assert "160 × 120" in original and "scan.png" in original
    assert "grade 2 (PDR)" in overlay and "strongest in the upper left of the image" in overlay
    # not reliably gradable: the alt text says it as the heading does, the grade second
    flagged, _ = image_alt_texts({**details, "not_reliably_gradable": ["unlike the training images"]}, predictor)
    assert flagged.endswith(f"not reliably gradable (unlike the training images); model output: grade "
                            f"{details['grade']} ({details['grade_name']})."), flagged
    # an empty map says so, and nothing is located
    empty = replace(pred, heatmap=np.zeros_like(heat))
    assert "strongest" not in _heatmap_markdown(empty, predictor)
    summary = empty.heatmap_summary(predictor.target_layer)
    assert summary is not None and summary["strongest"] is None
    _, overlay = image_alt_texts({**empty.as_dict(), "heatmap": summary}, predictor)
    assert "empty" in overlay
    assert image_alt_texts({"error": "not an image"}, predictor) == ("", "")
    # a coarse map's alt text says what it cannot tell, as the page does beside the picture
    coarse = {**summary, "strongest": {"region": "upper left", "x_fraction": 0.25, "y_fraction": 0.25},
              "coarse": True, "meaning": "2 × 2 cells: it can say which quarter of the image, not which lesion"}
    _, overlay = image_alt_texts({**empty.as_dict(), "heatmap": coarse}, predictor)
    assert "A coarse map of 2 × 2 cells: it can say which quarter of the image, not which lesion." in overlay
    from drac_ssl.grading.bundle import HEATMAP_CAVEAT

    assert overlay.endswith(HEATMAP_CAVEAT)  # the picture's standing caveat, as the page says it


@pytest.mark.parametrize("image_size", [64, 32])
def test_the_page_sends_the_alt_text_with_each_picture(image_size: int, tmp_path: Path) -> None:
    """After every result (grade, upload, heatmap choice, clear) the page sets both pictures'
    alt text from the details JSON. At 64 px the map is 2 x 2 cells; at 32 px a single cell:
    no heatmap, no overlay alt."""
    from PIL import Image

    from app.server import AppSettings, build_demo

    path = tmp_path / "scan.png"
    ramp = np.add.outer(np.arange(96), np.arange(96))  # graded: not noise, not blank
    Image.fromarray((ramp + np.random.default_rng(0).integers(0, 40, (96, 96))).astype(np.uint8)).save(path)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        predictor = Predictor(build_demo_bundle(tmp_path / "run", image_size=image_size,
                                                source_size=2 * image_size, n_folds=1))
        demo = build_demo(predictor, AppSettings())
        (grade,) = [f for f in demo.fns.values() if f.api_name == "grade"]
        _, _, original, overlay, details = grade.fn(str(path), -1)
    finally:
        torch.set_num_threads(before)
    assert "error" not in details and Path(original).is_file()  # the API's plain values
    results = [i for i, f in demo.fns.items() if f.outputs and [o._id for o in f.outputs]
               == [o._id for o in grade.outputs] and f.fn is not None]
    assert len(results) == 4  # the Grade button, an upload, the heatmap choice, the x
    original_box, overlay_box = grade.outputs[2:4]
    alts = [f for f in demo.fns.values() if f.trigger_after in results
            and [o._id for o in f.outputs] == [original_box._id, overlay_box._id]]
    assert sorted(f.trigger_after for f in alts) == sorted(results)
    _, _, _, _, shown = grade.outputs
    for f in alts:
        assert [i._id for i in f.inputs] == [shown._id]
        assert [o._id for o in f.outputs] == [original_box._id, overlay_box._id]
    first, second = alts[0].fn(details)
    assert first["__type__"] == "update" and "value" not in first
    assert "96 × 96" in first["alt_text"] and "scan.png" in first["alt_text"]
    if image_size == 32:
        assert overlay is None and second["alt_text"] == ""
    else:  # an untrained demo model's map: said to mean nothing, no region named
        assert Path(overlay).is_file() and "Grad-CAM heatmap of grade" in second["alt_text"]
        assert second["alt_text"].endswith("from an untrained demo model (random weights): it means nothing.")
        assert "strongest" not in second["alt_text"]
    assert [a["alt_text"] for a in alts[0].fn({})] == ["", ""]  # cleared: no pictures


# --------------------------------------------------------------------------------------
# 3. A cleared upload clears the result


def test_clearing_the_upload_clears_the_result(predictor: Predictor) -> None:
    from app.server import AppSettings, build_demo

    demo = build_demo(predictor, AppSettings())
    (grade,) = [f for f in demo.fns.values() if f.api_name == "grade"]
    upload = grade.inputs[0]
    cleared = [f for f in demo.fns.values()
               if (upload._id, "clear") in [tuple(t) for t in f.targets] and f.fn is not None]
    assert len(cleared) == 1, "no handler for the upload's clear (x) event"
    assert [o._id for o in cleared[0].outputs] == [o._id for o in grade.outputs]
    markdown, label, original, overlay, details = cleared[0].fn()
    assert "Grade" not in markdown and label is None and original is None and overlay is None
    assert details == {}


def test_a_refused_upload_clears_the_result(predictor: Predictor, tmp_path: Path) -> None:
    from app.server import AppSettings, build_demo

    fake = tmp_path / "notes.png"
    fake.write_text("not an image\n", encoding="utf-8")
    demo = build_demo(predictor, AppSettings())
    (grade,) = [f for f in demo.fns.values() if f.api_name == "grade"]
    markdown, label, original, overlay, details = grade.fn(str(fake), -1)
    assert "Cannot grade" in markdown and label is None and "error" in details
    assert original is None and overlay is None


# --------------------------------------------------------------------------------------
# 4. Number columns do not break mid-number


def test_number_columns_have_fixed_room_and_notes_give_way() -> None:
    """Seen in headless Chromium: "auto" for the notes did not wrap them; pixels wrap them but
    do not give way at 150%; a share of the table does both."""
    from app.server import table_columns, table_widths
    from drac_ssl.scale import grade_names_for_people

    names = grade_names_for_people(["No DR", "Mild", "Moderate", "Severe", "PDR"])  # ICDR, the longest words
    columns, widths = table_columns(names), table_widths(names)
    assert len(widths) == len(columns)
    longest = {"class": "4", **{columns[3 + j]: ">99" for j in range(len(names))}}
    for name, value in longest.items():
        w = widths[columns.index(name)]
        # pixels (they grow with the zoom, as the text does), room for the value at ~9 px a digit
        longest_word = max(len(value), *(len(word) for word in name.split()))  # a header may wrap
        assert isinstance(w, int) and w >= 9 * longest_word + 16, (name, w)
    # only the notes are a share of the table, which shrinks with the zoom: they give way
    assert [c for c, w in zip(columns, widths, strict=True) if not isinstance(w, int)] == ["notes"]
    notes = widths[columns.index("notes")]
    assert isinstance(notes, str) and notes.endswith("%") and float(notes[:-1]) <= 40


# --------------------------------------------------------------------------------------
# 5. The result is announced


def test_a_short_status_is_announced_not_the_whole_result(predictor: Predictor, tmp_path: Path) -> None:
    """A review: the whole result (900-1500 characters) was the live region, re-read on every
    update, an arrow key in *Heatmap for* included; the batch's summary was said to no one. Now a
    one-sentence status, off screen, is the single-image live region, and the batch has one of
    its own (a browser review then found the batch's 1,600-character summary read out:
    tests/app/test_browser_markup.py)."""
    from app.server import (
        BATCH_RESULT_ID,
        BATCH_STATUS_ID,
        LIVE_IDS,
        PAGE_CSS,
        RESULT_ID,
        STATUS_ID,
        AppSettings,
        build_demo,
        result_status,
    )
    from tests.helpers.app_fixtures import ramp_scan

    demo = build_demo(predictor, AppSettings())
    (grade,) = [f for f in demo.fns.values() if f.api_name == "grade"]
    (batch,) = [f for f in demo.fns.values() if f.api_name == "grade_batch"]
    assert grade.outputs[0].elem_id == RESULT_ID and batch.outputs[0].elem_id == BATCH_RESULT_ID
    assert set(LIVE_IDS) == {STATUS_ID, BATCH_STATUS_ID} and RESULT_ID not in LIVE_IDS
    scripts = [f.js for f in demo.fns.values() if f.js]
    (live,) = [js for js in scripts if "aria-live" in js]
    assert STATUS_ID in live and BATCH_STATUS_ID in live and RESULT_ID not in live and BATCH_RESULT_ID not in live
    assert '"role", "status"' in live and '"aria-live", "polite"' in live
    assert f"#{STATUS_ID}" in PAGE_CSS and "clip: rect(0 0 0 0)" in PAGE_CSS  # off screen, still read
    # after every result (Grade, upload, heatmap choice, x) the status is set from the details
    results = [i for i, f in demo.fns.items() if f.fn is not None and f.outputs
               and [o._id for o in f.outputs] == [o._id for o in grade.outputs]]
    said = [f for f in demo.fns.values() if f.trigger_after in results and len(f.outputs) == 1
            and f.outputs[0].elem_id == STATUS_ID and not f.trigger_only_on_failure]
    assert sorted(f.trigger_after for f in said) == sorted(results)
    _, _, _, _, details = grade.fn(str(ramp_scan(tmp_path / "scan.png")), -1)
    (status,) = {f.fn(details) for f in said}
    assert status == result_status(details, predictor)
    g = details["grade"]
    assert status.startswith(f"Result: untrained demo; model output: grade {g} ({predictor.grade_names[g]})")
    assert len(status) < 160 and status.count(".") == 1 and status.endswith(".")  # one short sentence
    assert said[0].fn({}) == ""  # cleared: nothing to say
    assert result_status({"error": "x", "busy": True}, predictor).startswith("Busy: nothing was graded")
    assert result_status({"error": "not an image", "name": "a.png"}, predictor) == "Not graded; the message says why."


def test_the_status_counts_the_warnings_above_and_names_another_heatmap_grade(predictor: Predictor,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from app.server import page_doubts, result_status

    monkeypatch.setattr(predictor, "untrained", False)
    names = predictor.grade_names
    doubt = "This image is unlike the training images (its texture is far from theirs)."
    assert page_doubts([doubt], predictor) == [doubt]
    details = {"grade": 1, "grade_name": names[1], "warnings": [doubt], "not_reliably_gradable": [],
               "heatmap": {"explains_grade": 2}}
    said = result_status(details, predictor)
    warned = 1 + bool(predictor.chance_warning)
    assert said.startswith(f"Graded: grade 1 ({names[1]}); {warned} warning")
    assert said.endswith(f"; heatmap of grade 2 ({names[2]}).")
    plain = result_status({**details, "warnings": [], "heatmap": {"explains_grade": 1}}, predictor)
    assert ("warning" in plain) == bool(predictor.chance_warning) and "heatmap" not in plain


def _graded_as(predictor: Predictor, probs: list[float], grade: int, path: Path) -> tuple[str, str]:
    """The page's result markdown and its status (:func:`app.server.result_status`) for the app's
    own grading of the real DRAC sample_1 (a ramp scan when the real data is not there), with
    the model's output replaced by ``probs`` and ``grade``."""
    from PIL import Image

    from app.server import AppSettings, _grade_single_now, result_status
    from tests.helpers.app_fixtures import drac_scan_or_stand_in

    Image.fromarray(drac_scan_or_stand_in(96)).save(path)
    real = predictor.predict_loaded

    def as_given(*args: Any, **kwargs: Any) -> Prediction:
        pred = real(*args, **kwargs)
        return replace(pred, grade=grade, grade_name=predictor.class_names[grade], probs=np.array(probs))

    predictor.predict_loaded = as_given  # type: ignore[method-assign]
    try:
        markdown, *_, details = _grade_single_now(predictor, AppSettings(gradcam=False), str(path), None, path.name)
    finally:
        del predictor.predict_loaded
    return markdown, result_status(details, predictor)


def test_the_status_says_what_is_bold_under_the_grade(predictor: Predictor, tmp_path: Path) -> None:
    """A review: the status counted the warnings above the grade only; an untrained demo's
    result on DRAC sample_1 with a Borderline line and a more severe most likely grade said
    "Result: untrained demo; model output: grade 1 (NPDR)."."""
    from app.server import result_status
    from tests.helpers.app_fixtures import trained_demo

    names = predictor.grade_names
    # borderline (45% / 44%) and milder than the most likely grade, under the untrained demo
    page, said = _graded_as(predictor, [0.44, 0.11, 0.45], 1, tmp_path / "sample_1.png")
    assert "**Borderline" in page and said.startswith(f"Result: untrained demo; model output: grade 1 ({names[1]})")
    assert "; borderline;" in said and said.endswith(f"; the model's most likely grade is 2 ({names[2]}).")
    # a trained bundle: the ⚠ bold milder-grade line, not borderline
    trained = trained_demo(tmp_path / "trained")
    page, said = _graded_as(trained, [0.10, 0.29, 0.61], 1, tmp_path / "a.png")
    assert "**The model's most likely grade is 2 PDR (61%), more severe than the grade shown" in page
    assert said == f"Graded: grade 1 ({names[1]}); the model's most likely grade is 2 ({names[2]})."
    # two grades tied above the grade shown: both named (a details dict)
    tie = {"grade": 0, "grade_name": names[0], "warnings": [], "not_reliably_gradable": [],
           "P": [0.2, 0.4, 0.4], "milder_than_most_likely": True, "most_likely_grade": 1}
    assert result_status(tie, trained).endswith(f"most likely grades are 1 ({names[1]}) and 2 ({names[2]}).")
    # not reliably gradable: the page names no most likely grade, nor does the status
    assert "most likely" not in result_status({**tie, "not_reliably_gradable": ["a colour picture"]}, trained)
    # a failed calibration (temperature 100): said under the grade, and in the status; no
    # borderline nor most likely grade (the page names neither)
    flat = trained_demo(tmp_path / "flat", calibration={"temperature": 100.0})
    page, said = _graded_as(flat, [0.33, 0.33, 0.34], 1, tmp_path / "c.png")
    assert "⚠ **Probabilities not calibrated" in page
    assert said == f"Graded: grade 1 ({names[1]}); probabilities not calibrated."


# --------------------------------------------------------------------------------------
# 6. Column names and labels


def test_columns_and_labels_say_what_they_hold(predictor: Predictor, tmp_path: Path) -> None:
    from PIL import Image

    from app.server import AppSettings, _grade_batch, build_demo, table_columns

    columns = table_columns(predictor.grade_names)
    # the probabilities say which grade and in what unit, as the rest of the page does (a review:
    # P0 P1 P2 with 4-decimal fractions, beside "P_<grade name>" and whole percentages elsewhere)
    assert columns[3:-1] == ["P(0 Normal) %", "P(1 NPDR) %", "P(2 PDR) %"]
    # class / grade keep what the /grade_batch API has always called them (a diff review: a
    # client reading "grade" by header got the number instead of the name, silently)
    # no model time in the clinician's table (a trial: meaningless clinically; the log has it)
    assert columns[:3] == ["case", "class", "grade"] and "mean s/image" not in columns
    assert "seconds" not in columns
    path = tmp_path / "scan.png"
    ramp = np.add.outer(np.arange(96), np.arange(96))  # graded: not noise, not blank
    Image.fromarray((ramp + np.random.default_rng(0).integers(0, 40, (96, 96))).astype(np.uint8)).save(path)
    summary, rows, csv_path, _ = _grade_batch(predictor, AppSettings(), [str(path)])
    # the grade's name (marked as the demo's: the predictor is app.demo_bundle's)
    assert len(rows[0]) == len(columns) and rows[0][2] == f"{predictor.class_names[rows[0][1]]} (untrained demo)"
    from drac_ssl.figures import whole_percentages

    probs = np.array([float(p) for p in Path(csv_path).read_text(encoding="utf-8").splitlines()[1].split(",")[2:]])
    # whole percentages rounded together, numbers (a review: strings "<1", "37", ">99" sorted as
    # text, and a /grade_batch client that read P0.. numbers got strings)
    assert rows[0][3:-1] == whole_percentages(probs) and sum(rows[0][3:-1]) == 100
    assert all(type(c) is int for c in rows[0][3:-1])
    # the CSV keeps DRAC's submission columns
    assert Path(csv_path).read_text(encoding="utf-8").splitlines()[0] == "case,class,P0,P1,P2"
    assert "`case,class,P0,P1,P2`" in summary
    config = build_demo(predictor, AppSettings()).config
    texts = [str(c.get("props", {}).get("value", "")) + str(c.get("props", {}).get("label", ""))
             for c in config["components"]]
    assert any("P(0 Normal) % ... P(2 PDR) %: each grade's probability in whole percent" in t
               and "P0.. with 6 decimals" in t for t in texts)
    assert any("held as 0 and 100" in t and "sorts by these numbers" in t for t in texts)
    from app.inputs import ACCEPTED_FORMATS, FORMAT_WORDS

    (single,) = [t for t in texts if t.endswith(f"({FORMAT_WORDS})")]  # the upload's label

    for name in set(ACCEPTED_FORMATS.values()):  # every format the loader accepts (BMP too)
        assert name in single, name


def test_the_batch_table_holds_numbers_and_shows_them_as_the_page_writes_percentages(
        predictor: Predictor, tmp_path: Path) -> None:
    """A review: the P cells were strings ("<1", "37", ">99"), which a column sort orders as
    text and a machine client read as text where it had read P0.. numbers. They are numbers
    (0 and 100 at the ends), shown <1 and >99 by gradio's display values, the columns typed
    "number"."""
    from app.server import AppSettings, build_demo, table_datatypes, table_value
    from tests.helpers.app_fixtures import ramp_scan

    rows = [["a.png", 2, "PDR", 0, 1, 99, "note"], ["b.png", 0, "Normal", 100, 0, 0, ""],
            ["c.png", 1, "NPDR (not reliably gradable)", None, None, None, "why"],
            ["d.png", None, "rejected", None, None, None, "not an image"]]
    value = table_value(rows, 3)
    assert value["data"] is rows  # the numbers, for a client and for sorting
    assert value["metadata"]["display_value"] == [
        ["a.png", "2", "PDR", "<1", "1", "99", "note"], ["b.png", "0", "Normal", ">99", "<1", "<1", ""],
        ["c.png", "1", "NPDR (not reliably gradable)", "", "", "", "why"],
        ["d.png", "", "rejected", "", "", "", "not an image"]]
    assert table_datatypes(3) == ["str", "number", "str", "number", "number", "number", "str"]
    demo = build_demo(predictor, AppSettings(gradcam=False))
    (batch,) = [f for f in demo.fns.values() if f.api_name == "grade_batch"]
    table = batch.outputs[1]
    assert table.datatype == table_datatypes(3)
    summary, value, *_ = batch.fn([str(ramp_scan(tmp_path / "s0.png")), str(ramp_scan(tmp_path / "s1.png", 1))])
    sent = table.postprocess(value).model_dump()  # what the page and a gradio_client get
    assert [r[0] for r in sent["data"]] == ["s0.png", "s1.png"]
    for row, shown in zip(sent["data"], sent["metadata"]["display_value"], strict=True):
        assert all(type(c) is int for c in row[3:6]) and sum(row[3:6]) == 100
        assert shown[3:6] == ["<1" if c == 0 else ">99" if c == 100 else str(c) for c in row[3:6]]


# --------------------------------------------------------------------------------------
# 7. Headings: one <h1>, no level skipped


def _levels(markdown: str) -> list[int]:
    return [len(line) - len(line.lstrip("#")) for line in markdown.splitlines()
            if re.match(r"#{1,6} ", line)]


def test_headings_skip_no_level_and_the_page_has_one_h1(predictor: Predictor, tmp_path: Path) -> None:
    """A review: the error headings were ``###`` straight under the page's ``#``, the model card
    tab added a second ``<h1>``, and the warnings came before the first heading of the result."""
    from app.server import (
        RESULT_HEADING,
        AppSettings,
        _busy_markdown,
        _choice_error_markdown,
        _error_markdown,
        _model_error_markdown,
        build_demo,
        safe_card_html,
    )
    from tests.helpers.app_fixtures import result_said

    for said in (_error_markdown("x"), _model_error_markdown("x"), _choice_error_markdown("x"), _busy_markdown("x")):
        assert _levels(said) == [2], said
    result = result_said(predictor, [0.2, 0.5, 0.3], 1, warnings=["This image is unlike the training images."])
    assert result.startswith(f"{RESULT_HEADING}\n") and _levels(result)[0] == 2
    # the grade's heading inside the result, one level down (a review: a "## Grade" sibling of
    # "## Result", which then held only the warnings)
    assert _levels(result)[:2] == [2, 3] and "\n### Untrained demo — model output: Grade 1" in result
    assert all(level >= 2 for level in _levels(result))
    first_warning = result.index("⚠")
    assert result.index(RESULT_HEADING) < first_warning < result.index("### Untrained demo")
    card = safe_card_html("# Model card\n\ntext\n\n## Limitations\n\n###### deep\n")
    assert "<h1" not in card and "<h2>Model card</h2>" in card and "<h3>Limitations</h3>" in card
    assert "<h6>deep</h6>" in card  # the deepest stays the deepest
    config = build_demo(predictor, AppSettings()).config
    values = [str(c.get("props", {}).get("value") or "") for c in config["components"]]
    titles = [v for v in values if re.match(r"# ", v)]
    assert len(titles) == 1 and not any("<h1" in v for v in values)


# --------------------------------------------------------------------------------------
# 8. Words a clinician can read: abbreviations spelt out, no file of the repository


def test_octa_and_en_face_are_explained_where_the_page_first_says_them(predictor: Predictor, tmp_path: Path) -> None:
    from app.server import OCTA_WORDS, AppSettings, _grade_batch, build_demo
    from tests.helpers.app_fixtures import ramp_scan

    assert predictor.kind == "octa"
    config = build_demo(predictor, AppSettings()).config
    values = [str(c.get("props", {}).get("value") or "") for c in config["components"]]
    (title,) = [v for v in values if v.startswith("# ")]
    first_line = title.split("\n")[1]
    assert "optical coherence tomography angiography (UW-OCTA)" in first_line and OCTA_WORDS in first_line
    assert "en face: a flat, front-on picture" in first_line
    # no path of the repository in what the page says to a clinician
    summary, *_ = _grade_batch(predictor, AppSettings(), [str(ramp_scan(tmp_path / "scan.png"))])
    for said in (*values, summary):
        assert not re.search(r"docs/\w+\.md", said), said


def test_the_metadata_box_has_a_label(predictor: Predictor) -> None:
    from app.server import AppSettings, build_demo

    config = build_demo(predictor, AppSettings()).config
    (code,) = [c for c in config["components"] if c.get("type") == "code"]
    assert code["props"]["label"] == "metadata.json"
