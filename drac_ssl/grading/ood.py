"""Is an image like the ones the model was trained on? An out-of-distribution check.

A model graded only colour fundus photographs of 28 px (RetinaMNIST) gives a grade to
anything: random noise, a cartoon, a full-size photograph preprocessed differently, a grey
OCTA scan. Its grade then means nothing, and nothing in the probabilities says so. This
module measures how far an image's model input lies from the training images' and flags
the far ones, so the app and the export command can say so before the grade.

The measure (fitted by :func:`fit_input_profile` when the bundle is built, from the
labelled training images of the ingest cache, through exactly the preprocessing a new
image gets: :func:`drac_ssl.grading.predict.preprocess_image`):

* descriptor: the model input ``(C, S, S)`` (normalised as the model reads it) average-pooled
  to :data:`GRID` x :data:`GRID` cells per channel and flattened, ``C * GRID**2`` numbers:
  the image's coarse layout of brightness and colour, as the model sees it;
* distance: the squared Mahalanobis distance of a descriptor to the training descriptors'
  mean under their covariance, estimated with Ledoit-Wolf shrinkage
  (:class:`sklearn.covariance.LedoitWolf`; Ledoit & Wolf 2004, "A well-conditioned
  estimator for large-dimensional covariance matrices"), so that a few hundred images give
  a usable inverse in 192 dimensions. Mahalanobis distances as an out-of-distribution score
  follow Lee et al., NeurIPS 2018 ("A Simple Unified Framework for Detecting
  Out-of-Distribution Samples and Adversarial Attacks"), there on a network's features;
  here on its pooled input, which needs no extra pass of the model and is the same for
  every fold;
* threshold: the ``percentile`` (99 by default) of the training images' own distances,
  each measured by a fit on the OTHER images (5-fold cross-fitting), so that about 1 % of
  new images like the training ones are flagged, not fewer than would be in-sample.

It says *unlike the training images*, not *wrong*: a flagged image may be graded well,
and an unflagged one badly (the check sees the 8 x 8 layout, not lesions). On the RetinaMNIST
bundle (``python -m bench.ood_check``, ``bench/results/ood_check.json``) it flagged 2 of the
400 unlabelled test images (0.5 %), all 30 APTOS photographs, the 3 DRAC OCTA samples, noise,
a flat grey image and a cartoon, but not a black image (the app's blank-image warning says
that one); ``tests/drac_ssl/test_ood.py`` checks the behaviour on synthetic data.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch.nn.functional as F
from torch import Tensor

__all__ = ["GRID", "PROFILE_FILE", "InputProfile", "fit_input_profile", "input_descriptors"]

GRID = 8
"""Cells per side of the pooled model input (the descriptor has ``C * GRID**2`` numbers)."""
PROFILE_FILE = "input_profile.npz"
"""The profile's file in a bundle folder (numpy arrays only, read without pickle)."""
FORMAT = "drac_ssl input profile v1"


def input_descriptors(inputs: Tensor) -> np.ndarray:
    """Descriptors ``(n, C * GRID**2)`` float64 of model inputs ``(n, C, S, S)`` (as
    :func:`drac_ssl.grading.predict.preprocess_image` makes them): each channel
    average-pooled to ``GRID x GRID`` cells (:func:`torch.nn.functional.adaptive_avg_pool2d`;
    ``S`` need not be a multiple of ``GRID``), flattened channel by channel.

    Raises ValueError for a tensor that is not 4-D."""
    if inputs.ndim != 4:
        raise ValueError(f"expected model inputs (n, C, S, S), got shape {tuple(inputs.shape)}")
    pooled = F.adaptive_avg_pool2d(inputs.detach().float().cpu(), GRID)
    return pooled.flatten(1).numpy().astype(np.float64)


@dataclass(frozen=True)
class InputProfile:
    """Where the training images' descriptors lie (see the module docstring).

    ``location`` ``(D,)`` and ``precision`` ``(D, D)``: the Ledoit-Wolf mean and inverse
    covariance of the training descriptors; ``threshold``: the ``percentile`` of their
    cross-fitted squared Mahalanobis distances; ``n_images``: how many were used;
    ``channels``: ``C`` (``D = C * GRID**2``).
    """

    location: np.ndarray
    precision: np.ndarray
    threshold: float
    percentile: float
    n_images: int
    channels: int

    def distances(self, descriptors: np.ndarray) -> np.ndarray:
        """Squared Mahalanobis distances ``(n,)`` of descriptors ``(n, D)`` to the training
        images' mean. Raises ValueError for descriptors of another length ``D``."""
        d = np.asarray(descriptors, dtype=np.float64)
        if d.ndim != 2 or d.shape[1] != self.location.size:
            raise ValueError(f"descriptors of shape {d.shape}, expected (n, {self.location.size}) "
                             f"for this {self.channels}-channel profile")
        centred = d - self.location
        return np.einsum("ij,jk,ik->i", centred, self.precision, centred)

    def unlike_training(self, inputs: Tensor) -> tuple[np.ndarray, np.ndarray]:
        """``(distances (n,), flagged (n,) bool)`` of model inputs ``(n, C, S, S)``: flagged
        where the distance is above :attr:`threshold`."""
        dist = self.distances(input_descriptors(inputs))
        return dist, dist > self.threshold

    def warning(self, distance: float) -> str:
        """The sentence shown beside the grade of a flagged image."""
        return (f"Unlike the training images: at the model's input this image is farther from "
                f"the {self.n_images} labelled training images than {self.percentile:g} % of "
                f"them are (distance {distance:.0f}, against {self.threshold:.0f}; an "
                f"out-of-distribution check on its coarse layout of brightness and colour). "
                f"The model may never have seen an image like it: its grade may mean nothing.")

    def describe(self) -> str:
        """One line for the model card and ``metadata.json``."""
        return (f"squared Mahalanobis distance of the {GRID} x {GRID} average-pooled model input "
                f"({self.channels * GRID * GRID} numbers) to the {self.n_images} labelled "
                f"training images (Ledoit-Wolf covariance); flagged above {self.threshold:.1f}, "
                f"the {self.percentile:g}th percentile of the training images' cross-fitted "
                f"distances")

    def save(self, path: str | Path) -> Path:
        """Write the profile as ``.npz`` (arrays only; :meth:`load` reads it without pickle)."""
        buf = io.BytesIO()
        np.savez(buf, format=np.array(FORMAT), location=self.location, precision=self.precision,
                 threshold=np.float64(self.threshold), percentile=np.float64(self.percentile),
                 n_images=np.int64(self.n_images), channels=np.int64(self.channels),
                 grid=np.int64(GRID))
        path = Path(path)
        path.write_bytes(buf.getvalue())
        return path

    @classmethod
    def load(cls, path: str | Path) -> InputProfile:
        """Read :meth:`save`'s file. Raises ValueError naming the file when it is not one."""
        try:
            with np.load(path, allow_pickle=False) as z:
                if str(z["format"]) != FORMAT or int(z["grid"]) != GRID:
                    raise ValueError(f"format {str(z['format'])!r} (grid {int(z['grid'])}), "
                                     f"expected {FORMAT!r} (grid {GRID})")
                profile = cls(np.asarray(z["location"], dtype=np.float64),
                              np.asarray(z["precision"], dtype=np.float64), float(z["threshold"]),
                              float(z["percentile"]), int(z["n_images"]), int(z["channels"]))
        except (OSError, KeyError, ValueError) as exc:
            raise ValueError(f"{path}: not an input profile of this drac_ssl ({exc})") from None
        d = profile.location.size
        if profile.precision.shape != (d, d) or d != profile.channels * GRID * GRID:
            raise ValueError(f"{path}: location {profile.location.shape} and precision "
                             f"{profile.precision.shape} do not fit {profile.channels} channel(s)")
        return profile


def fit_input_profile(inputs: Iterable[Tensor], percentile: float = 99.0, n_folds: int = 5,
                      seed: int = 0, progress: Callable[[int], None] | None = None) -> InputProfile:
    """Fit an :class:`InputProfile` to training model inputs.

    Args:
        inputs: batches ``(b, C, S, S)`` of preprocessed training images (all of one ``C``).
        percentile: of the cross-fitted training distances, the threshold (0 < p < 100).
        n_folds: the cross-fitting's folds (:class:`sklearn.model_selection.KFold`, shuffled
            with ``seed``): each image's distance comes from a fit on the other folds.
        progress: called with the number of images described after each batch.

    Raises:
        ValueError: fewer than ``2 * n_folds`` images, a ``percentile`` outside (0, 100), or
            batches of different channel counts.
    """
    from sklearn.covariance import LedoitWolf
    from sklearn.model_selection import KFold

    if not 0 < percentile < 100:
        raise ValueError(f"percentile must be in (0, 100), got {percentile}")
    parts, channels = [], None
    for batch in inputs:
        if channels is not None and batch.shape[1] != channels:
            raise ValueError(f"batches of {channels} and {batch.shape[1]} channels")
        channels = int(batch.shape[1])
        parts.append(input_descriptors(batch))
        if progress is not None:
            progress(sum(len(p) for p in parts))
    descriptors = np.concatenate(parts) if parts else np.zeros((0, 0))
    n = len(descriptors)
    if n < 2 * n_folds or channels is None:
        raise ValueError(f"{n} training image(s): an input profile needs at least {2 * n_folds}")
    held_out = np.empty(n)
    for train, held in KFold(n_folds, shuffle=True, random_state=seed).split(descriptors):
        held_out[held] = LedoitWolf().fit(descriptors[train]).mahalanobis(descriptors[held])
    whole = LedoitWolf().fit(descriptors)
    return InputProfile(np.asarray(whole.location_, dtype=np.float64),
                        np.asarray(whole.precision_, dtype=np.float64),
                        float(np.percentile(held_out, percentile)), float(percentile), n, channels)
