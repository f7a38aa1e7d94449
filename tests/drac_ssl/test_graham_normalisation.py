"""The input normalisation of Graham-filtered photographs (``data.graham``), a carried check: the
filter centres an image at 128 (0.5), while the ``fundus`` recipe normalises with the statistics of
unfiltered photographs (:data:`drac_ssl.eval_input.FUNDUS_MEAN` / ``FUNDUS_STD``, means 0.40 /
0.24 / 0.16), so filtered inputs are not centred. Kept, not changed: no run here measured
statistics of filtered images against these (an input offset that the BatchNorm after the first
convolution rescales), and a change would make a ``data.graham`` run's inputs differ from the
committed ones. docs/data.md ("Colour") says so with figures; these tests hold the code and the
figures to each other, so a change to either must update the other."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
from shared_data import SHARED_DATA, need

from data_prep.fundus import graham
from drac_ssl.config import Config
from drac_ssl.eval_input import FUNDUS_MEAN, FUNDUS_STD
from drac_ssl.pretrain import view_recipe

REPO = Path(__file__).resolve().parents[2]


def _colour_section() -> str:
    text = (REPO / "docs" / "data.md").read_text(encoding="utf-8")
    return " ".join(text.split("**Colour.**", 1)[1].split("**Small images.**", 1)[0].split())


def test_the_fundus_recipe_normalises_filtered_images_as_unfiltered_ones_as_the_docs_say() -> None:
    cfg = Config()
    cfg.pretrain.augment.recipe = "fundus"
    for graham_on in (False, True):
        cfg.data.graham = graham_on
        recipe = view_recipe(cfg)
        assert (recipe.mean, recipe.std) == (FUNDUS_MEAN, FUNDUS_STD), graham_on
    said = _colour_section()
    assert "Normalisation ignores `data.graham`" in said
    means, stds = (" / ".join(f"{v:.2f}" for v in values) for values in (FUNDUS_MEAN, FUNDUS_STD))
    assert f"(means {means}, stds {stds})" in said  # 0.40 / 0.24 / 0.16, 0.30 / 0.20 / 0.15


def test_the_filter_centres_an_image_at_128() -> None:
    rng = np.random.default_rng(0)
    photo = cv2.resize(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8), (240, 240), interpolation=cv2.INTER_CUBIC)
    photo = (photo * np.array([0.9, 0.5, 0.3])).astype(np.uint8)  # red-dominant, as a fundus photograph
    out = graham(photo).reshape(-1, 3).astype(np.float64)
    assert np.abs(out.mean(axis=0) - 128).max() < 3, out.mean(axis=0)
    assert np.abs(photo.reshape(-1, 3).mean(axis=0) - 128).max() > 40  # the input was not


def test_the_docs_figures_of_filtered_images_are_the_aptos_samples() -> None:
    """The docs' means and stds of the 30 APTOS samples (Kaggle copies, already filtered) and the
    offsets they give after the fundus normalisation, recomputed."""
    folder = need(SHARED_DATA / "aptos_samples" / "train_images", "the 30 APTOS samples")
    pixels = np.stack([cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in sorted(folder.glob("*.png"))])
    assert len(pixels) == 30
    values = pixels.reshape(-1, 3).astype(np.float64) / 255
    mean, std = values.mean(axis=0), values.std(axis=0)
    offsets = (mean - np.asarray(FUNDUS_MEAN)) / np.asarray(FUNDUS_STD)
    spread = std / np.asarray(FUNDUS_STD)
    said = _colour_section()
    found = re.search(r"have means ([\d.]+) / ([\d.]+) / ([\d.]+) and stds ([\d.]+) / ([\d.]+) / ([\d.]+) per "
                      r"channel, so after normalisation their channels sit ([\d.]+), ([\d.]+) and ([\d.]+) "
                      r"standard deviations off zero with ([\d.]+) to ([\d.]+) of unit spread", said)
    assert found, said
    figures = [float(v) for v in found.groups()]
    np.testing.assert_allclose(figures[:3], mean, atol=0.005)
    np.testing.assert_allclose(figures[3:6], std, atol=0.005)
    np.testing.assert_allclose(figures[6:9], offsets, atol=0.05)
    np.testing.assert_allclose(figures[9:], [spread.min(), spread.max()], atol=0.05)  # 0.30 .. 0.37
