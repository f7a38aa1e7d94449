"""What the page, the details JSON, the model card and the docs claim of the heatmap (an
explainability trial: the arithmetic was right, the presentation over-claimed). A standing
caveat (a coarse attribution of one score, not a lesion detector); the map's resolution in the
image's pixels and a 3 x 3 region, not percentages; colours relative to the map's own maximum,
with the raw maximum kept; which score the map explains when the grade was chosen by
thresholds; an untrained demo bundle's map said to mean nothing. The figures quoted of the map
are the heatmap bench's (``bench/results/heatmap_sanity.json``, ``python -m
bench.heatmap_sanity``), checked here against the committed JSON, so they cannot drift from it."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from app.demo_bundle import build_demo_bundle
from app.gradcam import RAW_MAX_NOTE
from app.predict import Prediction, Predictor
from drac_ssl.grading.bundle import (
    HEATMAP_BENCH_WORDS,
    HEATMAP_BENCH_WORDS_ONE_VIEW,
    HEATMAP_CAVEAT,
)

REPO = Path(__file__).resolve().parents[2]
BENCH_RESULT = REPO / "bench" / "results" / "heatmap_sanity.json"
WITHDRAWN = ("5 of 24", "4 of 24", "1 of 24", "+0.29", "+0.48", "+0.33", "4.7x", "1 of 16", "2 of 16",
             "5 of 16", "17 % (4 of 24)", "one-off, not a benchmark", "about 1 image in 5")
"""The one-off trial's figures (its scripts lost), replaced by the bench's."""


def _withdrawn_in(text: str) -> list[str]:
    """The one-off trial's figures still in ``text`` ("1 of 24" not inside "21 of 24")."""
    return [w for w in WITHDRAWN if re.search(r"(?<![\d.])" + re.escape(w), text)]


def _sci(p: float) -> str:
    """A p-value as the words write it: 2.6e-51, 1.2e-9."""
    mantissa, exponent = f"{p:.1e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def _said(record: dict, place: str) -> list[str]:
    """The phrases of the bench's figures that ``place`` quotes, made from the result ``record``:
    ``words`` (HEATMAP_BENCH_WORDS: the model card with flip TTA), ``words_one_view``
    (HEATMAP_BENCH_WORDS_ONE_VIEW: the card without), ``page`` (HEATMAP_PAGE_CAVEAT: a conv-head
    bundle's page with flip TTA), ``page_one_view`` (HEATMAP_PAGE_CAVEAT_ONE_VIEW: without),
    ``page_linear`` (HEATMAP_PAGE_CAVEAT_LINEAR), ``page_linear_one_view``
    (HEATMAP_PAGE_CAVEAT_LINEAR_ONE_VIEW), ``module`` (app/gradcam.py's docstring), ``docs``
    (docs/app.md), ``readme`` (README.md's app section)."""
    conv, linear = record["heads"]["conv"], record["heads"]["linear"]
    cl, ll = conv["localisation"], linear["localisation"]
    # the identity view alone: the map of a bundle without flip TTA (its grade's one view)
    ci, li = conv["combinations"]["identity_view"], linear["combinations"]["identity_view"]
    assert conv["combinations"]["four_flips_averaged"]["hits_within_one_cell"] == cl["hits_within_one_cell"]
    n = cl["n"]
    assert ci["empty_maps"] == li["empty_maps"] == 0
    chance = f"{round(100 * cl['chance_rate'])} %"
    assert cl["chance_within_one_cell"] == "361/2401" and chance == "15 %"
    assert cl["habit_within_one_cell_worst_case"] == "9/49"
    assert conv["app_map_views"] == linear["app_map_views"] == cl["views"] == 4  # "the 4 flipped views averaged"
    if place == "page":
        return [f"on the spot's own cell in {cl['hits_on_the_cue_cell']} of {n} images and within one cell of "
                f"it in {cl['hits_within_one_cell']} of {n}", f"a randomly placed peak: {chance}",
                "(the image and its 3 flipped copies averaged, as here)"]
    if place == "page_one_view":
        return [f"on the spot's own cell in {ci['hits_on_the_cue_cell']} of {n} images and within one cell of "
                f"it in {ci['hits_within_one_cell']} of {n}", f"a randomly placed peak: {chance}",
                "(of the image alone, without flips, as here)",
                f"with the 4 flipped copies averaged: {cl['hits_on_the_cue_cell']} and {cl['hits_within_one_cell']}"]
    lin_rand = linear["randomisation"]["steps"]
    assert lin_rand[0]["passes"] is False  # "failed a randomisation sanity check", "failing that sanity check"
    if place == "page_linear":
        return [f"within one cell of the spot in only {ll['hits_within_one_cell']} of {ll['n']} images",
                f"a randomly placed peak: {chance}", "(the image and its 3 flipped copies averaged, as here)"]
    assert linear["randomisation"]["views"] == 4  # "run with the flipped copies averaged"
    if place == "page_linear_one_view":
        return [f"within one cell of the spot in only {li['hits_within_one_cell']} of {ll['n']} images",
                f"a randomly placed peak: {chance}", "(of the image alone, without flips, as here)",
                "failed a randomisation sanity check (run with the flipped copies averaged)"]
    if place == "readme":
        return [f"within one cell of the spot in {cl['hits_within_one_cell']} of {n} images, on the spot's own "
                f"cell in {cl['hits_on_the_cue_cell']}: `bench/results/heatmap_sanity.json`"]
    lin_head = lin_rand[0]["spearman_signed"]["median"]
    assert lin_rand[0]["abs_spearman_signed"]["median"] == abs(lin_head)
    words = [f"within one cell of the spot in {cl['hits_within_one_cell']} of {n} images with the conv head",
             "361 of the 2401", "at most 9 of 49",
             f"on the spot's own cell in {cl['hits_on_the_cue_cell']} of {n}",
             f"within one cell in {ll['hits_within_one_cell']} of {ll['n']}",
             f"correlated {ll['mean_pairwise_correlation_of_maps']:+.2f} with one another",
             f"{cl['mean_pairwise_correlation_of_maps']:+.2f} with the conv head",
             f"median rank correlation {lin_head:+.2f}", "median |Spearman| < 0.5",
             "bench/results/heatmap_sanity.json"]
    assert conv["randomisation"]["pass_rule"].startswith("median |Spearman| of the signed maps < 0.5")
    if place == "words_one_view":
        return [f"(the identity view alone, as this model's grade uses no flips) was within one cell of the spot "
                f"in {ci['hits_within_one_cell']} of {n} images with the conv head", "361 of the 2401",
                "at most 9 of 49", f"on the spot's own cell in {ci['hits_on_the_cue_cell']} of {n}",
                f"(the 4 flipped views averaged, as with flips on: {cl['hits_within_one_cell']} and "
                f"{cl['hits_on_the_cue_cell']})", f"within one cell in {li['hits_within_one_cell']} of {ll['n']}",
                f"correlated {li['mean_pairwise_correlation_of_maps']:+.2f} with one another",
                f"{ci['mean_pairwise_correlation_of_maps']:+.2f} with the conv head",
                "the bench ran this check with flips on only",
                f"median rank correlation {lin_head:+.2f}", "median |Spearman| < 0.5",
                "bench/results/heatmap_sanity.json"]
    card = [f"(the 4 flipped views averaged, as the grade averages them) was within one cell of the spot in "
            f"{cl['hits_within_one_cell']}", f"(the identity view alone, as with flips off: "
            f"{ci['hits_within_one_cell']} and {ci['hits_on_the_cue_cell']})"]
    if place == "words":
        return words + card
    layers, combos = conv["layers"], conv["combinations"]
    identity, flips = combos["identity_view"], combos["four_flips_averaged"]
    lin_combos = linear["combinations"]
    old = combos["folds_scaled_then_averaged_before_2026_12_05"]
    k = layers["n"]
    l4, hc = layers["layer4_four_flips_averaged"], layers["head.conv_four_flips_averaged"]
    rf = record["receptive_field"]
    assert layers["app_map"] == "layer4_four_flips_averaged" and rf["cell"] == [3, 3]
    conv_steps = conv["randomisation"]["steps"]
    assert all(s["passes"] for s in conv_steps)  # "changed the conv head's maps at every step"
    more = [f"{l4['on_the_cue_cell']} of {k} at", f"{hc['on_the_cue_cell']} of {k} at",
            f"({layers['layer4_identity_view']['on_the_cue_cell']} and "
            f"{layers['head.conv_identity_view']['on_the_cue_cell']} on the identity view alone)",
            f"{layers['occlusion']['on_the_cue_cell']} of {k}",
            f"{l4['within_one_cell']}, {hc['within_one_cell']} and {layers['occlusion']['within_one_cell']} of {k}",
            f"a median {old['fold_raw_max_ratio_largest_to_smallest']['median']:.1f}x",
            f"a median {old['correlation_with_the_identity_views_map']['median']:+.2f}",
            f"in {old['hits_within_one_cell']} of {n} images ({identity['hits_within_one_cell']} with Grad-CAM of "
            f"the mean logit)",
            f"({rf['centre_px'][0]}, {rf['centre_px'][1]}) px", f"{rf['cell_centre_px'][0]}",
            f"{identity['hits_on_the_cue_cell']} of {n} images and within one cell",
            f"+1 in {identity['peak_minus_cue']['row']['+1']}", f"-1 in {identity['peak_minus_cue']['row']['-1']}",
            f"{flips['hits_on_the_cue_cell']} and {flips['hits_within_one_cell']}",
            f"+1 in {flips['peak_minus_cue']['row']['+1']} against -1 in {flips['peak_minus_cue']['row']['-1']}",
            f"{lin_combos['identity_view']['hits_on_the_cue_cell']} and "
            f"{lin_combos['identity_view']['hits_within_one_cell']}",
            f"{lin_combos['four_flips_averaged']['hits_on_the_cue_cell']} and "
            f"{lin_combos['four_flips_averaged']['hits_within_one_cell']}",
            f"median |rho| {conv_steps[0]['abs_spearman_signed']['median']:.2f}",
            f"({lin_rand[1]['spearman_signed']['median']:+.2f})", f"({lin_rand[2]['spearman_signed']['median']:+.2f}",
            f"({lin_rand[5]['spearman_signed']['median']:+.2f})"]
    assert old["empty_fold_maps"] == 0 and flips["empty_maps"] == identity["empty_maps"] == 0  # "no ... empty"
    assert conv_steps[0]["empty_maps"] == conv["randomisation"]["n"]  # "every map then empty", "all 32 maps empty"
    assert [s["passes"] for s in lin_rand] == [False, False, False, True, True, False]
    if place == "module":
        return words + more
    docs = [f"out-of-fold accuracy {conv['training']['out_of_fold_accuracy']:.2f}",
            f"linear head: {linear['training']['out_of_fold_accuracy']:.2f}",
            f"to {round(100 * conv['accuracy_new_images_with_cue'])} %, and to "
            f"{round(100 * (1 - conv['accuracy_new_images_without_cue']))} % of {n} without it",
            f"the linear head to {round(100 * linear['accuracy_new_images_with_cue'])} % and "
            f"{round(100 * (1 - linear['accuracy_new_images_without_cue']))} %",
            f"exact binomial p = {_sci(cl['p_binomial_vs_chance'])}",
            f"{ll['hits_within_one_cell']} of {n}, p = {_sci(ll['p_binomial_vs_chance'])}",
            f"9/49 (p = {_sci(cl['p_binomial_vs_habit_worst_case'])} and {_sci(ll['p_binomial_vs_habit_worst_case'])})",
            f"{conv['randomisation']['n']} images",
            f"median |rho| {conv_steps[0]['abs_spearman_signed']['median']:.2f}; all "
            f"{conv['randomisation']['n']} maps empty with random heads), at most "
            f"{max(s['abs_spearman_signed']['median'] for s in conv_steps[1:]):.2f} below",
            f"after its head ({lin_head:+.2f})", f"(|rho| {lin_rand[3]['abs_spearman_signed']['median']:.2f}, "
            f"{lin_rand[4]['abs_spearman_signed']['median']:.2f})",
            f"{record['cpu_seconds'] / 60:.1f} CPU minutes", f"each trained on the other folds' images of "
            f"{record['model']['train_images']}", f"on {k} images with the spot"]
    assert record["smoke"] is False
    assert all(s["same_grade"] == s["same_map"] == s["n"] for h in (conv, linear)
               for s in h["map_equals_predictor"].values())  # "asserted equal ... flips on and off"
    return _said(record, "page") + words + card + more + docs


def _flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def predictor(tmp_path_factory: pytest.TempPathFactory, one_thread: None) -> Predictor:
    """A 64 px demo bundle, 2 folds (layer4: 2 x 2 cells), flips on as its CV recorded."""
    return Predictor(build_demo_bundle(tmp_path_factory.mktemp("run"), image_size=64,
                                       source_size=128, n_folds=2))


def _pred(cells: tuple[int, int], shape: tuple[int, int], hot: tuple[int, int], **kw: object) -> Prediction:
    """A prediction whose map (``cells``, drawn as cells over an image of ``shape``) is hottest
    in cell ``hot`` (row, column)."""
    grid = np.full(cells, 0.2, np.float32)
    grid[hot] = 1.0
    heat = cv2.resize(grid, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
    return Prediction(name="scan.png", grade=2, grade_name="PDR", probs=np.array([0.2, 0.3, 0.5]),
                      heatmap=heat, image=np.zeros(shape, np.uint8), seconds=0.1, explained=2,
                      cam_cells=cells, class_names=["Normal", "NPDR", "PDR"], **kw)


def test_the_heat_line_says_its_resolution_region_scale_and_caveat(predictor: Predictor,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from app.server import HEATMAP_PAGE_CAVEAT, _heatmap_markdown

    monkeypatch.setattr(predictor, "untrained", False)  # a trained model's words
    assert predictor.head == "conv"  # the demo bundle's head, the default
    assert HEATMAP_CAVEAT in HEATMAP_PAGE_CAVEAT and "89 of 96" in HEATMAP_PAGE_CAVEAT
    # the bench is named by where a reader finds it (the model card), not by its file path (a
    # clinician trial: "bench/results/heatmap_sanity.json" on the page)
    assert "the model card gives the test" in HEATMAP_PAGE_CAVEAT and "randomly placed peak" in HEATMAP_PAGE_CAVEAT
    assert "bench/results" not in HEATMAP_PAGE_CAVEAT
    assert not _withdrawn_in(HEATMAP_PAGE_CAVEAT)
    # DRAC's shape: a 224 px model (layer4 7 x 7) on a 1024 px upload, hottest in the top row's middle
    text = _heatmap_markdown(_pred((7, 7), (1024, 1024), (0, 3)), predictor)
    assert "7 × 7 cells, each about 146 px of this image" in text  # 1024 / 7
    assert "it can say which of its 49 blocks of the image, not which lesion" in text
    assert "The heat is strongest in the upper centre of the image." in text
    assert not re.search(r"\d+% (across|down)", text), text
    assert "Colours are relative to this map's maximum." in text
    assert HEATMAP_PAGE_CAVEAT in text
    # a squeezed upload: the cells are not square in its pixels
    wide = _heatmap_markdown(_pred((7, 7), (1024, 1280), (6, 6)), predictor)
    assert "7 × 7 cells, each about 183 × 146 px (width × height) of this image" in wide
    assert "strongest in the lower right of the image" in wide
    # a fine map (16 x 16, a 512 px model): drawn smooth, its resolution said all the same
    fine = _heatmap_markdown(_pred((16, 16), (1024, 1024), (8, 8)), predictor)
    assert "Resolution: 16 × 16 cells, each about 64 px of this image." in fine
    assert "A coarse map" not in fine


def test_a_two_by_two_map_is_not_given_the_7x7_benchs_within_one_cell(predictor: Predictor,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """On 2 x 2 cells every cell lies within one cell of every other: the page's caveat says the
    bench measured 7 x 7 maps and gives none of its "within one cell" figures."""
    from app.server import HEATMAP_PAGE_CAVEAT, HEATMAP_PAGE_CAVEAT_FEW_CELLS, _heatmap_markdown

    monkeypatch.setattr(predictor, "untrained", False)
    text = _heatmap_markdown(_pred((2, 2), (512, 512), (0, 1)), predictor)
    assert HEATMAP_PAGE_CAVEAT_FEW_CELLS in text and "within one cell" not in text
    assert HEATMAP_CAVEAT in text and "measured 7 x 7 maps" in text and "do not apply" in text
    assert "89 of 96" not in text and "one-off" not in text
    assert HEATMAP_PAGE_CAVEAT in _heatmap_markdown(_pred((7, 7), (512, 512), (0, 1)), predictor)
    three = _heatmap_markdown(_pred((3, 3), (512, 512), (0, 1)), predictor)  # another grid: no figure
    assert HEATMAP_PAGE_CAVEAT not in three and "not 3 x 3: none of its figures apply" in three


def _cells_pred(grid: list[list[float]], shape: tuple[int, int], **kw: object) -> Prediction:
    """A prediction whose map is ``grid`` (rows of cells) drawn as its cells over an image of ``shape``."""
    cells = np.array(grid, np.float32)
    heat = cv2.resize(cells, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
    return Prediction(name="scan.png", grade=2, grade_name="PDR", probs=np.array([0.2, 0.3, 0.5]),
                      heatmap=heat, image=np.zeros(shape, np.uint8), seconds=0.1, explained=2,
                      cam_cells=cells.shape, class_names=["Normal", "NPDR", "PDR"], **kw)


def test_a_nearly_flat_map_names_no_region(predictor: Predictor, monkeypatch: pytest.MonkeyPatch) -> None:
    """A trial's 2 x 2 map, hottest in the upper left by under 1%: every cell is within 10% of the
    maximum, so the hot part was all of the image and its centroid the centre, which the page
    named. Now no region is named, on the page, in the alt text or in the details JSON."""
    from app.gradcam import strongest_heat
    from app.server import _heatmap_markdown, image_alt_texts

    monkeypatch.setattr(predictor, "untrained", False)  # a trained model's words
    pred = _cells_pred([[1.0, 0.9918], [0.9921, 0.9979]], (1024, 1024))
    summary = pred.heatmap_summary(predictor.target_layer)
    assert summary is not None
    assert summary["strongest"] == {"hot_share": 1.0, "read_whole_image": True, "stands_out": False,
                                    "spread": False, "x": None, "y": None, "x_fraction": None, "y_fraction": None,
                                    "region": None}
    text = _heatmap_markdown(pred, predictor)
    assert "No region stands out: every part of the map is within 10% of its strongest heat." in text
    assert "strongest in the" not in text and "centre" not in text
    _, overlay = image_alt_texts({**pred.as_dict(), "heatmap": summary}, predictor)
    assert "No region stands out: every part of the map is within 10% of its strongest heat." in overlay
    assert "centre" not in overlay and "empty" not in overlay
    # more than half hot, not all, the rest warm too (0.6, over half the maximum): the share is
    # said (5 of 9 cells: 55%, rounded down)
    most = _cells_pred([[1.0, 0.95, 0.6], [0.95, 0.95, 0.6], [0.92, 0.6, 0.6]], (900, 900))
    where = most.strongest
    assert where is not None and where["region"] is None and where["hot_share"] == 0.555
    assert "No region stands out: 55% of the map is within 10% of its strongest heat." in _heatmap_markdown(
        most, predictor)
    # half of the map hot is not most of it: the hot upper row is named, where its cells are
    half = strongest_heat(cv2.resize(np.array([[1.0, 0.95], [0.3, 0.3]], np.float32), (400, 400),
                                     interpolation=cv2.INTER_NEAREST))
    assert half is not None and half["stands_out"] is True and half["region"] == "upper centre"
    assert half["hot_share"] == 0.5


def test_a_hot_majority_over_a_cold_rest_names_no_region(predictor: Predictor,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A review (F1): the hot share alone called a map flat when its hot part was a majority over
    a cold rest (upper 55% at 0.95, lower 45% at 0.05: "No region stands out"). Naming the hot
    part's region instead was wrong too (a later review): a hot majority's centroid is the middle
    of the part read, and its connected part holding the maximum may hold little of it. Such a
    map names no region; the heat is said to be spread over its share, the rest cooler."""
    from app.gradcam import strongest_heat, strongest_words
    from app.server import _heatmap_markdown, image_alt_texts

    monkeypatch.setattr(predictor, "untrained", False)
    upper = np.full((1000, 1000), 0.05, np.float32)
    upper[:550] = 0.95
    where = strongest_heat(upper)
    assert where == {"hot_share": 0.55, "read_whole_image": True, "stands_out": False, "spread": True,
                     "x": None, "y": None, "x_fraction": None, "y_fraction": None, "region": None}
    assert strongest_words(where) == ("The heat is spread over 55% of the map (within 10% of its strongest "
                                      "heat); the rest is cooler.")
    cells = np.full((7, 7), 0.1, np.float32)
    cells[:, :4] = 0.95
    smooth = cv2.resize(cells, (448, 448), interpolation=cv2.INTER_LINEAR)
    left = strongest_heat(smooth)
    assert left is not None and left["hot_share"] > 0.5 and left["region"] is None and left["spread"], left
    # the page and the alt text: the share, no region, never "No region stands out"
    pred = _cells_pred([[1.0, 0.95, 0.2], [0.95, 0.95, 0.2], [0.92, 0.2, 0.2]], (900, 900))
    assert pred.strongest is not None and pred.strongest["hot_share"] == 0.555
    said = "The heat is spread over 55% of the map (within 10% of its strongest heat); the rest is cooler."
    text = _heatmap_markdown(pred, predictor)
    assert said in text and "stands out" not in text and "strongest in the" not in text
    _, overlay = image_alt_texts({**pred.as_dict(), "heatmap": pred.heatmap_summary(predictor.target_layer)},
                                 predictor)
    assert said in overlay and "stands out" not in overlay and "strongest in the" not in overlay


def test_a_map_flat_over_a_disc_with_cold_corners_names_no_region(predictor: Predictor,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A review (F1): a map flat over a fundus disc, cold in the corners of the square box (a
    disc of 7 x 7 cells at 0.97, 0.05 outside it: 12 of 49 cells, a quarter of the box; a pixel
    disc: 21.5%), was "strongest in the centre": the trial's failure back (the disc's centroid is
    the box's middle). The heat is spread over the disc; no region is named."""
    from app.gradcam import strongest_heat, strongest_words
    from app.server import READ_BOX_WORDS, _heatmap_markdown, image_alt_texts
    from data_prep.cache import RowGeometry

    monkeypatch.setattr(predictor, "untrained", False)
    yy, xx = np.mgrid[0:7, 0:7]
    cells = np.where((yy - 3) ** 2 + (xx - 3) ** 2 <= 3.5 ** 2, 0.97, 0.05).astype(np.float32)
    assert int((cells < 0.5).sum()) == 12
    heat = np.zeros((600, 800), np.float32)
    heat[76:524, 176:624] = cv2.resize(cells, (448, 448), interpolation=cv2.INTER_NEAREST)
    pred = Prediction(name="scan.png", grade=2, grade_name="PDR", probs=np.array([0.2, 0.3, 0.5]),
                      heatmap=heat, image=np.zeros(heat.shape, np.uint8), seconds=0.1, explained=2,
                      cam_cells=(7, 7), class_names=["Normal", "NPDR", "PDR"],
                      geometry=RowGeometry((176, 76, 624, 524), cropped=True))
    where = pred.strongest
    assert where is not None and where["region"] is None and where["spread"] is True, where
    assert where["read_whole_image"] is False and where["hot_share"] == 0.755
    said = ("The heat is spread over 75% of the part of the image the model read (within 10% of its "
            "strongest heat); the rest is cooler.")
    assert strongest_words(where) == said
    text = _heatmap_markdown(pred, predictor)
    assert said in text and READ_BOX_WORDS in text and "centre" not in text, text
    _, overlay = image_alt_texts({**pred.as_dict(), "heatmap": pred.heatmap_summary(predictor.target_layer)},
                                 predictor)
    assert said in overlay and READ_BOX_WORDS in overlay and "centre" not in overlay
    # a pixel disc over a whole 448 px image: 21.5% cold corners, no region
    py, px = np.mgrid[0:448, 0:448]
    disc = np.where((py - 223.5) ** 2 + (px - 223.5) ** 2 <= 224 ** 2, 0.97, 0.05).astype(np.float32)
    found = strongest_heat(disc)
    assert found is not None and found["region"] is None and found["spread"] is True, found
    assert 0.78 <= found["hot_share"] <= 0.79
    assert strongest_words(found).startswith("The heat is spread over 78% of the map (")


def test_a_share_is_not_given_to_a_region_without_the_majority() -> None:
    """A review (F2): the left 4 columns of a 7 x 7 map at 0.92 and one cell at 1.0 in the lower
    right: 29 of 49 cells hot, the share given to the lower right cell ("strongest in the lower
    right (59% ...)"), a region that holds one of them. No region is named."""
    from app.gradcam import strongest_heat, strongest_words

    cells = np.full((7, 7), 0.1, np.float32)
    cells[:, :4] = 0.92
    cells[6, 6] = 1.0
    where = strongest_heat(cv2.resize(cells, (700, 700), interpolation=cv2.INTER_NEAREST))
    assert where is not None and where["region"] is None and where["spread"] is True
    assert where["hot_share"] == 0.591
    said = strongest_words(where)
    assert said == "The heat is spread over 59% of the map (within 10% of its strongest heat); the rest is cooler."
    assert "lower right" not in said


def test_more_than_half_is_never_said_to_be_50_percent() -> None:
    """A review (F3): 501 of 1000 pixels hot is a hot share of 0.501, 50% rounded down: said
    "more than half", spread (the rest cold) or flat (the rest warm)."""
    from app.gradcam import strongest_heat, strongest_words

    cold = np.full((1, 1000), 0.05, np.float32)
    cold[0, :501] = 1.0
    spread = strongest_heat(cold)
    assert spread is not None and spread["hot_share"] == 0.501 and spread["spread"] is True
    assert strongest_words(spread) == ("The heat is spread over more than half of the map (within 10% of its "
                                       "strongest heat); the rest is cooler.")
    warm = np.full((1, 1000), 0.6, np.float32)
    warm[0, :501] = 1.0
    flat = strongest_heat(warm)
    assert flat is not None and flat["spread"] is False and flat["region"] is None
    assert strongest_words(flat) == "No region stands out: more than half of the map is within 10% of its strongest heat."
    assert "50%" not in strongest_words(spread) + strongest_words(flat)


def test_a_small_hot_blob_is_still_named() -> None:
    """The localised case is as it was: a hot blob under half of the map names its region."""
    from app.gradcam import strongest_heat, strongest_words

    heat = np.full((300, 300), 0.2, np.float32)
    heat[220:260, 30:70] = 1.0
    where = strongest_heat(heat)
    assert where is not None and where["stands_out"] is True and where["spread"] is False
    assert where["region"] == "lower left"
    assert strongest_words(where) == "The heat is strongest in the lower left of the image."


def test_the_flat_floor_decides_flat_from_spread() -> None:
    """The edge between a flat map (the rest warm too: no region stands out) and a spread one
    (the rest cooler), at the 10th percentile's half of the maximum; a thin cold rim does not
    make a flat map spread."""
    from app.gradcam import FLAT_FLOOR_PERCENTILE, FLAT_FLOOR_SHARE, strongest_heat

    # the rule's edge: the rest at half the maximum is warm (flat), just under it is cold
    assert FLAT_FLOOR_PERCENTILE == 10 and FLAT_FLOOR_SHARE == 0.5
    for rest, flat in ((0.5, True), (0.49, False)):
        edge = np.full((100, 100), rest, np.float32)
        edge[:60] = 1.0
        found = strongest_heat(edge)
        assert found is not None and found["region"] is None and found["spread"] is not flat, (rest, found)
    # a thin cold rim (under a tenth of the part read) does not make a flat map stand out
    rim = np.full((100, 100), 0.97, np.float32)
    rim[:, :5] = 0.0
    rim[0, 50] = 1.0
    assert strongest_heat(rim)["region"] is None and strongest_heat(rim)["spread"] is False


def test_a_clear_hot_cell_is_still_named(predictor: Predictor, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.server import _heatmap_markdown

    monkeypatch.setattr(predictor, "untrained", False)
    pred = _cells_pred([[1.0, 0.6], [0.7, 0.8]], (1024, 1024))
    where = pred.strongest
    assert where is not None and where["stands_out"] is True and where["region"] == "upper left"
    assert where["hot_share"] == 0.25 and (where["x"], where["y"]) == (256, 256)
    text = _heatmap_markdown(pred, predictor)
    assert "The heat is strongest in the upper left of the image." in text and "stands out" not in text


def test_the_hot_share_is_of_the_part_the_model_read() -> None:
    """A disc crop: the map is 0 outside the box the model read. A map flat over that box singles
    out nothing, though it covers under half of the image (over the whole image, the box's middle
    would be named); a hot corner of the box is still named."""
    from dataclasses import replace

    from app.gradcam import strongest_heat
    from data_prep.cache import RowGeometry

    heat = np.zeros((1000, 1000), np.float32)
    heat[200:800, 200:800] = 0.95
    heat[200:500, 200:500] = 1.0
    crop = RowGeometry((200, 200, 800, 800), cropped=True)
    flat = Prediction(name="scan.png", grade=2, grade_name="PDR", probs=np.array([0.2, 0.3, 0.5]),
                      heatmap=heat, image=np.zeros(heat.shape, np.uint8), seconds=0.1, explained=2,
                      cam_cells=(2, 2), class_names=["Normal", "NPDR", "PDR"], geometry=crop)
    where = flat.strongest
    assert where is not None and where["region"] is None and where["hot_share"] == 1.0
    whole = strongest_heat(heat)  # over the whole image 36% is hot: the box's middle, "centre"
    assert whole is not None and whole["hot_share"] == 0.36 and whole["region"] == "centre"
    corner = heat.copy()
    corner[200:800, 200:800] = 0.3
    corner[200:400, 200:400] = 1.0
    found = replace(flat, heatmap=corner).strongest
    assert found is not None and found["hot_share"] == 0.111 and found["region"] == "upper left"


def test_a_share_of_the_box_is_said_of_the_part_the_model_read(predictor: Predictor,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A review (F2): the hot share is of the box the model read, but the sentence said "of the
    map": a 400 x 600 map, flat at 0.95 in the box (400, 0, 600, 400) and 0 outside, was "every
    part of the map is within 10% of its strongest heat", false for two thirds of the overlay.
    Over a box, the share is said of the part of the image the model read, and the alt text says
    there is no heat outside it, as the page does; over the whole image, of the map."""
    from dataclasses import replace

    from app.gradcam import strongest_heat, strongest_words
    from app.server import READ_BOX_WORDS, image_alt_texts
    from data_prep.cache import RowGeometry

    monkeypatch.setattr(predictor, "untrained", False)
    heat = np.zeros((400, 600), np.float32)
    heat[:, 400:] = 0.95
    heat[0, 500] = 1.0
    pred = Prediction(name="scan.png", grade=2, grade_name="PDR", probs=np.array([0.2, 0.3, 0.5]),
                      heatmap=heat, image=np.zeros(heat.shape, np.uint8), seconds=0.1, explained=2,
                      cam_cells=(7, 7), class_names=["Normal", "NPDR", "PDR"],
                      geometry=RowGeometry((400, 0, 600, 400), cropped=True))
    where = pred.strongest
    assert where is not None and where["read_whole_image"] is False and where["region"] is None
    said = strongest_words(where)
    assert said == ("No region stands out: all of the part of the image the model read is within 10% of its "
                    "strongest heat."), said
    assert "of the map" not in said
    _, overlay = image_alt_texts({**pred.as_dict(), "heatmap": pred.heatmap_summary(predictor.target_layer)},
                                 predictor)
    assert said in overlay and READ_BOX_WORDS in overlay
    part = heat.copy()
    part[300:, 400:] = 0.6  # 75% of the box hot, the rest warm
    share = strongest_words(strongest_heat(part, (400, 0, 600, 400)))
    assert share == ("No region stands out: 75% of the part of the image the model read is within 10% of its "
                     "strongest heat."), share
    # the whole image read: said of the map, and no box sentence in the alt text
    whole = strongest_heat(heat, (0, 0, 600, 400))
    assert whole is not None and whole["read_whole_image"] is True and whole["region"] == "centre right"
    plain = replace(pred, heatmap=np.full((400, 600), 0.95, np.float32), geometry=None)
    _, overlay = image_alt_texts({**plain.as_dict(), "heatmap": plain.heatmap_summary(predictor.target_layer)},
                                 predictor)
    assert "every part of the map is within 10%" in overlay and READ_BOX_WORDS not in overlay


def test_a_map_with_nan_heat_names_no_region(predictor: Predictor, monkeypatch: pytest.MonkeyPatch) -> None:
    """A review (F5): a map holding NaN had a NaN maximum, no pixel at 90% of it, and yet a region
    was named (the connected part of no hot pixels). No place is read from a map whose maximum is
    not finite: None, as for an empty map, and the alt text says why, not "empty"."""
    from app.gradcam import strongest_heat
    from app.server import image_alt_texts

    monkeypatch.setattr(predictor, "untrained", False)
    broken = _cells_pred([[1.0, np.nan], [0.2, 0.2]], (400, 400))
    assert broken.strongest is None and not broken.heatmap_empty
    _, overlay = image_alt_texts({**broken.as_dict(), "heatmap": broken.heatmap_summary(predictor.target_layer)},
                                 predictor)
    assert "not finite" in overlay and "empty" not in overlay and "strongest" not in overlay, overlay

    heat = np.full((90, 90), 0.2, np.float32)
    heat[10:20, 10:20] = 1.0
    assert strongest_heat(heat)["region"] == "upper left"
    heat[50, 50] = np.nan
    assert strongest_heat(heat) is None
    heat[50, 50] = np.inf
    assert strongest_heat(heat) is None
    heat[50, 50] = -np.inf  # a cold pixel, however cold: the maximum is finite
    assert strongest_heat(heat)["region"] == "upper left"


def test_the_page_and_the_alt_text_say_the_same_of_a_map_without_a_place(
        predictor: Predictor, monkeypatch: pytest.MonkeyPatch) -> None:
    """A review (F4): the page said the box sentence for a cropped image (the bundle's crop),
    the alt text only when a place was named (``read_whole_image`` false), so an empty or NaN
    map over a disc's box had it on the page alone; and NaN heat was said in the alt text alone.
    Both now decide by the box read (:func:`app.gradcam.reads_box_only`) and both say NaN."""
    from dataclasses import replace

    from app.server import HEAT_NOT_FINITE_WORDS, READ_BOX_WORDS, _heatmap_markdown, image_alt_texts
    from data_prep.cache import RowGeometry

    monkeypatch.setattr(predictor, "untrained", False)
    broken = _cells_pred([[1.0, np.nan], [0.2, 0.2]], (400, 400))
    empty = replace(broken, heatmap=np.zeros((400, 400), np.float32))
    crop = RowGeometry((100, 0, 300, 400), cropped=True)
    for pred, finite in ((broken, False), (empty, True)):
        for geometry, boxed in ((crop, True), (None, False)):
            shown = replace(pred, geometry=geometry)
            assert shown.strongest is None
            text = _heatmap_markdown(shown, predictor)
            _, overlay = image_alt_texts({**shown.as_dict(),
                                          "heatmap": shown.heatmap_summary(predictor.target_layer)}, predictor)
            for said in (text, overlay):
                assert (READ_BOX_WORDS in said) is boxed, (finite, boxed, said)
                assert (HEAT_NOT_FINITE_WORDS in said) is not finite, (finite, boxed, said)


def test_the_heat_line_says_which_score_it_explains(predictor: Predictor,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The map explains a grade's raw logit; under the default decision (thresholds on the
    expected grade) that is not the score that chose the grade, and the page says so; under
    argmax the grade is the most probable of probabilities that weigh every grade's logit, and
    the page says that; not for a regression head, whose thresholds cut the score its map
    explains."""
    from app.server import _heatmap_markdown

    monkeypatch.setattr(predictor, "untrained", False)
    cal = predictor.bundle.calibration
    assert cal.decision == "thresholds"
    pred = _pred((7, 7), (700, 700), (3, 3))
    note = predictor.heatmap_score_note()
    # plain words (a clinician trial: "raw score (logit)", "expected grade ... cut at thresholds")
    assert "own score for that grade alone" in note and "all the grades' probabilities together" in note
    assert "logit" not in note and "thresholds" not in note
    assert note in _heatmap_markdown(pred, predictor)
    assert predictor.heatmap_score_note("score") == ""
    from dataclasses import replace

    assert "logit" not in _heatmap_markdown(replace(pred, explains="score"), predictor)
    monkeypatch.setattr(predictor.bundle, "calibration", cal.with_decision("argmax"))
    argmax = predictor.heatmap_score_note()
    assert argmax and argmax != note and "thresholds" not in argmax
    assert "chosen from all the grades' probabilities together" in argmax and "logit" not in argmax
    assert argmax in _heatmap_markdown(pred, predictor)
    assert predictor.heatmap_score_note("score") == ""
    monkeypatch.setattr(predictor, "regression", True)
    assert predictor.heatmap_score_note() == ""


def test_the_colour_key_and_caption_are_relative_to_the_maps_maximum() -> None:
    from app.server import HEATMAP_CAPTION, heat_key_html

    assert "relative to this map's maximum" in HEATMAP_CAPTION
    key = heat_key_html()
    assert "relative to this map\\'s maximum" in key or "relative to this map's maximum" in key
    assert "no absolute strength" in key and "high: this map's maximum" in key


def test_an_untrained_demo_models_map_is_said_to_mean_nothing(predictor: Predictor) -> None:
    from app.server import _heatmap_markdown, image_alt_texts

    assert predictor.untrained  # app.demo_bundle's metadata "demo"
    pred = _pred((7, 7), (1024, 1024), (0, 0))
    text = _heatmap_markdown(pred, predictor)
    assert "untrained demo model" in text and "means nothing" in text
    assert "strongest" not in text and "upper left" not in text
    summary = pred.heatmap_summary(predictor.target_layer)
    _, overlay = image_alt_texts({**pred.as_dict(), "heatmap": summary}, predictor)
    assert "means nothing" in overlay and "upper left" not in overlay


def test_the_details_keep_the_raw_maximum_and_say_the_scale(predictor: Predictor,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """``details["heatmap"]``: the combined map's maximum before scaling (the one-pass map's
    own), what it means, that the colours are relative, the views it averaged (the grade's 4:
    Grad-CAM of the score the grade uses, checked by hand) and the caveat; the method names the
    combination, the page the flips."""
    import torch

    from app.server import _heatmap_markdown, heatmap_method
    from drac_ssl.grading.predict import TTA_FLIPS, ensemble_outputs, preprocess_image

    rng = np.random.default_rng(3)
    image = np.clip(rng.normal(90, 30, (256, 256)), 0, 255).astype(np.uint8)
    lit = None
    for k in range(3):
        pred = predictor.predict(image, explain=k)
        if not pred.heatmap_empty:
            lit = pred
            break
    assert lit is not None and lit.cam_raw_max is not None and lit.cam_raw_max > 0.0
    # Grad-CAM of the score the grade uses, by hand (autograd on each fold model and flipped
    # view, no app.gradcam code): the mean over folds f and views v of the explained logit, s;
    # each layer4 map A_fv and ds/dA_fv, weights the spatial mean of the gradient, each signed map
    # flipped back onto the image, summed over channels, folds and views, then ReLU
    x = preprocess_image(image, predictor.metadata)[None]
    models = predictor.bundle.models
    signed = []
    score = 0.0
    for model in models:
        for dims in TTA_FLIPS:
            kept: list[torch.Tensor] = []
            hook = model.get_submodule("backbone.layer4").register_forward_hook(
                lambda _m, _i, out, kept=kept: kept.append(out))
            try:
                logit = model(x.flip(dims) if dims else x)[0, lit.explained] / (len(models) * len(TTA_FLIPS))
            finally:
                hook.remove()
            (grad,) = torch.autograd.grad(logit, kept[0])
            cam = (grad.mean(dim=(2, 3), keepdim=True) * kept[0]).sum(1)[0].detach()
            signed.append(cam.flip([d + 2 for d in dims]) if dims else cam)  # (h, w): dims of (n, C, h, w)
            score += float(logit.detach())
    cells = torch.relu(torch.stack(signed).sum(0))
    # s is the grade's own score: the mean over folds of each fold's logit averaged over the flips
    raw = ensemble_outputs(predictor.bundle, x, tta=True).raw
    assert score == pytest.approx(float(np.mean([r[0, lit.explained] for r in raw])), rel=1e-4, abs=1e-6)
    assert tuple(cells.shape) == lit.cam_cells == (2, 2)
    assert lit.cam_raw_max == pytest.approx(float(cells.max()), rel=1e-4)
    # the picture: each cell drawn at its evidence over the maximum (0 = none, 1 = the maximum)
    drawn = np.unique(np.round(lit.heatmap, 4))
    want = np.round((cells / cells.max()).numpy(), 4)
    assert set(drawn.tolist()) <= set(want.ravel().tolist()) | {0.0}, (drawn, want)
    assert float(lit.heatmap.max()) == pytest.approx(1.0, abs=1e-6)
    out = ensemble_outputs(predictor.bundle, x, keep_maps=True)
    assert out.maps is not None and tuple(out.maps[0].shape[:2]) == (1, 4)  # (n, V, C, h, w): every view
    # the identity view alone is another map (it leans half a cell): the by-hand check has teeth
    alone = Predictor(predictor.bundle, tta=False).predict(image, explain=lit.explained)
    assert alone.cam_raw_max != pytest.approx(lit.cam_raw_max, rel=1e-3) and alone.cam_views == 1
    summary = lit.heatmap_summary(predictor.target_layer)
    assert summary is not None and summary["raw_max"] == lit.cam_raw_max
    assert summary["raw_max_note"] == RAW_MAX_NOTE and "No threshold calls a map weak" in RAW_MAX_NOTE
    assert "this map's maximum" in summary["scale"] and "0 = no positive evidence" in summary["scale"]
    assert "min-max" not in summary["scale"]
    assert predictor.tta and summary["views"] == lit.cam_views == 4 and "flips_left_out" not in summary
    assert "flipped back onto the image" in summary["views_note"] and "before the ReLU" in summary["views_note"]
    assert summary["caveat"] == HEATMAP_CAVEAT
    assert summary["resolution"] == "2 × 2 cells, each about 128 px of this image"
    assert summary["cell_px"] == [128.0, 128.0]
    method = heatmap_method(lit, predictor)
    assert ("mean logit over 2 fold model(s), on the identity view and its 3 flipped views, each view's "
            "map flipped back onto the image, as the grade averages them") in method and "before scaling" in method
    described = predictor.describe()
    assert "mean logit" in described and "over the same 4 views as the grade" in described
    assert "identity view only" not in described and "left out" not in method
    monkeypatch.setattr(predictor, "untrained", False)  # a trained model's page words
    page = _heatmap_markdown(lit, predictor)
    assert "Like the grade, it averages the image and its 3 flipped copies" in page and "leaves out" not in page
    from app.server import HEATMAP_PAGE_CAVEAT_ONE_VIEW

    no_tta = _heatmap_markdown(_pred((7, 7), (700, 700), (3, 3), cam_views=1), predictor)
    assert "Like the grade" not in no_tta and HEATMAP_PAGE_CAVEAT_ONE_VIEW in no_tta
    assert "Like the grade" not in _heatmap_markdown(alone, predictor)


def test_the_model_card_limits_the_heatmap(tmp_path: Path, one_thread: None) -> None:
    import json

    from drac_ssl.grading.bundle import _model_card, heatmap_limits

    bundle_dir = build_demo_bundle(tmp_path / "run", image_size=32, source_size=32, n_folds=1)
    meta = json.loads((bundle_dir / "metadata.json").read_text())
    meta.pop("demo", None)  # the package's card, as a trained bundle gets it
    card = _model_card(meta)
    limitations = card[card.index("## Limitations"):]
    said = heatmap_limits(meta)
    assert said in limitations and HEATMAP_CAVEAT in said and HEATMAP_BENCH_WORDS in said
    assert "89 of 96" in said and "+0.77" in said and "361 of the 2401" in said and "python -m bench.heatmap_sanity" in said
    assert "tell nothing about the maps of the model this card describes" in said
    assert "over the same views as the grade" in said and "left out" not in said
    assert not _withdrawn_in(said)  # the one-off trial's figures
    assert "its own maximum" in said and "expected grade cut at thresholds" in said
    assert "not its last convolution, `head.conv`" in card
    meta["calibration"]["decision"] = "argmax"
    assert "thresholds" not in heatmap_limits(meta)
    assert "weigh every grade's logit" in heatmap_limits(meta)
    meta["calibration"]["decision"] = "thresholds"
    meta["model"]["output"] = "regression"
    regression = heatmap_limits(meta)
    assert "regression output" in regression and "another score" not in regression


def test_the_docs_and_readme_carry_the_caveat() -> None:
    page = " ".join((REPO / "docs" / "app.md").read_text(encoding="utf-8").split())
    assert HEATMAP_CAVEAT in page and " ".join(HEATMAP_BENCH_WORDS.split()) in page
    assert "python -m bench.heatmap_sanity" in page and "Until 2026-12-05 each fold's map" in page
    assert not _withdrawn_in(page)  # the one-off trial's figures, replaced
    assert "stacked as the channels of one layer" in page and "taken together as one layer" not in page
    assert "Grad-CAM of the ensemble's mean logit" in page and "`head.conv`" in page
    assert "relative to this map's maximum" in page and "raw_max" in page
    assert not re.search(r"about \d+% across, \d+% down\)\":", page)
    readme = " ".join((REPO / "README.md").read_text(encoding="utf-8").split())
    assert "Grad-CAM heatmap (a coarse attribution of one score" in readme and "not a lesion detector" in readme
    assert "averaged over the same flips as the grade" in readme


def _text_of(place: str) -> str:
    """The text of a place that quotes the heatmap bench (see :func:`_said`)."""
    import app.gradcam
    from app.server import (
        HEATMAP_PAGE_CAVEAT,
        HEATMAP_PAGE_CAVEAT_LINEAR,
        HEATMAP_PAGE_CAVEAT_LINEAR_ONE_VIEW,
        HEATMAP_PAGE_CAVEAT_ONE_VIEW,
    )

    return {"words": lambda: HEATMAP_BENCH_WORDS, "words_one_view": lambda: HEATMAP_BENCH_WORDS_ONE_VIEW,
            "page": lambda: HEATMAP_PAGE_CAVEAT, "page_one_view": lambda: HEATMAP_PAGE_CAVEAT_ONE_VIEW,
            "page_linear": lambda: HEATMAP_PAGE_CAVEAT_LINEAR,
            "page_linear_one_view": lambda: HEATMAP_PAGE_CAVEAT_LINEAR_ONE_VIEW,
            "module": lambda: app.gradcam.__doc__ or "",
            "docs": lambda: (REPO / "docs" / "app.md").read_text(encoding="utf-8"),
            "readme": lambda: (REPO / "README.md").read_text(encoding="utf-8")}[place]()


PLACES = ("words", "words_one_view", "page", "page_one_view", "page_linear", "page_linear_one_view", "module",
          "docs", "readme")

LIMITS = {
    "words": ("synthetic grey images, a frozen random-init ResNet-18",
              "they tell nothing about the maps of the model this card describes",
              ", failing that sanity check by the bench's own rule (median |Spearman| < 0.5)"),
    "words_one_view": ("synthetic grey images, a frozen random-init ResNet-18",
                       "they tell nothing about the maps of the model this card describes",
                       ", failing that sanity check by the bench's own rule (median |Spearman| < 0.5)"),
    "page": (HEATMAP_CAVEAT, "(a conv-head test model on synthetic images with a random frozen backbone; says "
                             "nothing about this model's maps;"),
    "page_one_view": (HEATMAP_CAVEAT, "(a conv-head test model on synthetic images with a random frozen backbone; "
                                      "says nothing about this model's maps;"),
    "page_linear": (HEATMAP_CAVEAT, "(a linear-head test model on synthetic images with a random frozen backbone; "
                                    "says nothing about this model's maps;",
                    "the map failed a randomisation sanity check"),
    "page_linear_one_view": (HEATMAP_CAVEAT, "(a linear-head test model on synthetic images with a random frozen "
                                             "backbone; says nothing about this model's maps;",
                             "the map failed a randomisation sanity check"),
    "module": ("It is not a lesion detector", "synthetic grey images, a frozen random-init ResNet-18",
               "its figures say nothing about a real bundle's maps", "judged by the bench's own rule (median "
               "|Spearman| < 0.5)", "failing that sanity check"),
    "docs": (HEATMAP_CAVEAT, "synthetic grey images, a frozen random-init ResNet-18",
             "they tell nothing about the maps of the model this card describes",
             "a conv-head test model on synthetic images with a random frozen backbone; says nothing about this "
             "model's maps", ", failing that sanity check by the bench's own rule", "none of its figures apply"),
    "readme": ("not a lesion detector", "a conv-head test model on synthetic images with a random frozen backbone, "
                                        "which says nothing about a real bundle's maps"),
}
"""The words that limit the bench's figures, which every place quoting them must say (a review:
removing any of them left every test green): the scope (a test model on synthetic images with a
random frozen backbone, saying nothing about the bundle at hand), the failed sanity check and its
rule (the bench's own, not the paper's), and the standing caveat."""

WRONG = ("points to a region of about a cell", "lands about a cell off", "lands about one cell off",
         "which the map leaves out", "reads the identity view only", "sanity check (Adebayo",
         "median Spearman of the signed maps < 0.5")
"""Words taken back: the flips had it backwards (the identity view's map is the one about half a
cell off; the map now averages the views), "a region of about a cell" the data do not support
(on the spot's own cell in about half the images), and the pass rule is the bench's, on the
absolute correlation, not Adebayo et al.'s."""


@pytest.mark.parametrize("place", PLACES)
def test_the_quoted_figures_are_the_committed_benchs(place: str) -> None:
    """Every figure the model card (HEATMAP_BENCH_WORDS), the page (HEATMAP_PAGE_CAVEAT, and
    HEATMAP_PAGE_CAVEAT_LINEAR for a linear-head bundle), app/gradcam.py, docs/app.md and the
    README quote of the heatmap bench is the committed result's, and none of the one-off trial's
    is left: a rerun of ``python -m bench.heatmap_sanity`` that changes a figure fails here until
    the words follow."""
    import json

    from app.server import HEATMAP_PAGE_CAVEAT_FEW_CELLS

    record = json.loads(BENCH_RESULT.read_text(encoding="utf-8"))
    flat = _flat(_text_of(place))
    missing = [phrase for phrase in _said(record, place) if _flat(phrase) not in flat]
    assert not missing, f"{place} does not quote the bench's figures: {missing}"
    assert not _withdrawn_in(flat), place
    assert not _withdrawn_in(HEATMAP_PAGE_CAVEAT_FEW_CELLS)


@pytest.mark.parametrize("place", PLACES)
def test_every_place_quoting_the_bench_says_what_limits_it(place: str) -> None:
    """The scope of the figures (a test model on synthetic images: nothing about this model's
    maps), the failed randomisation check and whose rule judged it, and the caveat, in every
    place; no word taken back is left."""
    flat = _flat(_text_of(place))
    missing = [words for words in LIMITS[place] if _flat(words) not in flat]
    assert not missing, f"{place} leaves out the words that limit the bench's figures: {missing}"
    wrong = [words for words in WRONG if words in flat]
    assert not wrong, f"{place} still says {wrong}"


def test_the_page_quotes_only_the_bench_figures_of_the_bundles_head() -> None:
    """A conv-head bundle's page gives the conv head's figures, a linear-head bundle's the linear
    head's (within one cell in only 40 of 96, a failed randomisation check), an MLP or regression
    head's none (the bench did not measure them); a 2 x 2 map none whatever the head."""
    from app.server import (
        HEATMAP_PAGE_CAVEAT,
        HEATMAP_PAGE_CAVEAT_FEW_CELLS,
        HEATMAP_PAGE_CAVEAT_LINEAR,
        heatmap_page_caveat,
    )

    assert heatmap_page_caveat((7, 7), "conv", 4) == HEATMAP_PAGE_CAVEAT
    assert heatmap_page_caveat((7, 7), "linear", 4) == HEATMAP_PAGE_CAVEAT_LINEAR
    assert "89 of 96" not in HEATMAP_PAGE_CAVEAT_LINEAR and "47 of 96" not in HEATMAP_PAGE_CAVEAT_LINEAR
    for head in ("mlp", "regression", None):
        for views in (1, 4):
            said = heatmap_page_caveat((7, 7), head, views)
            assert HEATMAP_CAVEAT in said and "none of its figures apply to this model" in said
            assert not re.search(r"\d+ of 96", said), said
    assert "not this model's mlp head" in heatmap_page_caveat((7, 7), "mlp", 4)
    for head in ("conv", "linear", "mlp"):
        for views in (1, 4):
            assert heatmap_page_caveat((2, 2), head, views) == HEATMAP_PAGE_CAVEAT_FEW_CELLS
    # a count of views the bench did not measure: no figure
    odd = heatmap_page_caveat((7, 7), "conv", 2)
    assert "none of its figures apply" in odd and not re.search(r"\d+ of 96", odd), odd


def test_a_map_of_the_identity_view_alone_gets_the_benchs_identity_view_figures(
        tmp_path: Path, one_thread: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """A review: a bundle graded without flips (``finetune.tta: false``, or the app's
    ``--no-tta``) draws the identity view's map alone, and its page quoted the 4 views' figures
    (47 and 89 of 96; the identity view's are 21 and 81, the linear head's 39). The page follows
    the prediction's own views, the card the bundle's ``tta.used_in_cv``."""
    import json

    from app.server import (
        HEATMAP_PAGE_CAVEAT,
        HEATMAP_PAGE_CAVEAT_LINEAR_ONE_VIEW,
        HEATMAP_PAGE_CAVEAT_ONE_VIEW,
        _heatmap_markdown,
        heatmap_page_caveat,
    )
    from drac_ssl.grading.bundle import heatmap_bench_words, heatmap_limits

    assert heatmap_page_caveat((7, 7), "conv", 1) == HEATMAP_PAGE_CAVEAT_ONE_VIEW
    assert heatmap_page_caveat((7, 7), "linear", 1) == HEATMAP_PAGE_CAVEAT_LINEAR_ONE_VIEW
    for one in (HEATMAP_PAGE_CAVEAT_ONE_VIEW, HEATMAP_PAGE_CAVEAT_LINEAR_ONE_VIEW):
        assert "89 of 96" not in one and "47 of 96" not in one and "the image alone" in one
    # a real predictor's map, 96 px (3 x 3 cells at layer4), flips off and on: the page quotes the
    # figures of the views its map averaged (the bench's grid set to this map's, for the view logic
    # alone: a 3 x 3 map otherwise gets no figure, the test above)
    import app.server

    monkeypatch.setattr(app.server, "BENCH_CELLS", (3, 3))
    bundle_dir = build_demo_bundle(tmp_path / "run", image_size=96, source_size=96, n_folds=1)
    image = np.clip(np.random.default_rng(5).normal(90, 30, (96, 96)), 0, 255).astype(np.uint8)
    for tta, caveat, other in ((False, HEATMAP_PAGE_CAVEAT_ONE_VIEW, HEATMAP_PAGE_CAVEAT),
                               (True, HEATMAP_PAGE_CAVEAT, HEATMAP_PAGE_CAVEAT_ONE_VIEW)):
        predictor = Predictor(bundle_dir, tta=tta)
        monkeypatch.setattr(predictor, "untrained", False)
        pred = predictor.predict(image, explain=1)
        assert pred.cam_cells == (3, 3) and pred.cam_views == (4 if tta else 1)
        text = _heatmap_markdown(pred, predictor)
        assert caveat in text and other not in text
        assert ("within one cell of it in 81 of 96" in text) is not tta and ("in 89 of 96" in text) is tta
        # a prediction that does not say its views is read as its predictor's
        assert caveat in _heatmap_markdown(_pred((3, 3), (700, 700), (1, 1)), predictor)
    # the model card: the bundle's own views (tta.used_in_cv), the figures of that map
    meta = json.loads((bundle_dir / "metadata.json").read_text())
    assert meta["tta"]["used_in_cv"] is True
    flips = heatmap_limits(meta)
    assert HEATMAP_BENCH_WORDS in flips and HEATMAP_BENCH_WORDS_ONE_VIEW not in flips
    assert "the image and its 3 flips" in flips and "uses no flips" not in flips
    # served with --no-tta the map is the identity view's: the card says where its figures are
    assert "served without flips (the app's `--no-tta`), the image alone" in flips
    assert "(the identity view alone, as with flips off: 81 and 21)" in flips
    meta["tta"]["used_in_cv"] = False
    alone = heatmap_limits(meta)
    assert HEATMAP_BENCH_WORDS_ONE_VIEW in alone and HEATMAP_BENCH_WORDS not in alone
    assert "within one cell of the spot in 81 of 96 images with the conv head" in alone
    assert "in 89 of 96" not in alone and "as the grade averages them" not in alone
    assert "this model's grade uses no flips (`finetune.tta: false`), so the image alone" in alone
    del meta["tta"]  # a bundle written before tta was recorded: flips, as then always
    assert HEATMAP_BENCH_WORDS in heatmap_limits(meta)
    assert heatmap_bench_words(1) == HEATMAP_BENCH_WORDS_ONE_VIEW and heatmap_bench_words(4) == HEATMAP_BENCH_WORDS
    with pytest.raises(ValueError, match="views must be 1"):
        heatmap_bench_words(2)


def test_a_linear_head_bundles_page_gives_the_linear_heads_figures(tmp_path: Path, one_thread: None,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from app.server import HEATMAP_PAGE_CAVEAT, HEATMAP_PAGE_CAVEAT_LINEAR, _heatmap_markdown

    predictor = Predictor(build_demo_bundle(tmp_path / "run", image_size=64, source_size=64, n_folds=1,
                                            head="linear"))
    monkeypatch.setattr(predictor, "untrained", False)
    assert predictor.head == "linear"
    text = _heatmap_markdown(_pred((7, 7), (700, 700), (3, 3)), predictor)
    assert HEATMAP_PAGE_CAVEAT_LINEAR in text and HEATMAP_PAGE_CAVEAT not in text and "89 of 96" not in text


def test_a_map_of_other_cells_than_the_benchs_quotes_none_of_its_figures() -> None:
    """Review of 0e97f21 (F1): a 16 x 16 map (512 px) got the bench's 7 x 7 figures, "within one
    cell" and its 15 % chance included, which do not carry over to another grid."""
    from app.server import BENCH_CELLS, heatmap_page_caveat

    assert BENCH_CELLS == (7, 7)
    wide = heatmap_page_caveat((16, 16), "conv", 4)
    assert "16 x 16" in wide and "none of its figures apply" in wide and "of 96" not in wide and "15 %" not in wide
    assert HEATMAP_CAVEAT in wide
    assert "of 96" in heatmap_page_caveat((7, 7), "conv", 4)
