"""The pure helpers of ``bench/heatmap_sanity.py``: the within-one-cell rule, the exact chance of
a random peak and of a fixed habit, the exact tests, the peak of a map and its signed offset, the
maps' correlation, the planted cue, and which runs are smoke runs; and one smoke run of the whole
bench on 96 px images (3 x 3 cells, about 10 CPU s: its own checks, the Predictor's map and grade
on every image with flips on and off, run; the protocol takes minutes and is not run here)."""

from __future__ import annotations

import argparse
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import binom

from bench import heatmap_sanity as hs
from bench.common import smoke_result_name


def test_within_one_cell_is_the_kings_move() -> None:
    assert hs.chebyshev((0, 0), (1, 1)) == 1 and hs.chebyshev((3, 1), (0, 2)) == 3
    assert hs.within_one_cell((2, 2), (2, 2)) and hs.within_one_cell((1, 3), (2, 2))
    assert hs.within_one_cell((3, 3), (2, 2)) and not hs.within_one_cell((4, 2), (2, 2))
    assert not hs.within_one_cell((0, 2), (2, 2))
    assert not hs.within_one_cell(None, (2, 2))  # an empty map has no peak: a miss


def test_neighbourhoods_clip_at_the_edges() -> None:
    assert hs.neighbourhood((3, 3), (7, 7)) == 9
    assert hs.neighbourhood((0, 3), (7, 7)) == 6 and hs.neighbourhood((3, 6), (7, 7)) == 6
    assert hs.neighbourhood((0, 0), (7, 7)) == 4 and hs.neighbourhood((6, 6), (7, 7)) == 4
    assert hs.neighbourhood((0, 0), (1, 1)) == 1
    with pytest.raises(ValueError, match="outside a 7 x 7 grid"):
        hs.neighbourhood((7, 0), (7, 7))


def test_the_chance_of_a_random_peak_is_exact() -> None:
    assert hs.chance_within_one_cell((7, 7)) == Fraction(361, 2401)  # 4*4 + 20*6 + 25*9 = 361
    assert hs.chance_within_one_cell((3, 3)) == Fraction(4 * 4 + 4 * 6 + 9, 81)
    assert hs.chance_within_one_cell((2, 2)) == 1  # every cell within one cell of every other
    # by brute force over every (peak, cue) pair
    cells = [(r, c) for r in range(5) for c in range(4)]
    pairs = sum(hs.within_one_cell(p, q) for p in cells for q in cells)
    assert hs.chance_within_one_cell((5, 4)) == Fraction(pairs, len(cells) ** 2)


def test_a_fixed_habit_scores_at_most_its_largest_neighbourhood() -> None:
    """A map that ignores the image, its peak always on one cell, is within one cell of a
    uniform cue as often as that cell's neighbourhood is large: 9 of 49 for an inner cell of
    7 x 7, more than a uniformly random peak's 361 of 2401."""
    assert hs.habit_within_one_cell((7, 7)) == Fraction(9, 49) > hs.chance_within_one_cell((7, 7))
    assert hs.habit_within_one_cell((2, 2)) == 1 and hs.habit_within_one_cell((1, 5)) == Fraction(3, 5)
    cells = [(r, c) for r in range(7) for c in range(7)]
    best = max(sum(hs.within_one_cell(fixed, cue) for cue in cells) for fixed in cells)
    assert hs.habit_within_one_cell((7, 7)) == Fraction(best, len(cells))


def test_the_peaks_signed_offsets_count_each_side() -> None:
    said = hs.peak_offsets([(3, 4), (2, 2), None, (0, 6)], [(2, 4), (2, 3), (1, 1), (1, 6)])
    assert said["n"] == 3  # the empty map has no peak
    assert said["row"] == {"-1": 1, "0": 1, "+1": 1} and said["column"] == {"-1": 1, "0": 2}
    assert said["mean_row"] == 0.0 and said["mean_column"] == pytest.approx(-1 / 3, abs=1e-4)
    assert hs.peak_offsets([None], [(0, 0)]) == {"n": 0, "row": {}, "column": {}, "mean_row": None,
                                                 "mean_column": None}


def test_the_poisson_binomial_tail_is_the_binomial_one_for_equal_chances() -> None:
    for k in (0, 1, 5, 12, 20):
        assert hs.poisson_binomial_tail([0.15] * 20, k) == pytest.approx(binom.sf(k - 1, 20, 0.15), abs=1e-12)
        assert hs.binomial_upper_p(k, 20, 0.15) == pytest.approx(binom.sf(k - 1, 20, 0.15), rel=1e-9)
    assert hs.poisson_binomial_tail([0.1, 0.5], 2) == pytest.approx(0.05)
    assert hs.poisson_binomial_tail([0.1, 0.5], 1) == pytest.approx(1 - 0.9 * 0.5)
    assert hs.poisson_binomial_tail([0.1, 0.5], 0) == 1.0
    assert hs.poisson_binomial_tail([0.1, 0.5], 3) == 0.0
    # a far tail keeps its digits: SciPy 1.17's sf (one minus the CDF) gave 2.8e-15 for 89 of 96
    # at 0.15 each, truly 1.8e-64, and 0.0 for 89 of 96 at chances of 4, 6 and 9 in 49, truly
    # 4.8e-72 (counted exactly below); it gave 0.0 too for the conv head's 89 of 96 against its
    # cues' own chances (1.65e-64 in bench/results/heatmap_sanity.json)
    assert hs.poisson_binomial_tail([0.15] * 96, 89) == pytest.approx(binom.sf(88, 96, 0.15), rel=1e-9)
    assert hs.poisson_binomial_tail([0.15] * 96, 89) == pytest.approx(1.8e-64, rel=0.02)
    mixed = [Fraction(4, 49), Fraction(6, 49), Fraction(9, 49)] * 32
    exact = _exact_tail(mixed, 89)
    assert float(exact) == pytest.approx(4.8e-72, rel=0.02)
    assert hs.poisson_binomial_tail([float(p) for p in mixed], 89) == pytest.approx(float(exact), rel=1e-9)


def _exact_tail(probabilities: list[Fraction], k: int) -> Fraction:
    """``P(X >= k)`` of a Poisson-binomial X, counted in exact fractions (trial by trial)."""
    counts = [Fraction(1)]
    for p in probabilities:
        counts = [c * (1 - p) + (counts[i - 1] * p if i else 0) for i, c in enumerate(counts)] + [counts[-1] * p]
    return sum(counts[k:], Fraction(0))


def test_the_peak_of_a_map_and_an_empty_one() -> None:
    heat = np.zeros((7, 7))
    assert hs.peak_cell(heat) is None
    heat[2, 5] = 0.7
    heat[4, 1] = 1.0
    assert hs.peak_cell(heat) == (4, 1)
    heat[0, 3] = 1.0  # a tie: the first in reading order
    assert hs.peak_cell(heat) == (0, 3)
    assert hs.peak_cell(-np.ones((3, 3))) is None


def test_the_shown_cells_are_relu_over_the_maximum() -> None:
    class Cam:
        signed = np.array([[-1.0, 0.5], [2.0, 0.0]], np.float32)
        raw_max = 2.0

    np.testing.assert_allclose(hs.shown_cells(Cam()), [[0.0, 0.25], [1.0, 0.0]])
    Cam.signed, Cam.raw_max = -np.ones((2, 2), np.float32), 0.0
    assert not hs.shown_cells(Cam()).any()


def test_the_mean_pairwise_correlation_leaves_constant_maps_out() -> None:
    a = np.arange(9.0).reshape(3, 3)
    assert hs.mean_pairwise_correlation([a, 2 * a + 1, np.zeros((3, 3))]) == (pytest.approx(1.0), 2)
    assert hs.mean_pairwise_correlation([a, -a])[0] == pytest.approx(-1.0)
    assert hs.mean_pairwise_correlation([a, np.zeros((3, 3))]) == (None, 1)


def test_the_planted_cue_lies_in_its_cell_and_is_reproducible() -> None:
    for seed in range(5):
        image, cell = hs.cue_image(np.random.default_rng(seed), True, 224, 7)
        assert image.shape == (224, 224) and image.dtype == np.uint8 and cell is not None
        again, same = hs.cue_image(np.random.default_rng(seed), True, 224, 7)
        assert same == cell and np.array_equal(again, image)
        plain, _ = hs.cue_image(np.random.default_rng(seed + 10), False, 224, 7)
        # the spot: its cell (or a neighbour, a disc near a border) holds the image's brightest block
        block = image.reshape(7, 32, 7, 32).astype(float)
        brightest = np.unravel_index(int(np.argmax(np.percentile(block, 99, axis=(1, 3)))), (7, 7))
        assert hs.chebyshev(brightest, cell) <= 1, (seed, brightest, cell)
        assert int(image.max()) > int(plain.max()) + 40
    assert hs.cue_image(np.random.default_rng(0), False)[1] is None


def test_any_departure_from_the_protocol_is_a_smoke_run() -> None:
    def args(**changed: object) -> argparse.Namespace:
        return argparse.Namespace(**{"smoke": False, "train_images": hs.TRAIN_IMAGES,
                                     "test_images": hs.TEST_IMAGES, "layer_images": hs.LAYER_IMAGES,
                                     "random_images": hs.RANDOM_IMAGES, "epochs": hs.EPOCHS,
                                     "image_size": hs.IMAGE_SIZE, **changed})

    assert hs.smoke_reasons(args()) == []
    assert smoke_result_name("heatmap_sanity", hs.smoke_reasons(args())) == "heatmap_sanity"
    for changed in ({"smoke": True}, {"epochs": 3}, {"test_images": 8}, {"image_size": 96},
                    {"layer_images": 2}, {"random_images": 4}, {"train_images": 48}):
        reasons = hs.smoke_reasons(args(**changed))
        assert reasons, changed
        assert smoke_result_name("heatmap_sanity", reasons) == "heatmap_sanity_smoke"


def test_the_help_names_the_command_and_a_bad_size_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        hs.main(["--help"])
    assert stop.value.code == 0
    assert "-m bench.heatmap_sanity" in capsys.readouterr().out
    with pytest.raises(SystemExit) as stop:
        hs.main(["--image-size", "100"])
    assert stop.value.code == 2
    assert "--image-size must be a multiple of 32" in capsys.readouterr().err


def test_the_readme_rows_show_each_heads_figures_and_the_failed_check() -> None:
    import json

    from bench.summarize import heatmap_sanity_rows

    record = json.loads((Path(__file__).resolve().parents[2] / "bench" / "results" / "heatmap_sanity.json")
                        .read_text(encoding="utf-8"))
    rows = heatmap_sanity_rows(record)
    conv, layers, linear = rows
    loc = record["heads"]["conv"]["localisation"]
    assert "conv head" in conv and f"{loc['hits_within_one_cell']} of {loc['n']}" in conv
    assert "chance 361/2401" in conv and "every step passes" in conv
    assert "a fixed habit's worst case 9/49" in conv and "median |Spearman|" in conv
    assert "says nothing about a real bundle's maps" in conv and "says nothing about a real bundle's maps" in linear
    identity = record["heads"]["conv"]["combinations"]["identity_view"]
    assert f"the app's map ({loc['views']} views averaged, as the grade)" in conv
    assert (f"the identity view alone: on its cell {identity['hits_on_the_cue_cell']}, within one cell "
            f"{identity['hits_within_one_cell']}") in conv
    assert "linear head" in linear and "fails at head" in linear
    assert "chance 1/49" in layers and "occlusion" in layers and "head.conv_four_flips_averaged" in layers
    assert "layer4_identity_view" in layers
    record["heads"]["conv"]["randomisation"]["steps"][2]["passes"] = False
    assert "fails at backbone.layer3" in heatmap_sanity_rows(record)[0]


def test_a_smoke_run_of_the_bench_writes_every_figure(tmp_path: Path) -> None:
    """The whole bench, tiny: its own checks run (the Predictor's grade and map on every test
    image, flips on and off; the combinations' figures are of those very maps) and the result holds what
    the words quote: per combination the hits on and near the cue's cell and the peaks' signed
    offsets, the worst-case habit's test, the randomisation's absolute rule, the receptive field."""
    import json

    assert hs.main(["--smoke", "--image-size", "96", "--train-images", "24", "--test-images", "4",
                    "--random-images", "3", "--layer-images", "2", "--epochs", "2",
                    "--out-dir", str(tmp_path)]) == 0
    record = json.loads((tmp_path / "heatmap_sanity_smoke.json").read_text(encoding="utf-8"))
    assert record["smoke"] is True and "--smoke" in record["smoke_reasons"]
    assert record["receptive_field"]["cell"] == [1, 1] and record["receptive_field"]["by_the_arithmetic_px"] == [32, 32]
    for head in hs.HEADS:
        entry = record["heads"][head]
        for said in entry["map_equals_predictor"].values():
            assert said["same_grade"] == said["same_map"] == said["n"] == 4
        assert {s["tta"] for s in entry["map_equals_predictor"].values()} == {True, False}
        loc = entry["localisation"]
        assert loc["habit_within_one_cell_worst_case"] == "1/1"  # 3 x 3: any inner peak
        assert entry["flip_tta"] is True and loc["views"] == entry["app_map_views"] == 4  # the grade's views
        combos = entry["combinations"]
        for key in ("hits_within_one_cell", "hits_on_the_cue_cell", "peak_minus_cue", "mean_pairwise_correlation_of_maps"):
            assert combos["four_flips_averaged"][key] == loc[key]  # the app's map, with flip TTA
        for name in ("identity_view", "four_flips_averaged", "folds_scaled_then_averaged_before_2026_12_05"):
            said = entry["combinations"][name]
            assert {"hits_on_the_cue_cell", "hits_within_one_cell", "peak_minus_cue"} <= set(said)
            assert sum(said["peak_minus_cue"]["row"].values()) == said["peak_minus_cue"]["n"] == 4 - said["empty_maps"]
        steps = entry["randomisation"]["steps"]
        assert "median |Spearman|" in entry["randomisation"]["pass_rule"]
        for step in steps:
            median = step["abs_spearman_signed"]["median"]
            assert step["passes"] is (None if median is None else median < hs.PASS_BELOW)
    layers = record["heads"]["conv"]["layers"]
    assert {"layer4_identity_view", "layer4_four_flips_averaged", "head.conv_identity_view",
            "head.conv_four_flips_averaged", "occlusion"} <= set(layers)
    assert layers["app_map"] == "layer4_four_flips_averaged"


def test_the_bench_checks_by_raising_not_asserting() -> None:
    """A review: the bench's checks were bare asserts, which ``python -O`` strips (one compared a
    result with itself). None is left in the bench's module; the Predictor's agreement is a
    RuntimeError naming the counts; combinations refuses maps of the wrong views."""
    import ast

    tree = ast.parse(Path(hs.__file__).read_text(encoding="utf-8"))
    asserts = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Assert)]
    assert asserts == [], f"bench/heatmap_sanity.py asserts at lines {asserts}: raise an error instead"
    hs.require_predictor_agreement({"n": 4, "tta": True, "same_grade": 4, "same_map": 4})
    for grade, same_map in ((3, 4), (4, 3)):
        with pytest.raises(RuntimeError, match=r"differs from the bench's on 1 of 4 images \(flip TTA False\)"):
            hs.require_predictor_agreement({"n": 4, "tta": False, "same_grade": grade, "same_map": same_map})

    class Map:
        def __init__(self, views: int) -> None:
            self.views = views

    with pytest.raises(ValueError, match="identity_maps must be maps of the identity view alone"):
        hs.combinations(None, "classification", [], [Map(4)], [Map(4)], [], (96, 96))  # type: ignore[arg-type]


def test_the_occlusion_map_is_each_painted_cell_graded_by_the_fold_models(tmp_path: Path) -> None:
    """The layer comparison's occlusion (MONAI's OcclusionSensitivity, which paints the model
    input) against an independent computation on a tiny fixed input: a 96 px image (3 x 3
    cells of 32 px), each cell in turn painted with the image's median grey in the uint8 image,
    preprocessed, and graded by each fold model on its own (``model(x)``, not the ensemble's
    shared-backbone pass); the drop of the folds' mean logit of the cue's grade agrees within
    1e-6 logits (float32 arithmetic on batches of other shapes; the drops themselves are about
    1e-3 here, the heads untrained). A size the painting would not match is refused."""
    import torch

    from drac_ssl.grading.predict import preprocess_image

    bundle = hs._bundle(tmp_path, "conv", 2, 96)
    image, _ = hs.cue_image(np.random.default_rng(3), True, 96, 3)
    drops = hs.occlusion_drops(bundle, image, 3)
    assert drops.shape == (3, 3) and drops.dtype == np.float64

    def mean_logit(pixels: np.ndarray) -> float:
        x = preprocess_image(pixels, bundle.metadata)[None]
        with torch.no_grad():
            return float(np.mean([float(model.eval()(x)[0, hs.CUE]) for model in bundle.models]))

    fill = int(np.median(image))
    base = mean_logit(image)
    for r in range(3):
        for c in range(3):
            painted = image.copy()
            painted[32 * r:32 * (r + 1), 32 * c:32 * (c + 1)] = fill
            assert drops[r, c] == pytest.approx(base - mean_logit(painted), abs=1e-6), (r, c)
    assert np.abs(drops).max() > 1e-4  # the tolerance is far below the figures compared
    peak = np.unravel_index(int(np.argmax(drops)), drops.shape)
    assert hs._occlusion_peaks(bundle, [image], 3) == [(int(peak[0]), int(peak[1]))]
    with pytest.raises(ValueError, match="model size 96 x 96"):
        hs.occlusion_drops(bundle, np.zeros((128, 128), np.uint8), 4)
    with pytest.raises(ValueError, match="multiple of 5 cells"):
        hs.occlusion_drops(bundle, image, 5)


def test_the_protocols_cost_in_the_docstring_is_the_committed_runs() -> None:
    """The module's usage line said "about 4.5 CPU minutes" where the committed result records
    257.2 CPU seconds (4.3 minutes): the figure is read from the file here."""
    import json

    result = json.loads((Path(__file__).resolve().parents[2] / "bench" / "results" / "heatmap_sanity.json")
                        .read_text(encoding="utf-8"))
    assert f"the protocol: about {result['cpu_seconds'] / 60:.1f} CPU minutes, one thread" in hs.__doc__
