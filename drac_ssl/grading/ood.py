"""Is an image like the ones the model was trained on? An out-of-distribution check.

A model graded only colour fundus photographs of 28 px (RetinaMNIST) gives a grade to
anything: random noise, a cartoon, a full-size photograph preprocessed differently, a grey
OCTA scan. Its grade then means nothing, and nothing in the probabilities says so. This
module measures how far an image lies from the training images and flags the far ones, so
the app and the export command can say so before the grade.

The measure (fitted by :func:`fit_input_profile` when the bundle is built, from the
labelled training images of the ingest cache, through exactly the preprocessing a new
image gets: :func:`drac_ssl.grading.predict.preprocess_image`):

* descriptor: the first fold model's backbone features (globally average-pooled ``layer4``,
  512 numbers for a ResNet-18: what the model itself sees) followed by the model input
  ``(C, S, S)`` average-pooled to :data:`GRID` x :data:`GRID` cells per channel (its coarse
  layout of brightness and colour). Neither alone sufficed on the two models it was tried on
  (exploratory notes in ``bench/ood_check.py``): the features of a 28 px RetinaMNIST model do not
  separate an OCTA scan from its photographs, and the pooled input of the grey phantom
  UW-OCTA model does not separate noise from its scans;
* distance: the squared Mahalanobis distance of a descriptor to the training descriptors'
  mean under their covariance, estimated with Ledoit-Wolf shrinkage
  (:class:`sklearn.covariance.LedoitWolf`; Ledoit & Wolf 2004, "A well-conditioned
  estimator for large-dimensional covariance matrices"), so that a few hundred images give
  a usable inverse in several hundred dimensions. Mahalanobis distances of a network's
  features as an out-of-distribution score: Lee et al., NeurIPS 2018 ("A Simple Unified
  Framework for Detecting Out-of-Distribution Samples and Adversarial Attacks");
* threshold: :data:`MARGIN` times the ``percentile`` (99) of the training images' own
  distances, each measured by a fit on the OTHER images (5-fold cross-fitting, so not
  optimistic). At 1x about 1 % of new images like the training ones would be flagged, and
  in exploratory runs so were several percent of RetinaMNIST photographs cropped by one
  pixel a side; at 2x (``bench/results/ood_check.json``) none of the 400 unlabelled
  RetinaMNIST test images or of those crops are, while every image of another kind tried
  still is. It is meant to flag images of another kind, not unusual ones of the same kind.

When it is weak (:attr:`InputProfile.weak`, said by :meth:`InputProfile.caveat`: in the model
card, ``metadata.json``'s ``input_profile``, the app and the export): fitted on fewer images than
numbers per image (:attr:`InputProfile.few_images`), or measured with the model of a trial run
(:attr:`InputProfile.trial_run`, the bundle's ``metadata.json`` ``trial_run``; set when the bundle
is built or loaded, not stored in the profile's file). The margin was validated only on fully
trained bundles, and a new user's trial bundle of RetinaMNIST (pretraining capped at a few
steps an epoch; a review by hand of 2026-12-04, docs/app.md, not a bench figure:
:data:`TRIAL_EVIDENCE`) flagged none of 30 APTOS photographs (distances 3234..3735, threshold 3888)
that the trained bundle flags every one of (1356..1562 against 824). Its threshold is no
further above its test images' median distance (3888 / 461 = 8.4) than the trained bundle's
(824 / 102 = 8.1; the phantom UW-OCTA bundles': 14.9 and 18.4), so no rule on that ratio tells
the two apart: what fails there is the trial model's features, which set photographs of
another data set no further apart than its own test images are, and only the trial-run
record says so before any such image is tried.

It says *unlike the training images*, not *wrong*: a flagged image may be graded well,
and an unflagged one badly. What it flagged on the RetinaMNIST and the default (phantom
UW-OCTA) bundles is measured by ``python -m bench.ood_check`` (``bench/results/``);
``tests/drac_ssl/test_ood.py`` checks the behaviour on synthetic data.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from drac_ssl.grading.image_notes import UNLIKE_TRAINING
from drac_ssl.starting import import_keeping_random

__all__ = ["GRID", "PROFILE_FILE", "InputProfile", "fit_input_profile", "input_descriptors"]

GRID = 8
"""Cells per side of the pooled model input (``C * GRID**2`` numbers of the descriptor)."""
MARGIN = 2.0
"""The threshold is this many times the percentile of the cross-fitted training distances."""
PROFILE_FILE = "input_profile.npz"
"""The profile's file in a bundle folder (numpy arrays only, read without pickle)."""
FORMAT = "drac_ssl input profile v2"

PRECISION_DTYPE = np.float32
"""How :meth:`InputProfile.save` stores ``precision`` (half float64's bytes). Rounding the
Ledoit-Wolf precision (kept well conditioned by its shrinkage: condition number 1,366 for 30
images of 704 numbers) to float32 changed the squared distances of a trial bundle (30 APTOS
photographs, a noise and a grey image) by at most 3.0e-7 of their value (6e-5 on distances of
31 to 14,895; measured by hand 2026-12-07) and no flag; float64 files of older bundles load unchanged."""


def stored_precision(precision: np.ndarray) -> np.ndarray:
    """``precision`` ``(D, D)`` as :meth:`InputProfile.save` stores it and :meth:`InputProfile.load`
    reads it back: rounded to :data:`PRECISION_DTYPE`, in float64, so that a freshly fitted
    profile gives the distances its saved file will."""
    return np.asarray(precision, dtype=PRECISION_DTYPE).astype(np.float64)
TRIAL_EVIDENCE = ("in a review by hand of 2026-12-04, recorded in docs/app.md and not a bench figure, "
                  "another trial bundle of RetinaMNIST flagged none of 30 APTOS photographs that its "
                  "fully trained bundle flags every one of")
"""The past measurement that made a trial run's check weak (:meth:`InputProfile.caveat`), said
as history with its source and date: a trial bundle that flags the images graded now must not
read as contradicted by it (a trial: "flagged 30 of 30" beside "flagged none of 30 APTOS")."""


def input_descriptors(inputs: Tensor, features: Tensor) -> np.ndarray:
    """Descriptors ``(n, F + C * GRID**2)`` float64: the backbone ``features`` ``(n, F)`` of
    model inputs ``inputs`` ``(n, C, S, S)`` (as
    :func:`drac_ssl.grading.predict.preprocess_image` makes them), then each input channel
    average-pooled to ``GRID x GRID`` cells (:func:`torch.nn.functional.adaptive_avg_pool2d`;
    ``S`` need not be a multiple of ``GRID``), flattened channel by channel.

    Raises ValueError for inputs that are not 4-D or features that are not ``(n, F)``."""
    if inputs.ndim != 4:
        raise ValueError(f"expected model inputs (n, C, S, S), got shape {tuple(inputs.shape)}")
    if features.ndim != 2 or features.shape[0] != inputs.shape[0]:
        raise ValueError(f"expected features (n, F) for {inputs.shape[0]} input(s), got shape "
                         f"{tuple(features.shape)}")
    pooled = F.adaptive_avg_pool2d(inputs.detach().float().cpu(), GRID).flatten(1)
    return torch.cat([features.detach().float().cpu(), pooled], dim=1).numpy().astype(np.float64)


@dataclass(frozen=True)
class InputProfile:
    """Where the training images' descriptors lie (see the module docstring).

    ``location`` ``(D,)`` and ``precision`` ``(D, D)``: the Ledoit-Wolf mean and inverse
    covariance of the training descriptors; ``threshold``: :data:`MARGIN` x the
    ``percentile`` of their cross-fitted squared Mahalanobis distances; ``n_images``: how
    many were used; ``channels``: ``C``; ``feature_dim``: ``F`` (``D = F + C * GRID**2``);
    ``trial_run``: the model it measures with is a trial run's (the bundle's ``metadata.json``
    ``trial_run``: set by the bundle when it is built or loaded, not stored in the profile's
    file), which makes the check :attr:`weak`.
    """

    location: np.ndarray
    precision: np.ndarray
    threshold: float
    percentile: float
    n_images: int
    channels: int
    feature_dim: int
    margin: float = MARGIN
    trial_run: bool = False

    def distances(self, descriptors: np.ndarray) -> np.ndarray:
        """Squared Mahalanobis distances ``(n,)`` of descriptors ``(n, D)`` to the training
        images' mean. Raises ValueError for descriptors of another length ``D``."""
        d = np.asarray(descriptors, dtype=np.float64)
        if d.ndim != 2 or d.shape[1] != self.location.size:
            raise ValueError(f"descriptors of shape {d.shape}, expected (n, {self.location.size}) "
                             f"for this profile ({self.feature_dim} features, {self.channels} channel(s))")
        centred = d - self.location
        return np.einsum("ij,jk,ik->i", centred, self.precision, centred)

    def unlike_training(self, inputs: Tensor, features: Tensor) -> tuple[np.ndarray, np.ndarray]:
        """``(distances (n,), flagged (n,) bool)`` of model inputs ``(n, C, S, S)`` with their
        backbone features ``(n, F)``: flagged where the distance is above :attr:`threshold`."""
        dist = self.distances(input_descriptors(inputs, features))
        return dist, dist > self.threshold

    def warning(self, what: str = "images") -> str:
        """The sentence shown beside the grade of a flagged image; ``what``: the kind of
        images the model was trained on, in words (e.g. "colour fundus photographs")."""
        return (f"{UNLIKE_TRAINING}: this image does not look like the "
                f"{self.n_images} {what} this model was trained on (to the model, or in its "
                f"layout of brightness and colour). Its grade may mean nothing. Check that it is "
                f"the same kind of image, taken and framed like those.")

    @property
    def dimensions(self) -> int:
        """``D``: the numbers compared per image (``feature_dim + channels * GRID**2``)."""
        return int(self.location.size)

    @property
    def few_images(self) -> bool:
        """Fitted on fewer training images than :attr:`dimensions`: the covariance is then
        mostly the shrinkage target, and the check was validated only with more images than
        numbers (611 and 1,200 images for 576 and 704 numbers, ``bench/results/ood_check.json``).
        A new-user trial's bundle of 25 fundus photographs (704 numbers) did not flag a flat
        grey picture, which it scored nearer its training images than a real photograph."""
        return self.n_images < self.dimensions

    @property
    def weak(self) -> bool:
        """The check cannot be relied on to flag images of another kind: fitted on
        :attr:`few_images`, or measured with a trial run's model (:attr:`trial_run`: a new
        user's trial bundle let through every one of 30 photographs of another data set that
        the fully trained bundle flags; see the module docstring)."""
        return self.few_images or self.trial_run

    def weak_reasons(self) -> list[str]:
        """Why the check is :attr:`weak`, as keys: ``few_images``, ``trial_run`` ([] when it
        is not); ``metadata.json``'s ``input_profile.weak_reasons``."""
        return [key for key, said in (("few_images", self.few_images), ("trial_run", self.trial_run)) if said]

    def caveat(self, evidence: bool = True) -> str:
        """``""``, or the sentence that says the check is weak (:attr:`weak`) and why.
        ``evidence``: for a trial run's model, the past measurement that found it weak
        (:data:`TRIAL_EVIDENCE`, a review of 2026-12-04 by hand, said as such so that it reads
        as history, not as a finding on the images graded now); False leaves it out (the
        export when this bundle flagged most of the images it graded: a sentence of none
        flagged beside a count of all flagged read as a contradiction)."""
        reasons = []
        if self.few_images:
            reasons.append(f"it was fitted on {self.n_images} training images for {self.dimensions} "
                           f"numbers per image, and it was validated only with more images than numbers")
        if self.trial_run:
            reasons.append("the model it measures with is a trial run's (its training cut short), and "
                           "it was validated only on fully trained models" + (f" ({TRIAL_EVIDENCE})" if evidence else ""))
        if not reasons:
            return ""
        return (f"the check is weak here: {'; and '.join(reasons)}; it can miss images of another "
                f"kind (a flag still means unlike the training images; no flag means little)")

    def describe(self) -> str:
        """One line for the model card and ``metadata.json`` (:meth:`caveat` says separately
        when the check is weak)."""
        return (f"squared Mahalanobis distance of the first fold model's {self.feature_dim} backbone "
                f"features and the {GRID} x {GRID} average-pooled model input to those of the "
                f"{self.n_images} labelled training images (Ledoit-Wolf covariance); flagged above "
                f"{self.threshold:.1f}, {self.margin:g} x the {self.percentile:g}th percentile of "
                f"the training images' cross-fitted distances")

    def save(self, path: str | Path) -> Path:
        """Write the profile as ``.npz`` (arrays only; :meth:`load` reads it without pickle).
        ``precision`` is stored as float32 (:data:`PRECISION_DTYPE`: 1.9 MiB instead of 3.8 for
        704 numbers per image); :meth:`load` reads float32 and older float64 files alike into
        float64, and distances are still computed in float64."""
        buf = io.BytesIO()
        np.savez(buf, format=np.array(FORMAT), location=self.location,
                 precision=np.asarray(self.precision, dtype=PRECISION_DTYPE),
                 threshold=np.float64(self.threshold), percentile=np.float64(self.percentile),
                 n_images=np.int64(self.n_images), channels=np.int64(self.channels),
                 feature_dim=np.int64(self.feature_dim), margin=np.float64(self.margin),
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
                              float(z["percentile"]), int(z["n_images"]), int(z["channels"]),
                              int(z["feature_dim"]), float(z["margin"]))
        except (OSError, KeyError, ValueError) as exc:
            raise ValueError(f"{path}: not an input profile of this drac_ssl ({exc})") from None
        d = profile.location.size
        if profile.precision.shape != (d, d) or d != profile.feature_dim + profile.channels * GRID * GRID:
            raise ValueError(f"{path}: location {profile.location.shape} and precision "
                             f"{profile.precision.shape} do not fit {profile.feature_dim} features and "
                             f"{profile.channels} channel(s)")
        return profile


def fit_input_profile(batches: Iterable[tuple[Tensor, Tensor]], percentile: float = 99.0,
                      margin: float = MARGIN, n_folds: int = 5, seed: int = 0) -> InputProfile:
    """Fit an :class:`InputProfile` to training images.

    Args:
        batches: ``(inputs (b, C, S, S), features (b, F))`` pairs: preprocessed training
            images and their backbone features (all of one ``C`` and ``F``).
        percentile, margin: the threshold is ``margin`` x this percentile (0 < p < 100) of
            the cross-fitted training distances.
        n_folds: the cross-fitting's folds (:class:`sklearn.model_selection.KFold`, shuffled
            with ``seed``): each image's distance comes from a fit on the other folds.

    Raises:
        ValueError: fewer than ``2 * n_folds`` images, a ``percentile`` outside (0, 100), a
            ``margin`` below 1, or batches of different channel or feature counts.
    """
    LedoitWolf = import_keeping_random("sklearn.covariance").LedoitWolf
    KFold = import_keeping_random("sklearn.model_selection").KFold

    if not 0 < percentile < 100:
        raise ValueError(f"percentile must be in (0, 100), got {percentile}")
    if margin < 1:
        raise ValueError(f"margin must be at least 1, got {margin}")
    parts: list[np.ndarray] = []
    shape: tuple[int, int] | None = None
    for inputs, features in batches:
        now = (int(inputs.shape[1]), int(features.shape[-1]))
        if shape is not None and now != shape:
            raise ValueError(f"batches of {shape[0]} and {now[0]} channels, {shape[1]} and {now[1]} features")
        shape = now
        parts.append(input_descriptors(inputs, features))
    descriptors = np.concatenate(parts) if parts else np.zeros((0, 0))
    n = len(descriptors)
    if n < 2 * n_folds or shape is None:
        raise ValueError(f"{n} training image(s): an input profile needs at least {2 * n_folds}")
    held_out = np.empty(n)
    for train, held in KFold(n_folds, shuffle=True, random_state=seed).split(descriptors):
        held_out[held] = LedoitWolf().fit(descriptors[train]).mahalanobis(descriptors[held])
    whole = LedoitWolf().fit(descriptors)
    return InputProfile(np.asarray(whole.location_, dtype=np.float64),
                        stored_precision(whole.precision_),
                        margin * float(np.percentile(held_out, percentile)), float(percentile), n,
                        shape[0], shape[1], float(margin))
