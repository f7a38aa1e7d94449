"""The out-of-distribution check of drac_ssl.grading.ood on synthetic model inputs and
features whose distribution is known: at 1x the threshold about 1 % of new images like the
training ones are flagged, at the default 2x none to very few; images from elsewhere all are;
the profile survives a save and load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from drac_ssl.grading.ood import GRID, MARGIN, InputProfile, fit_input_profile, input_descriptors

FEATURES = 16


def _features(inputs: torch.Tensor) -> torch.Tensor:
    """Stand-in backbone features ``(n, 16)``: a fixed random projection of the 4 x 4 pooled
    input (so they follow the inputs, as a network's do)."""
    pooled = torch.nn.functional.adaptive_avg_pool2d(inputs, 4).flatten(1)
    w = torch.randn(pooled.shape[1], FEATURES, generator=torch.Generator().manual_seed(99))
    return pooled @ w


def _pairs(*batches: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(b, _features(b)) for b in batches]


def _inputs(n: int, seed: int, channels: int = 3, size: int = 28, shift: float = 0.0) -> torch.Tensor:
    """Smooth random images ``(n, C, S, S)``: a per-image brightness and colour cast plus a
    coarse random pattern, like a normalised photograph seen at 8 x 8 cells."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.randn(n, channels, 4, 4, generator=g) * 0.5
    cast = torch.randn(n, channels, 1, 1, generator=g)
    x = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
    return x + cast + shift


def test_descriptors_are_the_features_then_each_channel_pooled_to_the_grid() -> None:
    x = torch.arange(2 * 3 * 28 * 28, dtype=torch.float32).reshape(2, 3, 28, 28)
    f = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    d = input_descriptors(x, f)
    assert d.shape == (2, 2 + 3 * GRID * GRID) and d.dtype == np.float64
    np.testing.assert_array_equal(d[:, :2], f.numpy())
    one = input_descriptors(torch.full((1, 1, 30, 30), 2.5), torch.zeros(1, 0))
    assert one.shape == (1, GRID * GRID)
    np.testing.assert_allclose(one, 2.5)
    with pytest.raises(ValueError, match=r"\(n, C, S, S\)"):
        input_descriptors(torch.zeros(3, 28, 28), torch.zeros(3, 2))
    with pytest.raises(ValueError, match=r"features \(n, F\) for 2 input"):
        input_descriptors(x, torch.zeros(3, 2))


def test_like_images_are_rarely_flagged_and_unlike_ones_always() -> None:
    x0, x1 = _inputs(400, seed=0), _inputs(400, seed=1)
    profile = fit_input_profile(_pairs(x0, x1))
    assert (profile.n_images, profile.channels, profile.feature_dim) == (800, 3, FEATURES)
    assert profile.percentile == 99 and profile.margin == MARGIN == 2
    new = _inputs(2000, seed=2)  # new images of the same kind
    distances, flagged = profile.unlike_training(new, _features(new))
    assert flagged.mean() <= 0.005, flagged.mean()
    at_1x = (distances > profile.threshold / profile.margin).mean()  # the bare 99th percentile
    assert 0.002 <= at_1x <= 0.04, at_1x
    shifted = _inputs(200, seed=3, shift=8.0)  # a cast 8x the training spread
    assert profile.unlike_training(shifted, _features(shifted))[1].all()
    noise = torch.randn(50, 3, 28, 28, generator=torch.Generator().manual_seed(4)) * 3
    assert profile.unlike_training(noise, _features(noise))[1].all()
    text = profile.warning("colour fundus photographs")
    assert "Unlike the training images" in text and "800 colour fundus photographs" in text
    how = profile.describe()
    assert "2 x the 99th percentile" in how and f"{FEATURES} backbone features" in how
    assert profile.dimensions == FEATURES + 3 * 64 and not profile.few_images and profile.caveat() == ""


def test_a_profile_of_fewer_images_than_numbers_says_it_is_weak() -> None:
    x = _inputs(20, seed=0)  # 20 images, FEATURES + 3 x 64 numbers each (a trial's 25-photo bundle)
    profile = fit_input_profile(_pairs(x[:10], x[10:]))
    assert profile.n_images == 20 < profile.dimensions and profile.few_images
    caveat = profile.caveat()
    assert "weak" in caveat and f"20 training images for {profile.dimensions} numbers" in caveat


def test_a_trial_runs_profile_says_it_is_weak_and_why() -> None:
    """A new user's trial bundle of RetinaMNIST (1,200 images: not few) let every one of 30
    APTOS photographs through unflagged while metadata.json said "weak": false. The model of a
    trial run makes the check weak, with its reason; the fit is untouched."""
    from dataclasses import replace

    x0, x1 = _inputs(400, seed=0), _inputs(400, seed=1)
    full = fit_input_profile(_pairs(x0, x1))
    assert not full.weak and full.weak_reasons() == [] and full.caveat() == ""
    trial = replace(full, trial_run=True)
    assert trial.weak and not trial.few_images and trial.weak_reasons() == ["trial_run"]
    caveat = trial.caveat()
    assert caveat.startswith("the check is weak here: the model it measures with is a trial run's")
    # either kind of trial (a capped pretraining, or a stage given few of its file's epochs:
    # with_trial_run sets the flag for both), so its training, not its pretraining
    assert "(its training cut short)" in caveat and "pretraining cut short" not in caveat, caveat
    assert "no flag means little" in caveat and "training images for" not in caveat
    assert trial.threshold == full.threshold  # only the words change
    few = replace(fit_input_profile(_pairs(x0[:10], x0[10:20])), trial_run=True)
    assert few.weak_reasons() == ["few_images", "trial_run"]
    assert "numbers per image, and it was validated only with more images than numbers; and the model" in few.caveat()


def test_the_threshold_comes_from_held_out_distances_not_in_sample_ones() -> None:
    """In-sample distances are smaller than a new image's; a threshold from them would flag
    more than the nominal 1 % of new images. The cross-fitted one is larger."""
    from sklearn.covariance import LedoitWolf

    x = _inputs(300, seed=5)
    profile = fit_input_profile(_pairs(x), margin=1.0)
    d = input_descriptors(x, _features(x))
    in_sample = np.percentile(LedoitWolf().fit(d).mahalanobis(d), 99)
    assert profile.threshold > in_sample


def test_save_and_load_give_the_same_distances(tmp_path: Path) -> None:
    profile = fit_input_profile(_pairs(_inputs(100, seed=6, channels=1)), percentile=95, margin=1.5)
    path = profile.save(tmp_path / "input_profile.npz")
    loaded = InputProfile.load(path)
    probe = _inputs(5, seed=7, channels=1)
    np.testing.assert_allclose(loaded.distances(input_descriptors(probe, _features(probe))),
                               profile.distances(input_descriptors(probe, _features(probe))))
    assert (loaded.threshold, loaded.percentile, loaded.margin, loaded.n_images, loaded.channels,
            loaded.feature_dim) == (profile.threshold, 95.0, 1.5, 100, 1, FEATURES)
    other = _inputs(2, seed=8, channels=3)
    with pytest.raises(ValueError, match=r"expected \(n, 80\) for this profile \(16 features, 1 channel"):
        loaded.distances(input_descriptors(other, _features(other)))
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="broken.npz: not an input profile"):
        InputProfile.load(broken)


def test_the_precision_is_stored_as_float32_and_old_float64_files_load_unchanged(tmp_path: Path) -> None:
    """Half the bytes per bundle; a fresh profile gives the distances its file will, and a
    float64 file written by older code loads to exactly its float64 numbers."""
    x = _inputs(40, seed=9)
    profile = fit_input_profile(_pairs(x))
    path = profile.save(tmp_path / "input_profile.npz")
    with np.load(path) as z:
        assert z["precision"].dtype == np.float32
    loaded = InputProfile.load(path)
    assert loaded.precision.dtype == np.float64
    probe = input_descriptors(x[:5], _features(x[:5]))
    np.testing.assert_array_equal(loaded.distances(probe), profile.distances(probe))
    old = np.random.default_rng(0).standard_normal(profile.precision.shape)
    fields = dict(np.load(path))
    fields["precision"] = old
    np.savez(tmp_path / "old.npz", **fields)
    np.testing.assert_array_equal(InputProfile.load(tmp_path / "old.npz").precision, old)
    assert path.stat().st_size < 0.6 * (tmp_path / "old.npz").stat().st_size


def test_bad_fits_are_refused() -> None:
    with pytest.raises(ValueError, match="needs at least 10"):
        fit_input_profile(_pairs(_inputs(9, seed=0)))
    with pytest.raises(ValueError, match=r"percentile must be in \(0, 100\)"):
        fit_input_profile(_pairs(_inputs(20, seed=0)), percentile=100)
    with pytest.raises(ValueError, match="margin must be at least 1"):
        fit_input_profile(_pairs(_inputs(20, seed=0)), margin=0.5)
    with pytest.raises(ValueError, match="batches of 3 and 1 channels"):
        fit_input_profile(_pairs(_inputs(20, seed=0), _inputs(20, seed=1, channels=1)))
