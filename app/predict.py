"""The app's predict function: grade, probabilities and Grad-CAM heatmap of one image.

:class:`Predictor` wraps a loaded bundle. Grades and probabilities come from
:func:`drac_ssl.grading.predict.ensemble_outputs` and the bundle's calibration, the path the
export command takes (:func:`drac_ssl.grading.predict.predict_images`; preprocessing
:func:`drac_ssl.grading.predict.preprocess_image`, the training's evaluation path), so the
app and a submission agree to the last bit for the same image. Every image goes through
every fold model, with the 4 flips when the bundle's cross-validation used them
(:attr:`drac_ssl.grading.bundle.Bundle.tta_in_cv`; ``tta`` overrides it) (a shared frozen
backbone runs once for all views, in one batch, for all fold heads). The heatmap is Grad-CAM
of the score the grade uses: the fold ensemble's mean logit of the grade that is shown, over
the same views as the grade (:attr:`Predictor.map_flips`: with flip TTA the 4 views, each
view's signed map flipped back onto the image, averaged before the ReLU; :mod:`app.gradcam`
says why the identity view alone would not do), at the image's shape:
:class:`app.gradcam.FoldMapGradCAM` from every view's ``layer4`` maps of that same forward
pass (one backward pass through the heads for all folds and views; no second backbone pass),
or, for a bundle whose Grad-CAM layer is another one, :class:`app.gradcam.EnsembleGradCAM`. The map is put back on the image
through the crop and padding the preprocessing applied (:func:`app.gradcam.place_heatmap`; a
fundus-crop model reads only the disc's box, and the map is 0 outside it); a coarse map (fewer
than :data:`app.gradcam.COARSE_CELLS` cells a side, the 7 x 7 of a 224 px input included) is
drawn as its cells. It is a coarse attribution of one score, not a lesion detector
(:data:`drac_ssl.grading.bundle.HEATMAP_CAVEAT`).
"""

from __future__ import annotations

import functools
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from app.bundle_path import NoBundleError, find_newest_bundle, make_bundle_hint  # noqa: F401 - re-exported
from app.gradcam import (
    RAW_MAX_NOTE,
    EnsembleGradCAM,
    FoldMapGradCAM,
    cell_size_px,
    coarse_words,
    is_coarse,
    place_heatmap,
    resolution_words,
    strongest_heat,
)
from app.inputs import (  # InputRejected re-exported (__all__): predict_file raises it
    NOT_SQUARE,
    OCTA_SIZE_DETAIL,
    InputLimits,
    InputRejected,
    LoadedImage,
    check_gradable,
    describe_kind,
    is_plain_note,
    load_upload,
    too_small_warning,
)
from data_prep.decode import sample_depth
from drac_ssl.figures import percent_texts, tie_words, tied_grades, whole_percentages
from drac_ssl.grading.image_notes import (
    as_sentence,
    other_depth_warning,
    phantom_image_warning,
    unreliable_reasons,
)

if TYPE_CHECKING:
    import torch

__all__ = ["BORDERLINE_POINTS", "InputRejected", "NoBundleError", "Prediction", "Predictor",
           "borderline_grades", "borderline_words", "find_newest_bundle", "make_bundle_hint", "views_note"]

BORDERLINE_POINTS = 10
"""Two largest grade probabilities at most this many percentage points apart as the page shows
them (whole percentages of the K together, :func:`drac_ssl.figures.whole_percentages`) make a
result *borderline*: the page says under the grade that the model cannot tell those two grades
apart on this image (:func:`borderline_words`). Judged on the percentages shown, not the exact
probabilities, so that two results shown alike are said alike (a second read: 0.5499 / 0.4501
and 0.5501 / 0.4499, both shown 55% / 45%, were one borderline and one not). Why 10: changes
that should not matter move the probabilities by about one point (a review: the same DRAC scan
at 1024 and at 200 px, ``[0.476, 0.455, 0.069]`` against ``[0.486, 0.449, 0.065]``; an
Exif-rotated copy), so a lead of a few points is a coin toss, and the three real DRAC samples on
the default phantom bundle came out 0.477 / 0.474, 0.476 / 0.455 and 0.478 / 0.470; a margin of
10 points calls those borderline but not a result such as 60% / 30%, whose top grade clearly
leads. It says nothing about whether the leading grade is right (the probabilities are
calibrated on the training data, phantom images for the default bundle). Not said at all when
that calibration failed (:attr:`Prediction.calibration_failed`): the percentages are then likely
to be nearly equal for every grade, and every image would be called borderline."""


def borderline_grades(probs: Any) -> list[int]:
    """The grades, in grade order, whose whole percentage as shown
    (:func:`drac_ssl.figures.whole_percentages` of ``probs`` ``(K,)``) is at most
    :data:`BORDERLINE_POINTS` below the largest's, when there are at least two of them (the
    grades :func:`borderline_words` names); [] otherwise. Raises ValueError as
    :func:`drac_ssl.figures.rounded_probabilities` does (a negative, not finite or all-zero row)."""
    p = np.asarray(probs, dtype=np.float64).reshape(-1)
    if p.size < 2:
        return []
    shown = whole_percentages(p)
    close = [k for k in range(p.size) if max(shown) - shown[k] <= BORDERLINE_POINTS]
    return close if len(close) >= 2 else []


def borderline_words(probs: Any, class_names: list[str]) -> str | None:
    """``Borderline: the model cannot tell 0 Normal from 1 NPDR on this image (48% vs 47%).``
    (whole percentages of the K together, :func:`drac_ssl.figures.percent_texts`) when the second
    largest of ``probs`` ``(K,)`` (one per grade of ``class_names``) is, as shown, at most
    :data:`BORDERLINE_POINTS` percentage points below the largest (:func:`borderline_grades`); every grade that close to the largest
    is named, in grade order (three or more: ``cannot tell 0 Normal, 1 NPDR and 2 PDR apart
    on this image (33%, 32% and 35%)``). When the grades named are all tied for the largest
    (:func:`drac_ssl.figures.tied_grades`, the one tie rule, as
    :func:`drac_ssl.grading.image_notes.decision_words` calls them "equally likely"), their figure
    is :func:`drac_ssl.figures.tie_words`': ``(20% each)``, ``(46% each)`` for 0.455 / 0.09 / 0.455
    (equal values are shown alike, 46 / 9 / 46), or ``(about 33% each)`` where the figures
    shown differ (0.333 / 0.334 / 0.333 is shown 33 / 34 / 33). None otherwise,
    and for fewer than two grades."""
    p = np.asarray(probs, dtype=np.float64).reshape(-1)
    close = borderline_grades(p)
    if not close:
        return None
    names = [f"{k} {class_names[k]}" for k in close]
    shown = percent_texts(p)  # the page's one precision: whole percentages of the K together
    values = [shown[k] for k in close]
    if set(close) <= set(tied_grades(p)):  # all tied: "(46% vs 45%)" would contradict "equally likely"
        who = f"{names[0]} from {names[1]}" if len(close) == 2 else f"{', '.join(names[:-1])} and {names[-1]} apart"
        return f"Borderline: the model cannot tell {who} on this image ({tie_words(p, close)})."
    if len(close) == 2:
        return (f"Borderline: the model cannot tell {names[0]} from {names[1]} on this image "
                f"({values[0]} vs {values[1]}).")
    return (f"Borderline: the model cannot tell {', '.join(names[:-1])} and {names[-1]} apart on "
            f"this image ({', '.join(values[:-1])} and {values[-1]}).")


def views_note(views: int | None) -> str | None:
    """What the map's ``views`` (:attr:`Prediction.cam_views`) mean, for the details JSON; None
    without a map."""
    if views is None:
        return None
    if views == 1:
        return "the image as given (no flip TTA): the grade read it alone"
    return (f"the image and its {views - 1} flipped copies, as the grade averages them: each view's "
            f"signed map flipped back onto the image, the maps averaged before the ReLU (Grad-CAM of "
            f"the score the grade uses)")


@dataclass(repr=False)
class Prediction:
    """One graded image.

    ``probs`` ``(K,)`` sums to 1, one per grade of ``class_names``; ``image`` the image as the
    model reads it (uint8 grey ``(H, W)`` or RGB ``(H, W, 3)``); ``heatmap`` float32
    ``(H, W)`` in [0, 1] with the image's shape (None when Grad-CAM is off, or when its target
layer's map is a single 1 x 1 cell, which has no location to show: :attr:`no_location`,
``cam_cells == (1, 1)``, e.g. a ResNet-18 on a 28 px input); ``seconds`` the
    model time (preprocessing, the ensemble with TTA and Grad-CAM; not the file decoding,
    in ``read_seconds``); ``timings`` its parts in seconds (``preprocess``, ``ensemble``,
    ``gradcam``: absent when Grad-CAM did not run, off or :attr:`cam_skipped`); ``warnings`` sentences: first the model's (:attr:`Predictor.chance_warning`
    and :attr:`Predictor.calibration_warning` when they apply, then :attr:`Predictor.caveat`),
    then the image's
    (:meth:`Predictor.image_warnings`; a 16-bit conversion and the decoder's findings about
    the file, an Exif orientation applied ..., are plain notes there,
    :func:`app.inputs.is_plain_note`); ``not_reliably_gradable`` the reasons those warnings make
    the grade *not reliably gradable* (:func:`drac_ssl.grading.image_notes.unreliable_reasons`,
    e.g. ``["unlike the training images"]``; [] for none): the page's heading "Not reliably
    gradable", the details JSON's ``not_reliably_gradable``, a batch's ``grades_FLAGGED.csv``.
    Derived from ``warnings`` (a property: it cannot disagree with them); a script leaves such
    an image out or reads its grade only as the model's output. :attr:`probabilities` gives the
    probabilities as plain Python floats by grade name (``probs`` stays the numpy array), and
    the printed form (``repr``) shows them so, not the image and heatmap arrays. ``name`` is
    the file's base name (``IMG0001.jpg``); ``path`` the path as given to
    :meth:`Predictor.predict_file` (``str``: ``p1/IMG0001.jpg``, which tells two files of one
    name apart), None for an array (:meth:`Predictor.predict`) or an upload
    (:meth:`Predictor.predict_loaded`: the app's page never shows a server path).
    """

    name: str
    grade: int
    grade_name: str
    probs: np.ndarray
    heatmap: np.ndarray | None
    image: np.ndarray
    seconds: float
    read_seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    explained: int | None = None  # the grade the heatmap explains (a regression head: the shown grade)
    explains: str = "grade"  # what the heatmap explains: "grade" (a logit) or "score" (regression)
    # where the model input came from in ``image`` (data_prep.cache.RowGeometry): the crop box
    # and padding; the heatmap is 0 outside the box
    geometry: Any = None
    cam_cells: tuple[int, int] | None = None  # Grad-CAM resolution (target layer map size)
    # the combined map's maximum before its scaling to [0, 1] (app.gradcam.CamMap.raw_max, units
    # of the explained score); None without a map
    cam_raw_max: float | None = None
    # the views the map averaged, as the grade averaged them (Predictor.map_flips): 4 with flip
    # TTA (each view's map flipped back onto the image), 1 without; None without a map
    cam_views: int | None = None
    # the model-input map had positive evidence, but only in the padding the preprocessing
    # added around the disc: the map placed on the image is then empty for that reason
    heat_only_in_padding: bool = False
    # Grad-CAM was asked for but not run: the image is not reliably gradable
    # (:attr:`not_reliably_gradable`), whose map the page withholds (app.server.heatmap_withheld)
    cam_skipped: bool = False
    class_names: list[str] = field(default_factory=list)  # grades 0..K-1 (the bundle's)
    timings: dict[str, float] = field(default_factory=dict)  # parts of ``seconds``
    # the out-of-distribution check (drac_ssl.grading.ood): distance, threshold, flagged;
    # None when the bundle has no input profile
    input_check: dict[str, Any] | None = None
    # the bundle's referable cut r (Predictor.referable_from): from_grade, probability
    # (P_r + ... + P_{K-1}), rule, informative (False: its out-of-fold AUC's 95% CI does not lie
    # above 0.5, Predictor.referable_informative; the page leaves the figure out) and reason (why not, the
    # export's words too; None when informative); with a referral cut (finetune.referral_target:
    # the bundle calibration's referral) also referral_cut, referral_target and referred (1 when
    # the probability is at or above the cut, 0 below; with two grades the grade itself); None
    # when the bundle records none
    referable: dict[str, Any] | None = None
    # the file is one of the model's training images (its bytes or pixels: Predictor.training_image);
    # None when not known: an array graded by predict(), or a bundle that records no hashes
    training_image: bool | None = None
    # the bundle that graded (drac_ssl.grading.bundle.Bundle.identity: created_utc, variant,
    # metadata_sha256), for an audit trail; None when not known
    bundle: dict[str, Any] | None = None
    # the bundle's calibration failed (drac_ssl.grading.bundle.calibration_failed: its
    # temperature at the edge of its search range; Predictor.calibration_warning said in
    # ``warnings``): ``probs`` are likely to be flat (or 0 and 1), so no borderline is said
    calibration_failed: bool = False
    # the path as given to Predictor.predict_file (str); None for an array or an upload
    path: str | None = None
    # how the bundle chose ``grade`` (Predictor.decision_rule, the details JSON's "decision"):
    # under the default thresholds rule the expected grade cut at kappa-tuned thresholds, which
    # may differ from the most probable grade (a trial: grade 2 'Moderate' beside Severe and
    # No DR the most probable); '' when not known
    decision: str = ""

    @property
    def probabilities(self) -> dict[str, float]:
        """``{grade name: probability}``, plain Python floats (``probs`` as the page and the
        details JSON give them; a trial printed ``np.float64(0.202)`` from the array)."""
        return {str(n): float(p) for n, p in zip(self.class_names, self.probs, strict=True)}

    def __repr__(self) -> str:
        """``Prediction(name='eye.png', path='p1/eye.png', grade=2, grade_name='Moderate',
        probabilities={'No DR': 0.202, ...}, not_reliably_gradable=[...], warnings=3)``: plain
        floats rounded to 4 places; ``path`` only when set (:meth:`Predictor.predict_file`),
        so that two ``eye.png`` of two folders print apart; the arrays (image, heatmap) left
        out. When ``grade``'s probability, as printed (4 places), is below the largest printed,
        ``decision`` follows: the rule that chose it (:attr:`Predictor.decision_rule`). Not the
        whole-percentage tie of :func:`drac_ssl.figures.tied_grades`: a tiny model's 0.1985
        beside 0.2017 ties at 20% each, yet the printed figures show it is not the most probable."""
        probs = {n: round(p, 4) for n, p in self.probabilities.items()}
        path = "" if self.path is None else f"path={self.path!r}, "
        # a grade other than the most probable at the printed precision: its rule, said beside it
        shown = [round(float(p), 4) for p in self.probs]
        rule = (f", decision={self.decision!r}" if self.decision and shown
                and shown[int(self.grade)] < max(shown) else "")
        return (f"Prediction(name={self.name!r}, {path}grade={self.grade}, grade_name={self.grade_name!r}, "
                f"probabilities={probs!r}, not_reliably_gradable={self.not_reliably_gradable!r}, "
                f"warnings={len(self.warnings)}{rule})")

    @property
    def not_reliably_gradable(self) -> list[str]:
        """The reasons ``warnings`` make the grade not reliably gradable (see the class
        docstring); [] for none."""
        return unreliable_reasons(self.warnings)

    @property
    def no_location(self) -> bool:
        """True when Grad-CAM's target layer is a single cell (``cam_cells == (1, 1)``, e.g. a
        ResNet-18's ``layer4`` on a 28 px input): a Grad-CAM map is then constant, so it says
        nothing about where the model looked, and no heatmap is made."""
        return self.cam_cells is not None and self.cam_cells[0] * self.cam_cells[1] == 1

    @property
    def heatmap_empty(self) -> bool:
        """True when Grad-CAM found no region with positive evidence for ``explained``."""
        return self.heatmap is not None and float(self.heatmap.max()) <= 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly summary (no arrays except the probabilities): ``image_size`` is
        ``[width, height]`` in pixels (the image as the model read it; numpy's ``image.shape``
        is ``(height, width[, 3])``), ``bundle`` the bundle that graded
        (:attr:`drac_ssl.grading.bundle.Bundle.identity`: its build time, variant and the
        SHA-256 of its ``metadata.json``, for an audit trail), ``name`` the file's base name and
        ``path`` the path as given to :meth:`Predictor.predict_file` (None for an array or an
        upload; the app leaves it out of its details JSON)."""
        return {
            "name": self.name, "path": self.path, "grade": self.grade, "grade_name": self.grade_name,
            "probabilities": self.probabilities,
            "P": [float(p) for p in self.probs],
            "inference_seconds": round(self.seconds, 4), "read_seconds": round(self.read_seconds, 4),
            "timings_seconds": {k: round(v, 4) for k, v in self.timings.items()},
            "image_size": [int(self.image.shape[1]), int(self.image.shape[0])],
            "warnings": list(self.warnings),
            "not_reliably_gradable": list(self.not_reliably_gradable),
            "borderline": self.borderline,
            # True: the bundle's calibration failed, so ``borderline`` is None whatever the
            # percentages (they are likely to be flat), and ``warnings`` say it
            "calibration_failed": self.calibration_failed,
            "unlike_training_images": self.input_check,
            "training_image": self.training_image,
            "bundle": self.bundle,
            **({"referable": self.referable} if self.referable is not None else {}),
        }

    @property
    def borderline(self) -> str | None:
        """The page's borderline line when the two largest probabilities are at most
        :data:`BORDERLINE_POINTS` percentage points apart as shown (:func:`borderline_words`), else None; None too for an
        image that is not reliably gradable (:attr:`not_reliably_gradable`), as the page leaves
        it out then (``app.server.shown_borderline``): a close call between two named grades
        would invite reading a grade the model should not give (a trial: ``details["borderline"]``
        said it of an image the page headed "Not reliably gradable"). None too when the bundle's
        calibration failed (:attr:`calibration_failed`): its percentages, likely to be nearly
        equal for every grade, would call every image borderline (a review: "cannot tell 0
        Normal, 1 NPDR and 2 PDR apart (P 0.33, 0.33 and 0.33)" above the warning to ignore
        those percentages)."""
        if self.not_reliably_gradable or self.calibration_failed:
            return None
        from drac_ssl.scale import grade_names_for_people

        # the names people read (ICDR "Severe NPDR", not the recorded "Severe"), as the page's line
        return borderline_words(self.probs, list(grade_names_for_people(self.class_names)))

    @functools.cached_property
    def strongest(self) -> dict[str, Any] | None:
        """Where the heatmap is strongest (:func:`app.gradcam.strongest_heat` over the part of the
        image the model read, :attr:`geometry`'s box: pixels, fractions of the image and words,
        or, for more than half of that part hot, ``region`` None: a flat map, or one whose heat
        is ``spread`` over a hot majority); None without a heatmap,
        for an empty one or for one with NaN or infinite heat."""
        if self.heatmap is None:
            return None
        return strongest_heat(self.heatmap, self.geometry.box if self.geometry is not None else None)

    @property
    def frame(self) -> tuple[int, int]:
        """``(height, width)`` in this image's pixels of what the model input shows: the crop
        box with its padding (:attr:`data_prep.cache.RowGeometry.frame`), else the whole image."""
        frame = self.geometry.frame if self.geometry is not None else self.image.shape[:2]
        return int(frame[0]), int(frame[1])

    @property
    def cell_px(self) -> tuple[float, float] | None:
        """``(width, height)`` in this image's pixels of one cell of the map
        (:func:`app.gradcam.cell_size_px` over :attr:`frame`); None without cells."""
        return cell_size_px(self.cam_cells, self.frame) if self.cam_cells else None

    @property
    def resolution(self) -> str | None:
        """The map's resolution in words, "7 × 7 cells, each about 146 px of this image"
        (:func:`app.gradcam.resolution_words`); None without cells."""
        return resolution_words(self.cam_cells, self.frame) if self.cam_cells else None

    @property
    def coarse(self) -> bool:
        """True when the map has fewer than :data:`app.gradcam.COARSE_CELLS` cells a side (not
        a single cell): drawn as its cells, it can say which part of the image, not which
        lesion (:func:`app.gradcam.coarse_words`)."""
        return not self.no_location and is_coarse(self.cam_cells)

    def heatmap_summary(self, target_layer: str) -> dict[str, Any] | None:
        """What the heatmap shows, for the details JSON (None when Grad-CAM is off):
        ``explains`` ("grade": the logit of ``explains_grade``; "score": a regression head's
        single output, whatever grade is shown), the map's ``cells``, ``resolution`` in words
        and ``cell_px`` ``[width, height]`` (one cell in this image's pixels), whether it is
        ``coarse`` (with its ``meaning``), ``image_box`` ``[x0, y0, x1, y1]``: the part of
        the image the model read (the heatmap is 0 outside it), ``scale`` (the map is scaled
        to its own maximum), ``raw_max`` (that maximum before scaling, with ``raw_max_note``:
        :data:`app.gradcam.RAW_MAX_NOTE`), ``views`` (how many views the map averaged, as the
        grade: 4 with flip TTA, each view's map flipped back onto the image; 1 without) with
        ``views_note``, ``caveat``
        (:data:`drac_ssl.grading.bundle.HEATMAP_CAVEAT`) and ``strongest``: where the map is
        strongest, in the image's pixels and in words, with ``hot_share``, the share of the part
        of the image the model read (``image_box``; ``read_whole_image`` says whether that is the
        whole image) that is within 10% of the maximum (:func:`app.gradcam.strongest_heat`:
        ``stands_out`` false and ``region`` None when more than half of that part is hot:
        ``spread`` false for a flat map, the rest warm too, true when the rest is cooler; None
        for an empty map)."""
        from drac_ssl.grading.bundle import HEATMAP_CAVEAT

        what: dict[str, Any] = {"target_layer": target_layer, "explains": self.explains}
        if self.explains == "grade":
            what["explains_grade"] = self.explained
        if self.no_location and self.explained is not None:
            return {**what, "cells": list(self.cam_cells or ()), "shape": None,
                    "none": "the target layer is a single cell: Grad-CAM cannot locate anything"}
        if self.heatmap is None or self.explained is None:
            return None
        coarse = {"meaning": coarse_words(self.cam_cells, self.frame)} if self.coarse and self.cam_cells else {}
        px = self.cell_px
        return {**what, "cells": list(self.cam_cells) if self.cam_cells else None,
                "resolution": self.resolution,
                "cell_px": [round(px[0], 1), round(px[1], 1)] if px else None,
                "coarse": self.coarse, **coarse,
                "drawn": "nearest-neighbour (cells)" if self.coarse else "bilinear",
                "image_box": list(self.geometry.box) if self.geometry is not None else None,
                "shape": list(self.heatmap.shape), "min": float(self.heatmap.min()),
                "max": float(self.heatmap.max()), "empty": self.heatmap_empty,
                "heat_only_in_padding": self.heat_only_in_padding,
                "scale": "relative to this map's maximum: the map (after its ReLU) divided by "
                         "raw_max, 0 = no positive evidence, 1 = its maximum; the colours carry no "
                         "absolute strength",
                "raw_max": self.cam_raw_max, "raw_max_note": RAW_MAX_NOTE,
                "views": self.cam_views, "views_note": views_note(self.cam_views),
                "caveat": HEATMAP_CAVEAT,
                "strongest": self.strongest}


def _same_device(a: torch.device, b: torch.device) -> bool:
    """Whether two ``torch.device`` name one device (``cuda`` is the current CUDA device, 0
    unless changed: ``cuda`` and ``cuda:0`` are one)."""
    import torch

    def index(d: torch.device) -> int:
        if d.index is not None:
            return int(d.index)
        return int(torch.cuda.current_device()) if d.type == "cuda" and torch.cuda.is_available() else 0

    return a.type == b.type and index(a) == index(b)


class Predictor:
    """A loaded bundle ready to grade images.

    Args:
        bundle: a bundle folder (or a run folder with ``bundle/``), or a loaded
            :class:`drac_ssl.grading.bundle.Bundle`.
        tta: flip test-time augmentation; None (the default): as the bundle's cross-validated
            figures were measured (:attr:`drac_ssl.grading.bundle.Bundle.tta_in_cv`), as the
            export command does; True or False (numpy's bools too) as given; anything else
            a TypeError (:func:`drac_ssl.grading.predict.resolve_tta`).
        gradcam: compute heatmaps in :meth:`predict` (default on).
        limits: the file limits of :meth:`predict_file` (size in bytes, side and pixels:
            :class:`drac_ssl.grading.image_file.InputLimits`); None (the default):
            :data:`drac_ssl.grading.image_file.LOCAL_FILE_LIMITS`, those of
            :func:`drac_ssl.grading.predict.read_image` (512 MiB, 8192 px a side, 40
            megapixels), so that a file ``read_image`` reads is read here too. The app passes
            its upload limits (``python -m app --max-size-mb``, ``--max-side``,
            ``--max-megapixels``; 50 MiB by default).
        device: where the models run when ``bundle`` is a path (``"cpu"``, ``"cuda"``,
            ``"cuda:1"``, a ``torch.device``, or an integer N for
            ``"cuda:N"``, torch's rule), given to
            :func:`drac_ssl.grading.bundle.load_bundle`; None (the default): the CPU. A loaded
            Bundle runs where it was loaded (``load_bundle(path, "cuda")``); a ``device``
            other than that one is a ValueError.

    Raises:
        ValueError: ``device`` is not available on this machine (``"cuda"`` without a usable
            CUDA device), not one a bundle runs on (``"mps"``, ``"meta"``, ...: the words and
            fix of :func:`drac_ssl.grading.bundle.usable_device`), or is not the device of a
            loaded Bundle; :class:`drac_ssl.grading.bundle.BundleError` (a ValueError) for a
            bundle that does not load.
        TypeError: ``tta`` other than None, True or False.

    Thread-safe: several threads may call :meth:`predict` at once (the models only run in
    ``torch.inference_mode``; the Grad-CAM step is serialised by its own lock). How many do
    is the server's choice (``python -m app --concurrency``).
    """

    def __init__(self, bundle: Any, tta: bool | None = None, gradcam: bool = True,
                 limits: InputLimits | None = None,
                 device: str | int | torch.device | None = None) -> None:
        from drac_ssl.grading.bundle import (
            Bundle,
            check_referral_cut,
            load_bundle,
            referable_cut_of,
            usable_device,
        )
        from drac_ssl.grading.image_file import LOCAL_FILE_LIMITS

        if isinstance(bundle, Bundle):
            wanted = None if device is None else usable_device(device)  # "cpu:1" is "cpu", 0 "cuda:0"
            if wanted is not None and not _same_device(wanted, bundle.device):
                raise ValueError(f"device={str(wanted)!r}, but the bundle given was loaded on "
                                 f"{bundle.device}: pass device=None (the bundle's), or load it "
                                 f"there, load_bundle(path, {str(wanted)!r})")
            self.bundle = bundle
        else:
            self.bundle = load_bundle(bundle, "cpu" if device is None else device)
        self.metadata: dict[str, Any] = self.bundle.metadata
        from drac_ssl.grading.predict import resolve_tta

        self.tta: bool = resolve_tta(tta, self.bundle)  # TypeError for other than None/True/False
        self.limits: InputLimits = limits or LOCAL_FILE_LIMITS  # read_image's; the app passes its own
        from drac_ssl.scale import grade_names_of

        self.class_names: list[str] = list(grade_names_of(self.metadata))
        # referable DR (grade >= r), when the bundle's cross-validation reported it
        # (finetune.referable_from); None otherwise
        self.referable_from: int | None = referable_cut_of(self.metadata, len(self.class_names))
        # a referral cut on other grades than those figures (a hand-edited bundle): refused, as
        # the export refuses it, never graded with the referral silently left out
        check_referral_cut(self.bundle)
        self.channels: int = self.bundle.spec.channels
        # what the model grades (octa | fundus | image): which upload checks and words apply
        self.kind: str = self.bundle.kind
        # the grey pictures among the labelled training images: a grey upload's words
        self.grey_trained: tuple[int, int] | None = self.bundle.grey_trained
        self.target_layer: str = str(self.metadata.get("gradcam_target_layer", "backbone.layer4"))
        output = str(self.metadata.get("model", {}).get("output", "classification"))
        # a regression head has one output: its heatmap explains that score, whatever grade
        self.regression: bool = output == "regression"
        # the fold models' head (linear, mlp, conv, regression): the page's heatmap caveat
        # quotes the heatmap bench's figures of that head only (app.server.heatmap_page_caveat)
        self.head: str = str(self.metadata.get("model", {}).get("head", ""))
        # app.demo_bundle's random weights: its heatmaps (and grades) mean nothing
        self.untrained: bool = bool(self.metadata.get("demo"))
        self.cam: FoldMapGradCAM | EnsembleGradCAM | None = None
        if gradcam and self.target_layer == FoldMapGradCAM.target_layer:
            self.cam = FoldMapGradCAM(self.bundle.models, output)
        elif gradcam:  # another layer than the maps the prediction keeps: per-model reference
            self.cam = EnsembleGradCAM(self.bundle.models, self.target_layer, output)
        # the size of layer4's map at this model's input (one zero image through the first
        # fold's backbone): 1 x 1 (a 28 px input) has no location for Grad-CAM to show
        self.layer4_cells: tuple[int, int] = self._layer4_cells()
        self.bundle.identity  # noqa: B018 - read now: the metadata.json this predictor loaded

    def _layer4_cells(self) -> tuple[int, int]:
        import torch

        from drac_ssl.grading.model import FEATURE_STAGE

        size = self.bundle.spec.image_size
        x = torch.zeros(1, self.channels, size, size, device=self.bundle.device)
        with torch.inference_mode():
            fmap = self.bundle.models[0].backbone.forward_until(x, FEATURE_STAGE)
        return int(fmap.shape[-2]), int(fmap.shape[-1])

    @property
    def heatmap_possible(self) -> bool:
        """False when Grad-CAM is off or its map would be a single cell (see
        :attr:`layer4_cells`); the page then hides the heatmap controls."""
        return self.cam is not None and not (
            isinstance(self.cam, FoldMapGradCAM) and self.layer4_cells == (1, 1))

    @property
    def path(self) -> Path:
        """The folder of the loaded bundle (:attr:`drac_ssl.grading.bundle.Bundle.path`: the
        ``bundle/`` folder, also when a run folder was given)."""
        return Path(self.bundle.path)

    @property
    def one_pass_gradcam(self) -> bool:
        """True when the heatmap comes from the prediction's own forward pass."""
        return isinstance(self.cam, FoldMapGradCAM)

    @property
    def _score_word(self) -> str:
        """What one map explains: a grade's "logit", or a regression head's "score"."""
        return "score" if self.regression else "logit"

    @property
    def map_flips(self) -> tuple[tuple[int, ...], ...]:
        """The views the heatmap averages: the grade's own (:data:`drac_ssl.grading.predict.TTA_FLIPS`
        with flip TTA, :attr:`tta`; the identity view ``((),)`` without), each view's signed map
        flipped back onto the image and averaged before the ReLU (:func:`app.gradcam.combine_cams`),
        so the map is Grad-CAM of the score the grade uses."""
        from drac_ssl.grading.predict import TTA_FLIPS

        return tuple(TTA_FLIPS) if self.tta else ((),)

    @property
    def _views_words(self) -> str:
        """The views the heatmap averages, as :meth:`describe` says it."""
        return (f"over the same {len(self.map_flips)} views as the grade (the image and its "
                f"{len(self.map_flips) - 1} flips, each view's map flipped back onto the image)"
                if self.tta else "on the image as given (no flip TTA)")

    @property
    def decision_rule(self) -> str:
        """How the bundle decides the grade, in technical words (the details JSON's
        ``decision``, :func:`app.server.decision_rule`; each :class:`Prediction`'s ``decision``):
        the expected grade Σ k·P_k cut at the kappa-tuned thresholds, the most probable grade
        (``argmax``), a regression head's score cut at its thresholds, or a two-grade bundle's
        referral cut on P1 with the target it was set for (``finetune.referral_target``)."""
        from drac_ssl.grading.model import threshold_words

        cal = self.bundle.calibration
        t = (self.metadata.get("calibration") or {}).get("thresholds") or []
        if (cut := cal.referral if getattr(cal, "referral_decides", False) else None) is not None:
            return (f"Grade = 1 ({self.grade_names[1]}) when P1 >= {cut.cut:.6g}, the referral cut set "
                    f"for {cut.words()} on the out-of-fold outputs (finetune.referral_target={cut.target}), "
                    f"else 0; it may differ from the most probable grade.")
        if cal.decision == "argmax":
            return ("Grade = the most probable grade (the bundle's class decision: argmax of the "
                    "calibrated probabilities).")
        what = "the regression head's score" if self.regression else "expected grade Σ k·P_k"
        cut_at = f" {threshold_words(t, ' / ')}" if t else ""
        if self.metadata.get("demo"):  # app.demo_bundle's: its thresholds were tuned on nothing
            return (f"Grade = {what} cut at the untrained demo bundle's evenly spaced default "
                    f"thresholds{cut_at}, tuned on no image; it may differ from the most probable grade.")
        return (f"Grade = {what} cut at the bundle's kappa-tuned thresholds{cut_at}; it may differ "
                f"from the most probable grade.")

    def heatmap_score_note(self, explains: str = "grade") -> str:
        """One sentence when the heatmap explains another score than the one that chose the
        grade, in plain words (a clinician trial: "raw score (logit)", "expected grade ... cut
        at thresholds" were engineering words; :func:`app.server.heatmap_method` keeps them for
        the details JSON): a classification head's map explains the raw logit of one grade. Under
        ``decision: thresholds`` (the default) the grade is the expected grade of the
        probabilities cut at thresholds (:class:`drac_ssl.grading.model.Calibration`); under
        ``argmax`` it is the most probable grade of the calibrated probabilities (the folds'
        softmax, averaged over the flips), which weigh every grade's logit, so one grade's
        logit alone does not decide it either. '' for a regression head, whose thresholds cut
        the very score its map explains (``explains == "score"``)."""
        if explains == "score" or self.regression:
            return ""
        if self.bundle.calibration.decision != "thresholds":
            return ("It shows what raised the model's own score for that grade alone; the grade "
                    "was chosen from all the grades' probabilities together.")
        return ("It shows what raised the model's own score for that grade alone; the grade shown "
                "was chosen from all the grades' probabilities together (the model's overall "
                "score), so the map need not point at what decided it.")

    def describe(self) -> str:
        """What every prediction computes, for the page (never fewer folds or flips than
        the bundle has, silently)."""
        folds = len(self.bundle.models)
        shared = self.bundle.shared_backbone is not None and folds > 1
        flips = "4 flips (identity, horizontal, vertical, both) in one batch" if self.tta \
            else "no flip TTA"
        text = (f"{folds}-fold ensemble (every fold model on every image), {flips}"
                + (", one pass of the backbone the folds share per image" if shared else
                   ", each fold model's own backbone"))
        if isinstance(self.cam, FoldMapGradCAM) and not self.heatmap_possible:
            text += (f"; no heatmap: at this model's {self.bundle.spec.image_size} px input "
                     f"{self.target_layer} is a single 1 x 1 cell, so Grad-CAM cannot locate anything")
        elif isinstance(self.cam, FoldMapGradCAM):
            text += (f"; Grad-CAM of the ensemble's mean {self._score_word} at {self.target_layer} "
                     f"over every fold model, {self._views_words}, from the same forward pass "
                     f"(one backward through the heads)")
        elif self.cam is not None:
            text += (f"; Grad-CAM of the ensemble's mean {self._score_word} at {self.target_layer} "
                     f"over every fold model, {self._views_words} (one forward and backward per "
                     f"fold model)")
        else:
            text += "; no heatmap"
        profile = self.bundle.input_profile
        text += ("; images unlike the training images are flagged (an out-of-distribution check "
                 f"against {profile.n_images} of them)" + (f"; {profile.caveat()}" if profile.weak else "")
                 if profile is not None else "; no out-of-distribution check in this bundle")
        return text + "."

    def probabilities(self, images: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """``(probs (n, K), classes (n,))`` of uint8 images in the model's channels: exactly
        :func:`drac_ssl.grading.predict.predict_images` with this predictor's TTA setting."""
        from drac_ssl.grading.predict import predict_images

        return predict_images(self.bundle, images, tta=self.tta)

    def grade_batch(self, images: list[np.ndarray], warnings: list[list[str]] | None = None
                    ) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
        """``(probs (n, K), classes (n,), unlike, small)`` of uint8 images in the model's channels,
        each preprocessed once (:func:`drac_ssl.grading.predict.grade_images` with this
        predictor's TTA): the probabilities of :meth:`probabilities`, and per image the
        out-of-distribution warning ``unlike`` (:meth:`drac_ssl.grading.ood.InputProfile.warning`;
        "" when the image looks like the training images, or the bundle has no input profile)
        and the warnings ``small`` about the image itself: far smaller than the model's input
        (:func:`drac_ssl.grading.predict.small_image_warning`), what the replayed fundus crop
        found (:func:`drac_ssl.grading.predict.preprocessing_warning`) and, given ``warnings``
        (per image, the upload's own: :attr:`app.inputs.LoadedImage.warnings`), those, as
        :meth:`predict` says them (:meth:`image_warnings`), in sentences joined by a space (""
        for most); a plain note (:func:`app.inputs.is_plain_note`: a 16-bit file converted,
        a grey picture saved as RGB, a finding of the decoder about the file) starts "Note:", as on the single-image tab, so that the
        batch's notes column does not read it as a doubt."""
        from drac_ssl.grading.predict import _image_list  # the same errors as grade_images

        return self.grade_prepared([self.prepare(image) for image in _image_list(images)], warnings)

    def prepare(self, image: np.ndarray) -> Any:
        """A uint8 image in the model's channels -> what :meth:`grade_prepared` needs of it
        (:func:`drac_ssl.grading.predict.prepare_image`: the model input at the bundle's size,
        the image's shape, its warnings), without the image: the batch tab prepares each
        upload as it is read and drops the decoded image, so that a batch holds one decoded
        image at a time, not all of them."""
        from drac_ssl.grading.predict import prepare_image

        return prepare_image(image, self.metadata)

    def grade_prepared(self, prepared: list[Any], warnings: list[list[str]] | None = None
                       ) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
        """:meth:`grade_batch` of images made ready by :meth:`prepare` (the same result to the
        last bit: :func:`drac_ssl.grading.predict.grade_prepared`)."""
        probs, classes, words, said = self.grade_prepared_sentences(prepared, warnings)
        return probs, classes, words, [" ".join(sentences) for sentences in said]

    def grade_prepared_sentences(self, prepared: list[Any], warnings: list[list[str]] | None = None
                                 ) -> tuple[np.ndarray, np.ndarray, list[str], list[list[str]]]:
        """:meth:`grade_prepared` with each image's warnings about itself as a list of
        sentences (a plain note starting "Note:") instead of one string: the batch tab counts
        the images that carry a doubt, by kind."""
        from drac_ssl.grading.predict import grade_prepared

        graded = grade_prepared(self.bundle, prepared, tta=self.tta)
        profile = self.bundle.input_profile
        words = ([profile.warning(self.training_images_words) if f else "" for f in graded.unlike]
                 if profile is not None and graded.unlike is not None else [""] * len(prepared))
        # far smaller than the model's input, no disc to crop: the words of predict() and the export
        small = [[f"Note: {w}" if is_plain_note(w) else w
                  for w in self.image_warnings(ready.shape, said, upload, found)]
                 for ready, said, upload, found in zip(prepared, graded.warnings,
                                                       warnings or [[]] * len(prepared),
                                                       graded.preprocessing_warnings, strict=True)]
        return graded.probs, graded.classes, words, small

    def image_warnings(self, shape: tuple[int, ...], small: list[str], upload: list[str],
                       found: list[str]) -> list[str]:
        """The warnings about an image of ``shape`` ``(H, W[, C])`` itself, as the page says them
        (sentences): ``small`` far smaller than the model's input
        (:func:`drac_ssl.grading.predict.small_image_warning`), ``upload`` the upload's own
        (:attr:`app.inputs.LoadedImage.warnings`), ``found`` what the replayed fundus crop found
        (:func:`drac_ssl.grading.predict.preprocessing_warning`); ``small`` and ``found`` in the
        export's words (capitalised here, with a full stop). One size warning: an image the
        model warns about as ``small`` loses the upload's UW-OCTA "Too small" line
        (:func:`app.inputs.too_small_warning`), whose detail joins the model's warning; any
        other image keeps that line in the words for this model's input size (a plain note when
        the upload is at least that size: the model reads it at its own size anyway). One
        shape warning: the upload's UW-OCTA "Not square" line says the squeeze, so the
        preprocessing's own line on it (:func:`drac_ssl.grading.predict.squeeze_finding`) is
        left out."""
        from drac_ssl.grading.predict import SQUEEZED

        upload = list(upload)
        if any(w.startswith(NOT_SQUARE) for w in upload):
            found = [w for w in found if SQUEEZED not in w]
        octa_size = too_small_warning(int(shape[1]), int(shape[0]))
        if small and octa_size and octa_size in upload:
            upload.remove(octa_size)
            small = [f"{small[0]} ({OCTA_SIZE_DETAIL})", *small[1:]]
        elif octa_size and octa_size in upload:  # relative to what the model reads
            side = int(self.bundle.spec.image_size)
            upload[upload.index(octa_size)] = too_small_warning(int(shape[1]), int(shape[0]), side)
        return [as_sentence(w) for w in small] + upload + [as_sentence(w) for w in found]

    @property
    def grade_names(self) -> list[str]:
        """The grade names as the app shows them to people
        (:func:`drac_ssl.scale.grade_names_for_people` of :attr:`class_names`): the ICDR scale in
        its own wording ("3 Severe NPDR", not "3 Severe", which read beside "4 PDR" as the worse
        of the two), any other scale as recorded. :attr:`class_names` stays the bundle's
        (``details["grade_name"]``, ``probabilities`` keys: what API clients read)."""
        from drac_ssl.scale import grade_names_for_people

        return list(grade_names_for_people(self.class_names))

    @property
    def bundle_notes(self) -> list[str]:
        """Notes on the bundle's files that loaded but are not verified as built, for the page's
        technical details and the server's log, naming files by name alone (no server path): an
        input profile used unverified, the bundle built before its hash was recorded
        (:func:`drac_ssl.grading.bundle.profile_hash_note`; the export says it too), weights
        files used unverified, the bundle built before their digests were recorded
        (:func:`drac_ssl.grading.bundle.weights_hash_note`; the export says it too), and an
        edited ``MODEL_CARD.md`` (:func:`drac_ssl.grading.bundle.model_card_note`); [] when
        there is none."""
        from drac_ssl.grading.bundle import model_card_note, profile_hash_note, weights_hash_note

        return [note for note in (weights_hash_note(self.bundle, paths=False),
                                  profile_hash_note(self.bundle, paths=False),
                                  model_card_note(self.bundle, paths=False)) if note]

    @property
    def chance_warning(self) -> str | None:
        """The bundle's "no evidence that this model grades better than chance" sentence (its
        out-of-fold QWK 95% CI reaches 0), None otherwise: :func:`drac_ssl.grading.bundle.chance_warning`,
        the words of the page's banner and the export command. :meth:`predict` puts it first in
        every :attr:`Prediction.warnings`, so a script's result says it too."""
        from drac_ssl.grading.bundle import chance_warning

        return chance_warning(self.metadata.get("cv_metrics") or {})

    @property
    def calibration_warning(self) -> str | None:
        """The bundle's "Probabilities not calibrated: ... Read the grade, not the percentages."
        sentence when its calibration failed (its temperature at the edge of its search range,
        the rule of report.md and the model card; after :attr:`chance_warning` it ends "The
        percentages say nothing; see above about the grade." instead), None otherwise:
        :func:`drac_ssl.grading.bundle.calibration_warning`, the words of the page's banner and
        the export command. :meth:`predict` puts it in every :attr:`Prediction.warnings`, after
        :attr:`chance_warning`, and sets :attr:`Prediction.calibration_failed` (no borderline
        then); the page says it directly under each result's heading."""
        from drac_ssl.grading.bundle import calibration_warning

        return calibration_warning(self.metadata)

    @property
    def referable_informative(self) -> bool:
        """False when P(referable) (:attr:`Prediction.referable`) carries no information: its
        out-of-fold referable AUC's 95% CI (``cv_metrics.referable.auc_ci95``) does not lie
        above 0.5 (reaches it, lies below it: the wrong way round, or is not recorded), whatever
        the grades' QWK; the page then leaves the figure out and says why (a trial: a
        chance-level model showed "P(referable) 0.599 ... sensitivity 0.500, specificity 0.500"
        as if it meant something). True when that AUC's CI lies above 0.5, also under the chance
        warning (:attr:`chance_warning`: the probabilities rank referable images, though the
        grades do not agree).
        The rule is :func:`drac_ssl.grading.bundle.referable_not_informative`, the export's
        too; :attr:`referable_reason` says why."""
        return not self.referable_reason

    @property
    def referable_reason(self) -> str:
        """Why P(referable) carries no information, one sentence without its full stop
        (:func:`drac_ssl.grading.bundle.referable_not_informative`: an interval that does not
        lie above 0.5 and one not recorded are said differently); "" when it may carry some."""
        from drac_ssl.grading.bundle import referable_not_informative

        return referable_not_informative(self.metadata)

    @property
    def trained_on_phantoms(self) -> bool:
        """True when the bundle's metadata says it was trained on phantom images
        (``data.kind == "phantom"``: :mod:`data_prep.phantom`'s procedural stand-ins)."""
        return (self.metadata.get("data") or {}).get("kind") == "phantom"

    @property
    def trial_run(self) -> str:
        """report.md's "A trial run: the pretraining was cut short (...); its figures check that
        the pipeline runs on this data, not how well it grades" for a bundle whose metadata
        records a trial run (``trial_run``: :func:`drac_ssl.trial_run.trial_run_words`), ''
        otherwise (not a trial; or unknown: a bundle built before the key, which claims
        nothing). The page's banner says it."""
        from drac_ssl.trial_run import trial_run_words

        return trial_run_words(self.metadata.get("trial_run"))

    @property
    def caveat(self) -> str:
        """One short line that goes with every result (:attr:`Prediction.warnings`, the page's
        result), from the bundle's own metadata (:func:`drac_ssl.grading.bundle.caveat_line`):
        an untrained demo bundle (``demo``) says its grades mean nothing, a bundle trained on
        phantom images (:attr:`trained_on_phantoms`) says so, a bundle of a trial run
        (:attr:`trial_run`) says its grades check the pipeline, and every one says it is not a
        medical device (the page's banner says it at more length; the export command says the
        same caveats). :meth:`caveat_for` says it of a batch."""
        return self.caveat_for(1)

    def caveat_for(self, n_images: int) -> str:
        """:attr:`caveat` of ``n_images`` grades: of several, "these grades" (the batch
        summary)."""
        from drac_ssl.grading.bundle import caveat_line

        return caveat_line(self.metadata, plural=n_images > 1)

    @property
    def training_images_words(self) -> str:
        """What the model was trained on, in the words of a warning: "colour fundus
        photographs", "UW-OCTA images", "phantom UW-OCTA images" (a bundle trained on phantom
        images, :attr:`trained_on_phantoms`), ... (:func:`app.inputs.describe_kind`, plural)."""
        return f"{'phantom ' if self.trained_on_phantoms else ''}{describe_kind(self.kind, self.channels)}s"

    def predict(self, image: np.ndarray, name: str = "image", warnings: list[str] | None = None,
                gradcam: bool = True, explain: int | None = None) -> Prediction:
        """Grade one uint8 image in the model's channels (grey ``(H, W)`` or RGB ``(H, W, 3)``;
        :attr:`channels`; convert others with :func:`drac_ssl.grading.predict.conform_channels`,
        ``grey_trained=predictor.grey_trained``).

        The heatmap explains grade ``explain`` (default: the returned grade): regions whose
        activation raises that grade's score; a regression head's explains its single score
        (``explain`` must then be None: ValueError otherwise). It is placed on ``image``
        through the crop and padding the preprocessing applied (0 outside the part the model
        read). The warnings start with the model's own (:attr:`chance_warning`, a model no
        better than chance; :attr:`calibration_warning`, probabilities not calibrated;
        :attr:`caveat`, always), then the image's. The image is graded as
        given: the upload checks that refuse a blank image or noise are :meth:`predict_file`'s
        and :meth:`predict_loaded`'s (:func:`app.inputs.refusal`).

        Raises:
            TypeError: ``image`` is a path or bytes, not an array (:meth:`predict_file` reads
                a file).
            ValueError: ``explain`` not a grade ``0 .. K-1``, or given for a regression head;
                ``image`` in other channels than the model's
                (:func:`drac_ssl.grading.predict.preprocess_image`: convert it with
                ``conform_channels``)."""
        from drac_ssl.grading.predict import (
            ensemble_outputs,
            preprocess_image,
            preprocessing_warning,
        )

        if isinstance(image, str | bytes | os.PathLike):
            raise TypeError(f"predict takes an image array, got the {type(image).__name__} {image!r}: "
                            f"predict_file(path) reads and checks a file as the page does")
        gray = np.asarray(image)  # the image as the model reads it (grey or RGB)
        if explain is not None and self.regression:
            raise ValueError(f"explain={explain!r}: this model has a regression head, whose heatmap "
                             f"explains its single score (the predicted grade as a number), not one "
                             f"grade; leave explain unset")
        if explain is not None and (isinstance(explain, bool) or not isinstance(explain, int | np.integer)
                                    or not 0 <= int(explain) < len(self.class_names)):
            raise ValueError(f"explain must be a grade 0..{len(self.class_names) - 1}, "
                             f"got {explain!r}")
        want_cam = gradcam and self.cam is not None
        t0 = time.perf_counter()
        found: list[str] = []  # what the replayed ingest preprocessing (fundus crop) found
        small: list[str] = []  # far smaller than the model's input (the export's words too)
        geometry: list[Any] = []  # where the input came from in the image (crop box, padding)
        x = preprocess_image(gray, self.metadata, notes=found, warnings=small, geometry=geometry)[None]
        t1 = time.perf_counter()
        profile = self.bundle.input_profile
        # the out-of-distribution check's features come from the grading's own backbone pass
        out = ensemble_outputs(self.bundle, x, tta=self.tta,
                               keep_maps=want_cam and self.one_pass_gradcam,
                               keep_features=profile is not None)
        probs, _, classes = self.bundle.calibration.decide(out.raw)
        grade = int(classes[0])
        input_check, unlike = None, []
        if profile is not None:
            assert out.features is not None
            distance, flagged = profile.unlike_training(x, out.features)
            input_check = {"distance": round(float(distance[0]), 2),
                           "threshold": round(profile.threshold, 2), "flagged": bool(flagged[0])}
            unlike = [profile.warning(self.training_images_words)] if flagged[0] else []
        said = [w for w in (self.chance_warning, self.calibration_warning, self.caveat) if w] + unlike + self.image_warnings(
            gray.shape, small, list(warnings or []), [preprocessing_warning(n) for n in found])
        # an image not reliably gradable (the page's heading, Prediction.not_reliably_gradable):
        # its heatmap is withheld, so none is made (a review: its time was in the page's inference time)
        skipped = want_cam and bool(unreliable_reasons(said))
        want_cam = want_cam and not skipped
        t2 = time.perf_counter()
        heatmap = cells = explained = raw_max = None
        in_padding = False
        if want_cam:
            explained = grade if explain is None else int(explain)
            size = (int(x.shape[-2]), int(x.shape[-1]))
            if isinstance(self.cam, FoldMapGradCAM):
                assert out.maps is not None
                cells = (int(out.maps[0].shape[-2]), int(out.maps[0].shape[-1]))
                # a 1 x 1 map has no location to show: its normalised CAM would only stretch
                # float rounding (values ~1e-7 apart) to the full colour range
                # every view's maps, (V, C, h, w): averaged as the grade averages the views
                combined = None if cells == (1, 1) else self.cam.from_maps([m[0] for m in out.maps],
                                                                           explained, size, self.map_flips)
            else:
                assert self.cam is not None
                combined = self.cam(x[0], explained, self.map_flips)  # the grade's views, as above
                cells = combined.cells
                combined = None if cells == (1, 1) else combined
            cam = None if combined is None else combined.heat
            raw_max = None if combined is None else combined.raw_max
            # back through the crop and padding; a coarse map keeps its cells
            heatmap = None if cam is None else place_heatmap(cam, geometry[0], gray.shape[:2],
                                                             nearest=is_coarse(cells))
            in_padding = (cam is not None and heatmap is not None and float(np.max(cam)) > 0.0
                          and float(heatmap.max()) <= 0.0)
        t3 = time.perf_counter()
        timings = {"preprocess": t1 - t0, "ensemble": t2 - t1}
        if want_cam:
            timings["gradcam"] = t3 - t2
        referable = None
        if self.referable_from is not None:
            from drac_ssl.metrics import referable_words

            r = self.referable_from
            rule = ((self.metadata.get("cv_metrics") or {}).get("referable") or {}).get("rule")
            referable = {"from_grade": r, "probability": float(np.asarray(probs[0], dtype=np.float64)[r:].sum()),
                         "rule": str(rule or referable_words(r, self.class_names)),
                         "informative": self.referable_informative,
                         # why not (kept beside the probability, not dropped: the page leaves
                         # the figure out, an API client gets it with this); None when informative
                         "reason": self.referable_reason or None}
            cut = getattr(self.bundle.calibration, "referral", None)
            if cut is not None:  # finetune.referral_target: the bundle's cut refers (on grades >= r: checked)
                referable.update({"referral_cut": cut.cut, "referral_target": cut.target,
                                  # P(referable) as submission.csv writes it beside this grade
                                  "referred": int(cut.refer(np.asarray(probs[:1], dtype=np.float64),
                                                            np.array([grade]))[0])})
        return Prediction(name=name, grade=grade, grade_name=self.class_names[grade],
                          probs=np.asarray(probs[0], dtype=np.float64), heatmap=heatmap,
                          image=gray, seconds=t3 - t0, warnings=said,
                          explained=explained, explains="score" if self.regression else "grade",
                          geometry=geometry[0], cam_cells=cells, heat_only_in_padding=in_padding,
                          cam_raw_max=raw_max, cam_skipped=skipped,
                          cam_views=None if heatmap is None else len(self.map_flips),
                          class_names=list(self.class_names),
                          timings=timings, input_check=input_check, referable=referable,
                          bundle=dict(self.bundle.identity),
                          calibration_failed=self.calibration_warning is not None,
                          decision=self.decision_rule)

    @functools.cached_property
    def training_hashes(self) -> set[str] | None:
        """The hash prefixes of the bundle's labelled training images' files
        (:func:`drac_ssl.grading.training_images.training_hashes`); None for a bundle built
        before it recorded them."""
        from drac_ssl.grading.training_images import training_hashes

        return training_hashes(self.metadata)

    @functools.cached_property
    def training_pixel_hashes(self) -> set[str] | None:
        """The prefixes of the bundle's labelled training images' decoded-pixel hashes
        (:func:`drac_ssl.grading.training_images.training_pixel_hashes`); None for a bundle
        built from an ingest made before them."""
        from drac_ssl.grading.training_images import training_pixel_hashes

        return training_pixel_hashes(self.metadata)

    def training_image(self, image: LoadedImage | str | os.PathLike[str]) -> bool | None:
        """Whether ``image`` (an upload read by :func:`app.inputs.load_upload`, or a file's path)
        is one of the images this model was trained on
        (:func:`drac_ssl.grading.training_images.is_training_image`, the export's check): the
        SHA-256 prefix of the bytes it read (of the file, for a path) among the bundle's file
        hashes, or, for an upload, that of its decoded pixels as this model reads them
        (:func:`data_prep.validate.pixels_sha256`: a PNG written from a training row of an
        ``.npz``, a training image saved again without loss) among its decoded-pixel hashes.
        None when it cannot be told: the bundle records no training-image hashes (built before
        them), a LoadedImage without its hash and no pixel hashes, a file that cannot be read.
        :meth:`training_match` says which matched."""
        found = self.training_match(image)
        return None if found is None else bool(found)

    def training_match(self, image: LoadedImage | str | os.PathLike[str]) -> bool | str | None:
        """:meth:`training_image`, saying which matched
        (:func:`drac_ssl.grading.training_images.training_match`): True for the file's bytes,
        :data:`drac_ssl.grading.training_images.BY_PIXELS` for its decoded pixels alone, False
        for neither, None when it cannot be told: what the note (``(same SHA-256)`` or ``(same
        decoded pixels)``) and the batch's ``training_image`` column say."""
        from drac_ssl.grading.training_images import (
            HASH_HEX,
            file_prefix,
            pixels_prefix,
            training_match,
        )

        hashes, pixels = self.training_hashes, self.training_pixel_hashes
        if hashes is None:
            return None
        by_pixels = None
        if isinstance(image, LoadedImage):
            prefix = image.sha256[:HASH_HEX].lower()
            if pixels is not None:
                by_pixels = pixels_prefix(image.for_channels(self.channels))
        else:
            try:
                prefix = file_prefix(image)
            except OSError:
                return None
        return training_match(hashes, pixels, prefix if len(prefix) == HASH_HEX else None, by_pixels)

    def upload_warnings(self, loaded: LoadedImage) -> list[str]:
        """The upload's own warnings (:attr:`app.inputs.LoadedImage.warnings`), for a file that
        carries drac_ssl's phantom marker (:attr:`app.inputs.LoadedImage.phantom`) that it is a
        synthetic phantom image, not a patient's
        (:func:`drac_ssl.grading.image_notes.phantom_image_warning`: a doubt, or a plain note
        for a model trained on phantoms, :attr:`trained_on_phantoms`) and, for a file
        this model was trained on (:meth:`training_match`), the plain note
        :func:`drac_ssl.grading.training_images.training_image_note`, which says whether its
        file's bytes or its decoded pixels matched (a trial: the export said
        "N of M images were used to train this model", the app nothing), and for a file of
        another bit depth than every labelled training image, the doubt
        :func:`drac_ssl.grading.image_notes.other_depth_warning` (the export command's sentence;
        nothing for a bundle that does not record the training images' depths,
        :attr:`drac_ssl.grading.bundle.Bundle.bit_depths`)."""
        from drac_ssl.grading.training_images import training_image_note

        # the upload's depth by the ingest's rule (its mode and the decoder's words on it)
        other = other_depth_warning(sample_depth(loaded.mode, loaded.notes).scaling, self.bundle.bit_depths)
        found = self.training_match(loaded)
        return [*loaded.warnings, *([other] if other else []),
                *([phantom_image_warning(self.trained_on_phantoms)] if loaded.phantom else []),
                *([training_image_note(found)] if found else [])]

    def predict_loaded(self, loaded: LoadedImage, gradcam: bool = True,
                       explain: int | None = None) -> Prediction:
        """Grade an image read by :func:`app.inputs.load_upload` in this model's channels (its
        warnings, conversions included, carried over, and a note when the file is one of the
        model's training images: :meth:`upload_warnings`, :attr:`Prediction.training_image`).
        Raises :class:`app.inputs.InputRejected` for an image the app does not grade
        (:func:`app.inputs.refusal`: blank, or random noise), as both tabs of the page refuse it."""
        check_gradable(loaded, self.kind, self.channels)
        pred = self.predict(loaded.for_channels(self.channels), loaded.name, self.upload_warnings(loaded),
                            gradcam=gradcam, explain=explain)
        pred.training_image = self.training_image(loaded)
        return pred

    def predict_file(self, path: str | os.PathLike[str], gradcam: bool = True) -> Prediction:
        """Read (with this predictor's :attr:`limits`: by default those of
        :func:`drac_ssl.grading.predict.read_image`) and grade an image file; the result's
        ``path`` is ``path`` as given (``str``), its ``name`` the base name. Raises
        :class:`app.inputs.InputRejected` (its ``path`` too) for a file that cannot be read or
        is not graded, its message in a script's words (no "upload"): not a regular file
        (missing, a broken symbolic link, a folder, a named pipe), above the limits or of
        another format (:mod:`drac_ssl.grading.image_file`, the rule of
        :func:`drac_ssl.grading.predict.read_image` too), undecodable, blank or random noise
        (:func:`app.inputs.refusal`, the page's rule)."""
        given = None if path is None else os.fsdecode(path)
        t0 = time.perf_counter()
        loaded = load_upload(path, self.limits, channels=self.channels, kind=self.kind,
                             grey_trained=self.grey_trained, upload=False)
        read_seconds = time.perf_counter() - t0
        try:
            pred = self.predict_loaded(loaded, gradcam=gradcam)
        except InputRejected as exc:  # blank or noise (check_gradable): which file, by its path
            exc.path = given
            raise
        pred.read_seconds = read_seconds
        pred.path = given
        return pred
