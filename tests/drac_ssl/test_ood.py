"""The out-of-distribution check of drac_ssl.grading.ood on synthetic model inputs whose
distribution is known: about 1 % of new images like the training ones are flagged, images
from elsewhere all are, and the profile survives a save and load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from drac_ssl.grading.ood import GRID, InputProfile, fit_input_profile, input_descriptors


def _inputs(n: int, seed: int, channels: int = 3, size: int = 28, shift: float = 0.0) -> torch.Tensor:
    """Smooth random images ``(n, C, S, S)``: a per-image brightness and colour cast plus a
    coarse random pattern, like a normalised photograph seen at 8 x 8 cells."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.randn(n, channels, 4, 4, generator=g) * 0.5
    cast = torch.randn(n, channels, 1, 1, generator=g)
    x = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
    return x + cast + shift


def test_descriptors_pool_each_channel_to_the_grid() -> None:
    x = torch.arange(2 * 3 * 28 * 28, dtype=torch.float32).reshape(2, 3, 28, 28)
    d = input_descriptors(x)
    assert d.shape == (2, 3 * GRID * GRID) and d.dtype == np.float64
    assert input_descriptors(torch.ones(1, 1, 224, 224)).shape == (1, GRID * GRID)
    np.testing.assert_allclose(input_descriptors(torch.full((1, 1, 30, 30), 2.5)), 2.5)
    with pytest.raises(ValueError, match=r"\(n, C, S, S\)"):
        input_descriptors(torch.zeros(3, 28, 28))


def test_about_one_percent_of_like_images_and_all_unlike_ones_are_flagged() -> None:
    profile = fit_input_profile([_inputs(400, seed=0), _inputs(400, seed=1)])
    assert profile.n_images == 800 and profile.channels == 3 and profile.percentile == 99
    _, like = profile.unlike_training(_inputs(2000, seed=2))  # new images of the same kind
    assert 0.002 <= like.mean() <= 0.04, like.mean()
    _, shifted = profile.unlike_training(_inputs(200, seed=3, shift=8.0))  # a cast 8x the training spread
    assert shifted.all()
    noise = torch.randn(50, 3, 28, 28, generator=torch.Generator().manual_seed(4)) * 3
    _, noisy = profile.unlike_training(noise)
    assert noisy.all()
    distance, flagged = profile.unlike_training(_inputs(1, seed=3, shift=8.0))
    text = profile.warning(float(distance[0]))
    assert "Unlike the training images" in text and "800 labelled training images" in text
    assert "99 %" in text and f"{profile.threshold:.0f}" in text
    assert "99th percentile" in profile.describe() and "192 numbers" in profile.describe()


def test_the_threshold_comes_from_held_out_distances_not_in_sample_ones() -> None:
    """In-sample distances are smaller than a new image's; a threshold from them would flag
    more than the nominal 1 % of new images. The cross-fitted one is larger."""
    from sklearn.covariance import LedoitWolf

    x = _inputs(300, seed=5)
    profile = fit_input_profile([x])
    in_sample = np.percentile(LedoitWolf().fit(input_descriptors(x)).mahalanobis(input_descriptors(x)), 99)
    assert profile.threshold > in_sample


def test_save_and_load_give_the_same_distances(tmp_path: Path) -> None:
    profile = fit_input_profile([_inputs(100, seed=6, channels=1)], percentile=95)
    path = profile.save(tmp_path / "input_profile.npz")
    loaded = InputProfile.load(path)
    probe = _inputs(5, seed=7, channels=1)
    np.testing.assert_allclose(loaded.distances(input_descriptors(probe)),
                               profile.distances(input_descriptors(probe)))
    assert (loaded.threshold, loaded.percentile, loaded.n_images, loaded.channels) == \
        (profile.threshold, 95.0, 100, 1)
    with pytest.raises(ValueError, match=r"expected \(n, 64\) for this 1-channel profile"):
        loaded.distances(input_descriptors(_inputs(2, seed=8, channels=3)))
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="broken.npz: not an input profile"):
        InputProfile.load(broken)


def test_bad_fits_are_refused() -> None:
    with pytest.raises(ValueError, match="needs at least 10"):
        fit_input_profile([_inputs(9, seed=0)])
    with pytest.raises(ValueError, match=r"percentile must be in \(0, 100\)"):
        fit_input_profile([_inputs(20, seed=0)], percentile=100)
    with pytest.raises(ValueError, match="batches of 3 and 1 channels"):
        fit_input_profile([_inputs(20, seed=0), _inputs(20, seed=1, channels=1)])
