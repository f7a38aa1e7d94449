"""Prediction with a grading model or a bundle: preprocessing, TTA, the fold ensemble.

Inference only: nothing here trains, and nothing imports the cross-validation loop.

* :func:`read_image`: an image file in the model's channels (uint8 grey ``(H, W)`` or RGB
  ``(H, W, 3)``), decoded like the ingest, with what was converted;
  :func:`read_image_any`: the grey version of the same.
* :func:`conform_channels`: an array in the model's channels, saying what was converted.
* :func:`preprocess_image`: one image -> the model input ``(C, S, S)``: the ingest's cached
  copy made again (the recorded fundus crop / Graham filter, INTER_AREA resize to the
  cached source size: :func:`data_prep.cache.cache_rows`), then the training's evaluation
  transform (:meth:`drac_ssl.grading.model.InputSpec.eval_transform`). A row of the ingest
  cache (``ingested=True``) skips the first part: it already is that copy.
* :func:`predict_raw`: one model's raw outputs, the mean over the flips :data:`TTA_FLIPS`.
* :func:`ensemble_outputs`: a loaded bundle's fold models on preprocessed inputs, their raw
  outputs (and, for the one-pass Grad-CAM, their identity-view feature maps);
  :func:`predict_tensors` / :func:`predict_images`: the same turned into probabilities, a
  score and a grade by the bundle's stored calibration.

How a prediction is computed (the app and the export command alike):

* Flip TTA in one forward pass: the 4 views of a chunk of images (identity, horizontal,
  vertical, both; :func:`tta_views`) are stacked into one batch, and the outputs averaged
  over the views in that order. One batched pass costs less than four passes of a quarter
  of the size (ResNet-18 to layer4, the 4 views of a 224 px image, 1 thread on the shared
  development CPU: 158 against 194 ms; ``bench/results/app_speed.json``).
* Shared backbone: a bundle fine-tuned with ``finetune.freeze: frozen`` has one backbone for
  every fold. :func:`drac_ssl.grading.bundle.load_bundle` makes the fold models hold one
  backbone module when the folds' backbone tensors are bit-identical, and the backbone then
  runs ONCE per batch of views, feeding its feature map to every fold head (``folds x``
  fewer backbone passes). Otherwise (``freeze: last`` / ``all``) every fold model runs on its
  own. Both give the same outputs: the shared path performs each fold model's operations on
  the same batches in the same order (bit-identical on CPU).
* ``torch.inference_mode`` and, on the CPU, channels-last weights (set by ``load_bundle``;
  oneDNN's NHWC convolutions: 123 against 158 ms for the same pass of the 4 views, idle medians in
  ``bench/results/app_speed.json``). The outputs equal the plain NCHW,
  one-pass-per-flip computation to float32 rounding (relative differences ~1e-6 in the
  feature maps; ``tests/drac_ssl/test_export.py`` checks the probabilities to 1e-5).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor, nn

from data_prep.cache import RowGeometry, cache_rows, resize_gray, squeezed_words
from data_prep.colour_rule import is_overlay
from data_prep.decode import ONE_BIT_NOTE, colour_share, sample_depth
from data_prep.problems import Problem
from data_prep.validate import (
    convert_channels,
    few_levels,
    inspect_image,
    is_blank,
    pixels_sha256,
)
from drac_ssl.eval_input import model_input
from drac_ssl.grading.image_file import (
    LOCAL_FILE_LIMITS,
    InputLimits,
    bytes_refusal,
    content_refusal,
    misnamed_finding,
    path_refusal,
)
from drac_ssl.grading.image_notes import (
    COLOUR_FILE_MODES,
    FAR_BELOW,
    FUNDUS_CROP_DOES,
    GREY_TRAINED_NOT_GIVEN,
    IMAGE_SUFFIXES,
    PREPROCESSING_FINDING,
    colour_for_grey_model,
    depth_note,
    few_levels_warning,
    file_finding,
    flagged_reasons,
    grey_for_colour_model,
    holds_words,
    image_kind,
    is_plain_note,
    other_depth_warning,
    overlaid_for_colour_model,
    starts_a_warning,
)
from drac_ssl.grading.model import FEATURE_STAGE, GradingModel, InputSpec
from drac_ssl.models import Backbone
from drac_ssl.starting import python_command

if TYPE_CHECKING:
    from drac_ssl.grading.bundle import Bundle

__all__ = [
    "EnsembleOutput",
    "array_fix",
    "FLIP_NAMES",
    "FileWarning",
    "TTA_FLIPS",
    "BLANK_REASON",
    "GRADE_NOT_USED",
    "GradedImages",
    "NOISE_REASON",
    "PreparedImage",
    "ImageReadError",
    "COLOUR_FILE_MODES",
    "conform_channels",
    "ensemble_outputs",
    "grey_for_colour_model",
    "grade_images",
    "few_levels_words",
    "grade_prepared",
    "input_spec_of",
    "limit_threads",
    "model_channels",
    "nothing_to_grade",
    "predict_images",
    "predict_raw",
    "predict_tensors",
    "prepare_image",
    "preprocess_image",
    "preprocessing_warning",
    "profile_features",
    "read_image",
    "read_image_any",
    "small_image_warning",
    "training_image_side",
    "training_side_words",
    "TrainingSideNote",
    "training_side_note",
    "OTHER_TRAINING_SIDE",
    "SQUEEZED",
    "squeeze_finding",
    "resolve_tta",
    "training_image_flags",
    "tta_views",
    "unlike_training_images",
]

TTA_FLIPS: tuple[tuple[int, ...], ...] = ((), (-1,), (-2,), (-2, -1))
"""Test-time augmentation: identity, horizontal, vertical, both flips (tensor dims)."""
FLIP_NAMES = {(): "identity", (-1,): "horizontal", (-2,): "vertical", (-2, -1): "both"}
PREDICT_BATCH = 64  # views per forward pass: 16 images x 4 flips (predict_raw's default)


def limit_threads(threads: int) -> dict[str, int]:
    """Cap this process's CPU threads for grading at ``threads``: torch's intra-op pool (the
    convolutions), torch's inter-op pool and OpenCV's (decoding, resizing), the thread policy
    of the package's commands (:func:`drac_ssl.runtime.apply_thread_policy`, ``run.threads`` /
    ``--threads``). ``torch.set_num_threads`` alone leaves the other two at their defaults (the
    machine's cores), which a nightly batch on a shared server feels.

    Call it once, before loading a bundle. Torch sizes its inter-op pool once per process: the
    first call that sizes it (this one, ``torch.set_num_interop_threads``) or its first use
    (``torch.jit.fork``, some ops) fixes it, and a later call asking for another count keeps it,
    with a ``RuntimeWarning`` saying so. Grading and a training from
    :func:`drac_ssl.train.main` with an ``argv`` neither size nor use it: after them the first
    call still sets all three, without a warning.

    Returns:
        What is set now: ``torch_intra_op``, ``torch_inter_op``, ``opencv`` (threads).

    Raises:
        ValueError: ``threads`` is not a positive integer.
    """
    import warnings

    from drac_ssl.runtime import apply_thread_policy

    if isinstance(threads, bool) or not isinstance(threads, int | np.integer) or threads < 1:
        raise ValueError(f"threads must be a positive integer (1 for one thread per process), got {threads!r}")
    applied = apply_thread_policy(int(threads))
    set_now = {key: int(applied[key]) for key in ("torch_intra_op", "torch_inter_op", "opencv")}
    if set_now["torch_inter_op"] != threads:
        warnings.warn(f"limit_threads({threads}): torch's inter-op pool was sized already, to "
                      f"{set_now['torch_inter_op']} threads (an earlier limit_threads or "
                      f"torch.set_num_interop_threads, or its first use), and torch keeps that size for "
                      f"the process; the other two are set -> call limit_threads once, at the start",
                      RuntimeWarning, stacklevel=2)
    return set_now


# --------------------------------------------------------------------------------------
# Reading and preprocessing images


class FileWarning(str):
    """One thing :func:`read_image` (or :func:`conform_channels`) says of a file: the string
    ``NAME: WORDS`` it always was (printed, compared, written as before), which keeps the
    file's ``name`` and the ``words`` apart, so that :func:`grade_images` takes the words
    whole whatever the name holds (a file named ``scan: left.png``: a joined
    line cut at its first ": " lost ``left.png`` into the words). ``str(warning)`` and JSON
    give the plain joined line; a pickled or copied one stays a :class:`FileWarning`."""

    name: str
    words: str

    def __new__(cls, name: str, words: str) -> FileWarning:
        self = super().__new__(cls, f"{name}: {words}")  # words of a str subclass kept as they are
        self.name, self.words = str(name), words if isinstance(words, str) else str(words)
        return self

    def __getnewargs__(self) -> tuple[str, str]:  # pickle, copy: built again from the pair
        return self.name, self.words


class ImageReadError(ValueError):
    """An image file that cannot be decoded (:func:`read_image`). ``str(exc)``: the problems
    as ``PATH: what is wrong -> what to do`` lines joined by "; "; ``problems``: the same as
    :class:`data_prep.problems.Problem` objects (``path``, ``what``, ``fix``), for a caller
    that lists them apart (``python -m drac_ssl.export --skip-unreadable``)."""

    def __init__(self, message: str, problems: Sequence[Problem] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems)


def read_image_any(path: str | os.PathLike[str]) -> np.ndarray:
    """An image file (PNG, JPEG, TIFF, BMP; grey, RGB/RGBA or 16-bit) as uint8 grey ``(H, W)``.

    Decoded and converted exactly like the ingest of a 1-channel data set
    (:func:`data_prep.validate.inspect_image`: colour -> luminance, 16-bit -> value / 257).
    Raises FileNotFoundError for a missing file and ValueError (with what is wrong and how
    to fix it) for an unreadable one. For a colour model use :func:`read_image`.
    """
    return read_image(path, 1)[0]


def read_image(path: str | os.PathLike[str], channels: int, kind: str | None = None,
               notes: list[str] | None = None, grey_trained: Any = GREY_TRAINED_NOT_GIVEN,
               limits: InputLimits = LOCAL_FILE_LIMITS,
               bit_depths: Sequence[tuple[str, int, int]] | None = None,
               training_side: int | None = None) -> tuple[np.ndarray, list[str]]:
    """An image file in ``channels`` (1: uint8 grey ``(H, W)``, 3: RGB ``(H, W, 3)``) and the
    warnings of what was converted to get there, each ``NAME: `` and the app's words (a
    :class:`FileWarning`: a string that keeps the name and the words apart): the
    conversion to the model's channels (:func:`conform_channels`, whose ``kind`` this is: a
    colour file read by a grey UW-OCTA model is doubted as OCTA; ``grey_trained`` too: the grey
    images a colour model saw in training, ``bundle.grey_trained``: pass it, as the app and the
    export do; left out, the warning on a grey picture says it was not given and is no verdict,
    :data:`drac_ssl.grading.image_notes.GREY_TRAINED_NOT_GIVEN`), an image of at most a few grey
    levels (:func:`few_levels_words`: a thresholded export or a vessel mask, e.g. a 1-bit file:
    *not reliably gradable*, as the app says), a file of another bit depth than every labelled
    training image (``bit_depths``: the bundle's, ``bundle.bit_depths``: pass it, as the app and
    the export do; None, the default and a bundle that does not record them: not compared;
    :func:`drac_ssl.grading.image_notes.other_depth_warning`, a doubt), then each warning of the
    decoder (:func:`drac_ssl.grading.image_notes.file_finding`: ``Image file: 50.0% of the
    pixels are (partly) transparent: composited over black ...``, a CMYK file converted
    without colour management, float samples scaled, an ICC profile not applied ...).

    The file is checked before it is decoded, by the app's rule
    (:mod:`drac_ssl.grading.image_file`): a regular file of at most ``limits.max_bytes``
    bytes, PNG, JPEG, TIFF or BMP by its content (not its name), at most ``limits.max_side``
    px a side and ``limits.max_pixels`` pixels (:class:`~drac_ssl.grading.image_file.InputLimits`:
    :data:`~drac_ssl.grading.image_file.LOCAL_FILE_LIMITS` by default: 512 MiB, 8192 px, 40
    megapixels; pass larger ones to read larger files).
    Decoded like the ingest (:func:`data_prep.validate.inspect_image`: orientation, 16-bit
    -> 8-bit, palette / alpha, OpenCV for a TIFF Pillow cannot open ...). ``notes``, when
    given, receives ``NAME: `` and the plain notes, not doubts: a 16-bit file's conversion
    (:func:`drac_ssl.grading.image_notes.depth_note`) and the decoder's notes as
    ``Image file: ...`` (an Exif orientation applied, bytes after the image ignored, decoded
    by OpenCV), and the decoder's warnings that cast no doubt on the image
    (:func:`drac_ssl.grading.image_notes.is_plain_note`: transparency composited, an ICC
    profile not applied ...), which the app's page says as notes too; without ``notes`` they
    stay among the warnings. ``training_side``: the shorter side (px) of every labelled training
    image (``bundle.training_side``: pass it, as the export does; None: not compared): ``notes``
    receives a file whose shorter side is another (:func:`training_side_note`: ``size 512x512,
    shorter side 512 px, not the 1024 px of every training image``).

    Raises:
        ValueError: ``channels`` not 1 or 3 (a plain ValueError, not an ImageReadError: the
            call's, checked before the file is looked at).
        FileNotFoundError: no such file, or a broken symbolic link (said so, with its target).
        IsADirectoryError: a folder.
        ImageReadError: (a ValueError: ``PATH: what is wrong -> what to do``; its ``problems``
            the same one by one) a file that is not read: not a regular file (a named pipe, a
            device), above ``limits``, of another format (GIF, WebP, JPEG 2000 ...), not an
            image, damaged or undecodable; or a path whose status the file system refuses to
            give (``os.stat`` failing other than not found: no permission on a folder above
            it, a network drive gone), said as ``cannot be opened (...)``.
        OSError: a regular file whose status was read but whose bytes cannot be (no read
            permission on the file itself, an I/O error while reading): the OSError of
            reading it (a PermissionError ...), as Python raises it.
    Catch them all (``except (ImageReadError, OSError)``: FileNotFoundError and
    IsADirectoryError are OSErrors; or ``(OSError, ValueError)``) to go on with the other
    files of a batch.
    """
    if channels not in (1, 3):  # the call's error, before any file is read (1 MB or 512)
        raise ValueError(f"read_image: a model reads 1 or 3 channels, not {channels!r} "
                         f"(pass bundle.spec.channels)")
    p = Path(path)
    refused = path_refusal(p)
    if refused is not None and refused.kind == "folder":
        raise IsADirectoryError(f"{p}: a folder, not an image file ({python_command('drac_ssl.export')} RUN "
                                f"--images {p} grades the images in a folder)")
    if refused is not None and refused.kind == "missing":
        raise FileNotFoundError(f"{p}: no such image file -> check the path"
                                + ("" if p.is_absolute() else f" (a relative path is read from the current "
                                                              f"folder, {Path.cwd()})"))
    if refused is not None and refused.kind == "broken-link":
        raise FileNotFoundError(f"{p}: {refused.what.removeprefix('is ')} -> {refused.fix}")
    model_kind = kind if kind is not None else image_kind(None, channels)
    # a regular file (refused None): its size against the limits; one whose stat failed other
    # than not found was refused above as "unreadable" and raises ImageReadError just below;
    # a file stat can read but open cannot (no read permission) raises read_bytes' OSError
    if refused is None:
        refused = bytes_refusal(p.stat().st_size, limits, model_kind)
    if refused is not None and refused.kind != "empty":  # an empty file: the decoder's words
        raise ImageReadError(refused.problem(p).line, [refused.problem(p)])
    data = p.read_bytes()
    header, refused = content_refusal(data, limits, name=p.name)
    if refused is not None:  # the app's rule: another format, or above the limits
        raise ImageReadError(refused.problem(p).line, [refused.problem(p)])
    decoded = inspect_image(data, str(p), channels=None, expected_side=None)
    if decoded.pixels is None:
        # a file holding no image is said in the app's words (holds_words): the decoder's
        # quote of a text file's first words (a patient's name) stays out of logs
        problems = [dataclasses.replace(q, what=f"not an image (it holds {holds_words(data)})")
                    if q.kind == "not-an-image" else q for q in decoded.problems]
        fatal = [q for q in problems if q.severity == "error"] or problems
        raise ImageReadError("; ".join(problem.line for problem in problems)
                             or f"{p}: cannot be decoded as an image", fatal)
    depth, said = depth_note(decoded.mode, [q.what for q in decoded.problems])
    pixels, warnings = conform_channels(decoded.pixels, channels, p.name, colour=decoded.colour,
                                        mode=decoded.mode, kind=kind, grey_trained=grey_trained,
                                        share=decoded.colour_share if decoded.pixels.ndim == 3 else None)
    levels = few_levels_words(pixels, decoded.mode, model_kind, channels)
    if levels:  # the app's warning; the decoder's 1-bit note is then not said again
        warnings.append(FileWarning(p.name, levels))
        said = [*said, *(q.what for q in decoded.problems if q.what.startswith(ONE_BIT_NOTE))]
    # the file's depth by the ingest's rule, against the training images' (None: not compared)
    other = other_depth_warning(sample_depth(decoded.mode, [
        q.what for q in decoded.problems if q.kind in ("bit-depth", "float") and q.severity == "warning"]
    ).scaling, bit_depths)
    warnings += [FileWarning(p.name, other)] if other else []
    found = [q for q in decoded.problems if q.what not in said]  # said by the depth note
    findings = [(q.severity, file_finding(q.what)) for q in found if q.severity in ("note", "warning")]
    # a JPEG named .png ...: the ingest's warning, a plain note here as on the app's page
    wrong_name = misnamed_finding(header[0], p.name) if header is not None else None
    if wrong_name:
        findings.insert(0, ("note", file_finding(wrong_name)))
    if notes is not None:
        notes += [FileWarning(p.name, depth)] if depth else []
        # another shorter side than every training image's (training_side: bundle.training_side)
        size_note = training_side_note(decoded.width, decoded.height, training_side)
        notes += [FileWarning(p.name, size_note)] if size_note else []
        # the decoder's notes, and its warnings that cast no doubt on the image (an ICC profile
        # not applied, transparency composited ...: PLAIN_FINDINGS), as the app's page says them
        notes += [FileWarning(p.name, line) for severity, line in findings
                  if severity == "note" or is_plain_note(line)]
    return pixels, warnings + [FileWarning(p.name, line) for severity, line in findings
                               if severity == "warning" and (notes is None or not is_plain_note(line))]


OTHER_TRAINING_SIDE = "not the {side} px of every training image"
"""The end of :func:`training_side_note`'s words (``{side}``: the training images' shorter side),
by which the export tells that note from the others (one warning counts them)."""


class TrainingSideNote(str):
    """:func:`training_side_note`'s words, with the image's ``width`` and ``height`` (px) kept
    as data, so that a caller that says the size again (the export's one line for a resized
    test set) reads them, not the words."""

    width: int
    height: int

    def __new__(cls, words: str, width: int, height: int) -> TrainingSideNote:
        self = super().__new__(cls, words)
        self.width, self.height = int(width), int(height)
        return self

    def __getnewargs__(self) -> tuple[str, int, int]:  # pickle, copy: built again from the three
        return str(self), self.width, self.height


def training_side_note(width: int, height: int, side: int | None) -> str:
    """``size 512x512, shorter side 512 px, not the 1024 px of every training image`` for an
    image of ``width`` x ``height`` px whose shorter side is not ``side`` (px: the shorter side
    every labelled training image had, ``data.train_image_sides``, which records shorter sides
    alone: a 64x48 image on a model trained on 64x48 ones is no other size); "" when it is, or
    ``side`` is None (nothing compared); a :class:`TrainingSideNote`, its size as data. The model sees the image resized to its input either
    way; a test set resized from the originals grades on other detail than training did."""
    if not side or min(int(width), int(height)) == int(side):
        return ""
    return TrainingSideNote(f"size {width}x{height}, shorter side {min(width, height)} px, "
                            f"{OTHER_TRAINING_SIDE.format(side=side)}", width, height)


def few_levels_words(pixels: np.ndarray, mode: str = "L", kind: str = "octa", channels: int = 1) -> str:
    """The app's warning (:func:`drac_ssl.grading.image_notes.few_levels_warning`: ``Only 2
    grey levels (0 and 255; a 1-bit file): a thresholded export or a vessel mask ...``, which
    makes the image *not reliably gradable*) for uint8 ``pixels`` (``(H, W)`` or ``(H, W, 3)``,
    in the model's channels) of at most :data:`data_prep.validate.FEW_LEVELS` values per
    channel; "" for any other image and for a blank one (its own words say it). ``mode``: the
    file's PIL mode (``1``: a 1-bit file, said); ``kind``, ``channels``: the model's. A grey
    picture in three identical channels counts as grey, as the app counts it. :func:`read_image`
    says it of every file (the export command and a script's batch alike)."""
    levels = few_levels(pixels)  # None at once for almost every image: the rest only then
    if levels is None or is_blank(pixels):
        return ""
    if pixels.ndim == 3 and np.all(pixels == pixels[..., :1]):  # one grey picture, counted once
        levels = levels[:1]
    return few_levels_warning(levels, "1" if mode == "1" else "L", kind, channels)


def model_channels(metadata: dict[str, Any]) -> int:
    """The channels a bundle's (or ``model.json``'s) model reads: 1 or 3."""
    section = metadata["input"] if "input" in metadata else metadata
    return int(section.get("channels", 1))


def _as_array(image: Any) -> np.ndarray:
    """``image`` as a numpy array: a torch tensor's values, from any device, without its
    graph; anything else through ``np.asarray``."""
    return image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)


def array_fix(image: Any, channels: int) -> str:
    """What turns the array ``image`` into what grading takes, a uint8 grey ``(H, W)`` image
    for a 1-channel model or RGB ``(H, W, 3)`` for a 3-channel one (``channels``), as the code
    to run, step by step ("" for an image already so): the error messages of
    :func:`preprocess_image` and :func:`conform_channels` end with it (a trial: float 0..1 and
    uint16 arrays were told to use :func:`conform_channels`, which refuses them too).

    A torch tensor first becomes a numpy array (``image.detach().cpu().numpy()``: the steps
    after it are numpy's). By dtype: floats in [0, 1] ``(np.clip(image, 0, 1) * 255).round().astype(np.uint8)``,
    floats in 0..255 ``np.clip(image, 0, 255).round().astype(np.uint8)``, other floats (a
    normalised model input) scaled back as their data mean them; booleans (a mask) ``* 255``;
    integers within 0..255 ``.astype(np.uint8)``; 16-bit values ``>> 8``, or ``>> 4`` when
    they are at most 4095 (12-bit data; a file is better read with :func:`read_image`, which
    judges its bit depth by the ingest's rule). By shape: ``(C, H, W)`` ``np.moveaxis(image, 0, -1)``; RGBA ``image[...,
    :3]``; colour for a grey model or grey for a colour model :func:`conform_channels` (the
    ingest's conversion, said as a warning); a colour array is RGB (OpenCV's BGR:
    ``cv2.cvtColor(image, cv2.COLOR_BGR2RGB)``). A path (``"a.png"``) is a file to read:
    ``read_image(image, channels, kind=bundle.kind)``.

    Raises:
        ValueError: ``channels`` other than 1 or 3 (a model reads one or the other)."""
    if isinstance(channels, bool) or channels not in (1, 3):
        raise ValueError(f"a model reads 1 or 3 channels, not {channels!r}")
    if isinstance(image, str | os.PathLike):
        return (f"image, said = read_image(image, {channels}, kind=bundle.kind, grey_trained=bundle.grey_trained, "
                f"bit_depths=bundle.bit_depths)  # a path is a file to read, as the app reads it (pass "
                f"said as file_warnings)")
    tensor = isinstance(image, torch.Tensor)
    array = _as_array(image)
    steps: list[str] = ["image = image.detach().cpu().numpy()  # a torch tensor -> a numpy array"] if tensor else []
    if array.ndim == 3 and array.shape[0] in (1, 3, 4) and array.shape[2] not in (1, 3, 4):
        steps.append("image = np.moveaxis(image, 0, -1)  # (C, H, W) -> (H, W, C)")
        array = np.moveaxis(array, 0, -1)
    if array.ndim == 3 and array.shape[2] == 4:
        steps.append("image = image[..., :3]  # RGBA -> RGB (the alpha channel dropped; read_image "
                     "composites a file's transparency over black and says so)")
        array = array[..., :3]
    if array.dtype != np.uint8 and array.size:
        kind = array.dtype.kind
        if kind == "b":
            steps.append("image = image.astype(np.uint8) * 255  # booleans: a mask, not a picture to "
                         "grade (grade the original image)")
        elif kind == "f":
            finite = array[np.isfinite(array)]
            low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
            nan = "" if finite.size == array.size else " (replace its NaN / inf first)"
            if low >= 0 and high <= 1:
                steps.append(f"image = (np.clip(image, 0, 1) * 255).round().astype(np.uint8)  # floats "
                             f"in [0, 1]{nan}")
            elif low >= 0 and high < 256:
                steps.append(f"image = np.clip(image, 0, 255).round().astype(np.uint8)  # floats in "
                             f"0..255{nan}")
            else:
                steps.append(f"scale the floats ({low:.4g}..{high:.4g}: not 0..1 or 0..255; a model "
                             f"input normalised by mean and std is not an image) back to 0..255 as your "
                             f"data mean them, then image = image.round().astype(np.uint8){nan}")
        elif kind in "iu":
            low, high = int(array.min()), int(array.max())
            if low >= 0 and high <= 255:
                steps.append(f"image = image.astype(np.uint8)  # {array.dtype} values {low}..{high} fit")
            elif low >= 0 and high <= 65535:
                shift, said = (4, "12-bit data, its top 8 bits (16-bit data: image >> 8)") if high <= 4095 else (
                    8, "16-bit data, its top 8 bits")
                steps.append(f"image = (image >> {shift}).astype(np.uint8)  # values {low}..{high}: "
                             f"{said}; for a file, read_image(path, {channels}) converts it by the training "
                             f"ingest's rule, judging its bit depth")
            else:
                steps.append(f"scale the values ({low}..{high}: not an 8- or 16-bit image's) to 0..255, "
                             f"then image = image.astype(np.uint8)")
        else:
            steps.append(f"give the picture's pixels, a numeric array (0..255), not a {array.dtype} array "
                         f"(it holds no pixels)")
    grey = array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 1)
    rgb = array.ndim == 3 and array.shape[2] == 3
    if grey and channels == 3:
        steps.append("image, said = conform_channels(image, 3, grey_trained=bundle.grey_trained)  # grey "
                     "-> 3 identical channels, as the ingest does, with its warning")
    elif rgb and channels == 1:
        steps.append("image, said = conform_channels(image, 1, kind=bundle.kind)  # colour -> its "
                     "luminance, as the ingest does, with its warning (a colour picture may not be "
                     "UW-OCTA)")
    elif not (grey or rgb):
        steps.append(f"give one picture {'(H, W)' if channels == 1 else '(H, W, 3)'}, not an array of "
                     f"shape {tuple(array.shape)}")
    if tensor and len(steps) == 1:  # a tensor already so: grading takes it as it is
        return ""
    said = "; then ".join(steps)
    if rgb and channels == 3 and said:  # the order grading cannot check
        said += " (a colour array is RGB: OpenCV's cv2.imread gives BGR, cv2.cvtColor(image, cv2.COLOR_BGR2RGB))"
    return said


def conform_channels(image: np.ndarray, channels: int, name: str = "image",
                     colour: bool | None = None, mode: str = "", kind: str | None = None,
                     grey_trained: Any = GREY_TRAINED_NOT_GIVEN,
                     share: float | None = None) -> tuple[np.ndarray, list[str]]:
    """``image`` (uint8 grey ``(H, W)`` / ``(H, W, 1)`` or RGB ``(H, W, 3)``) in the model's
    ``channels`` and a warning for each conversion; never converts silently.

    The rules are the ingest's (:func:`data_prep.validate.convert_channels`), so a file
    graded here reads as it would have read in training:

    * colour image, grey model (1 channel): converted to its luminance (ITU-R BT.601) with a
      warning (:func:`drac_ssl.grading.image_notes.colour_for_grey_model`, the app's words):
      for a UW-OCTA model (``kind`` ``octa``, :func:`drac_ssl.grading.image_notes.image_kind`)
      a doubt that the picture is OCTA at all, else the ingest's conversion (``kind`` None:
      not known to be OCTA); an RGB file whose three channels are identical loses nothing
      (no warning);
    * grey image, colour model (3 channels): replicated into three identical channels with
      a warning (:func:`grey_for_colour_model`), worded from ``grey_trained`` (the grey
      images among the model's labelled training images,
      :func:`drac_ssl.grading.image_notes.grey_trained`, ``bundle.grey_trained``; None: not
      recorded, the words of a model trained on colour photographs; left out
      (:data:`drac_ssl.grading.image_notes.GREY_TRAINED_NOT_GIVEN`): said not given, no verdict): with too few a
      grey picture is outside what the model learnt and *not reliably gradable* (graded
      anyway, and says so). The warning tells a grey file (replicated) from a colour file
      whose three channels are identical (read as they are) by ``mode``.

    ``colour``: whether the channels differ (default: computed). ``share``: the share (0..1)
    of ``image``'s pixels in colour (:func:`data_prep.colour_rule.colour_share`), as the
    decoder measured it (:attr:`data_prep.validate.DecodedImage.colour_share`; default:
    measured here). ``mode``: the PIL pixel
    format of the file the image was decoded from ("" for an array: a grey file). Raises
    ValueError for an array that is not uint8 grey or RGB (its message gives the conversion
    for the array's dtype and shape, :func:`array_fix`: floats, 16-bit, RGBA, ``(C, H, W)``)
    and for ``channels`` other than 1 or 3.
    """
    if channels not in (1, 3):
        raise ValueError(f"a model reads 1 or 3 channels, not {channels!r}")
    array = _as_array(image)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.dtype != np.uint8 or not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 3)):
        fix = array_fix(image, channels)  # for this dtype and shape: conform_channels takes uint8 alone
        raise ValueError(f"{name}: expected a uint8 grey (H, W) or RGB (H, W, 3) image, got "
                         f"{array.dtype} {array.shape}.\n  fix: {fix}; or read files with "
                         f"drac_ssl.grading.predict.read_image(path, {channels})")
    if (array.ndim == 2) == (channels == 1):
        if channels == 3 and share is None:  # a scale bar on a grey scan?
            share = colour_share(array)
        share = share if channels == 3 else 1.0
        if is_overlay(colour if colour is not None else not (
                np.array_equal(array[..., 0], array[..., 1]) and np.array_equal(array[..., 1], array[..., 2])), share):
            return array, [FileWarning(name, overlaid_for_colour_model(share))]  # the app's words too
        return array, []
    if colour is None:
        colour = array.ndim == 3 and not (np.array_equal(array[..., 0], array[..., 1])
                                          and np.array_equal(array[..., 1], array[..., 2]))
    # the file's mode names the conversion as the ingest and the app name it ("palette colour")
    converted, said = convert_channels(array, name, channels, bool(colour),
                                       mode or ("RGB" if array.ndim == 3 else "L"))
    if channels == 1:
        if not colour:
            return converted, []  # an RGB file of a grey picture: nothing is lost
        if kind == "octa" and share is None:  # a scale bar on a grey scan?
            share = colour_share(array)
        share = share if kind == "octa" else 1.0
        return converted, [FileWarning(name, colour_for_grey_model(
            said[0].what, kind == 'octa', share if is_overlay(True, share) else None))]
    return converted, [FileWarning(name, grey_for_colour_model(mode, grey_trained))]


@functools.lru_cache(maxsize=8)
def _eval_transform(spec: InputSpec) -> Any:
    return spec.eval_transform()


def input_spec_of(metadata: dict[str, Any]) -> InputSpec:
    """The :class:`InputSpec` of a bundle's ``metadata.json`` (or of its ``input`` section)."""
    return InputSpec.from_metadata(metadata["input"] if "input" in metadata else metadata)


SMALL_IMAGE_FRACTION = 0.5
"""An image whose shorter side is below this fraction of the model's input size (the
``image_size`` its training fed it, ``metadata.json``'s ``input.size``) is warned about:
enlarged more than 2x, it holds less detail than any image the model learnt from. A RetinaMNIST
model (28 px) warns below 14 px, the default job's (64 px) below 32, DRAC's (224 px) below
112; an image at the training size never warns."""


TRAINED_SIDE_TOLERANCE = 0.9
"""An image is compared with its model's training images' sides (:func:`training_image_side`)
with this tolerance: warned only below ``0.9 x`` that side (a 27 px image on a model trained
on 28 px images is not "far below" them; 25 px and less is)."""

TRAINED_SIDE_MIN_IMAGES = 20
"""From this many labelled training images the 5th percentile of their sides is read
(:func:`training_image_side`); fewer, and it is the lowest one or two images: the median then."""


def training_side_words(metadata: dict[str, Any]) -> tuple[int, str] | None:
    """The training side :func:`training_image_side` gives (px) and the words for it (``"95% of
    the images it was trained on"``, or ``"half of the 12 images it was trained on"`` for the
    median); None where the bundle records none."""
    data = metadata.get("data")
    sides = data.get("train_image_sides") if isinstance(data, dict) else None
    if not isinstance(sides, dict):
        return None

    def side(key: str) -> int | None:
        value = sides.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None

    n = sides.get("n")
    counted = isinstance(n, int) and not isinstance(n, bool)
    if counted and n < TRAINED_SIDE_MIN_IMAGES and (median := side("median")) is not None:
        return median, f"half of the {n} images it was trained on"
    p05 = side("p05")
    return (p05, "95% of the images it was trained on") if p05 is not None else None


def training_image_side(metadata: dict[str, Any]) -> int | None:
    """The shorter side (px) that 95 % of the model's labelled training images had at least, as
    its bundle records it (``metadata["data"]["train_image_sides"]["p05"]``,
    :func:`drac_ssl.grading.bundle._image_sides`), or, from fewer than
    :data:`TRAINED_SIDE_MIN_IMAGES` images (``n``), their median side (a 5th percentile of
    a handful of images is their smallest); None for a bundle that does not record them
    (built before it was, or given its ``input`` section alone)."""
    found = training_side_words(metadata)
    return found[0] if found else None


def small_image_warning(shape: Sequence[int], metadata: dict[str, Any]) -> str:
    """The warning for an image of ``shape`` (``(H, W[, C])``, pixels) much smaller than the
    input of the model of ``metadata`` (a bundle's ``metadata.json`` or its ``input``
    section): its shorter side below :data:`SMALL_IMAGE_FRACTION` of the model's input size
    and, where the bundle records its training images' sizes (:func:`training_image_side`:
    the side 95 % of them had at least, or their median from fewer than 20), below
    :data:`TRAINED_SIDE_TOLERANCE` (0.9) of that side too: an image about as large as the
    images the model learnt from is not warned (a first try trained at 64 px on 28 px
    RetinaMNIST images flagged every new 28 px image, export exit 4; 27 px is not warned
    either). "" otherwise. The same words in the export command
    (after ``NAME: ``), ``grade_images`` (:attr:`GradedImages.warnings`) and the app
    (:func:`preprocess_image` says it to all; the app of a UW-OCTA model adds its own size
    warning's detail in one line: :meth:`app.predict.Predictor.image_warnings`)."""
    h, w = int(shape[0]), int(shape[1])
    size = input_spec_of(metadata).image_size
    trained = training_side_words(metadata)
    if min(h, w) >= SMALL_IMAGE_FRACTION * size or (
            trained is not None and min(h, w) >= TRAINED_SIDE_TOLERANCE * trained[0]):
        return ""
    own = (f" and below 90% of the {trained[0]} px side of {trained[1]}" if trained is not None else "")
    return (f"{w}x{h} {FAR_BELOW} the {size} px the model was trained on (its input size; "
            f"warned below half of it{own}): upscaled {size / max(1, min(h, w)):.3g}x, the grade is "
            f"unreliable")


def preprocessing_warning(finding: str) -> str:
    """The warning for what the ingest's preprocessing, replayed on an image for a bundle whose
    data had it, found there: ``finding`` is one of :func:`preprocess_image`'s ``notes``, the
    ingest's own words (:func:`data_prep.cache.cache_rows`: the crop to the fundus disc,
    ``data.fundus_crop``, found no disc, so the image was only padded to a square; or no dark
    surround, so it was left as it is; without that crop, an image that is not square was
    squeezed to a square: :func:`squeeze_finding`). The same words in the export command (after
    ``NAME: ``), ``grade_images`` (:attr:`GradedImages.preprocessing_warnings`) and the app
    (capitalised, with a full stop)."""
    return f"{PREPROCESSING_FINDING}: {finding}"


SQUEEZED = "squeezed to a square"
"""What every :func:`squeeze_finding` says (for a caller that tells it from the crop's findings)."""


def squeeze_finding(width: int, height: int, kind: str) -> str:
    """What :func:`preprocess_image` says of a ``width`` x ``height`` image (pixels, not
    square) for a model whose ingest had no crop to the fundus disc: squeezed to a square, in
    the ingest's words (:func:`data_prep.cache.squeezed_words`, "... in the cache (aspect ratio
    changed) -> add --fundus-crop ..."), and what to do. ``kind``: what the model grades
    (:func:`drac_ssl.grading.image_notes.image_kind`); for ``fundus`` the fix names the crop to
    the disc. Said as one of its ``notes`` (:func:`preprocessing_warning`: the app's single
    image and batch tabs, the export command)."""
    said = f"{squeezed_words(width, height)} (aspect ratio changed), as the ingest does"
    if kind == "fundus":
        return (f"{said} without --fundus-crop (which {FUNDUS_CROP_DOES}): crop the photograph "
                f"to a square around the disc before grading, or grade with a model trained with "
                f"--fundus-crop")
    return f"{said}: crop it to a square before grading"


def preprocess_image(image: np.ndarray, metadata: dict[str, Any], ingested: bool = False,
                     notes: list[str] | None = None, warnings: list[str] | None = None,
                     geometry: list[RowGeometry] | None = None) -> Tensor:
    """One uint8 image in the model's channels (grey ``(H, W)`` or RGB ``(H, W, 3)``) -> the
    model input ``(C, S, S)`` float32.

    Exactly the training's path: the ingest's cached copy made again from the image (the
    recorded crop to the fundus disc and Graham filter, when the data had them, around the
    INTER_AREA resize to the cached source size: :func:`data_prep.cache.cache_rows`; a plain
    resize, skipped for an image already at that size, otherwise), then
    the evaluation transform (:meth:`~drac_ssl.grading.model.InputSpec.eval_transform`: INTER_AREA
    resize to the model size, ``(x / 255 - mean) / std`` per channel) through
    :func:`drac_ssl.eval_input.model_input`, as the fine-tuning's
    :class:`~drac_ssl.augment.EvalDataset` feeds it. ``ingested``: ``image`` is a
    row of the ingest cache (already that copy; it must be at the source size).
    ``metadata``: a bundle's ``metadata.json`` (or its ``input`` section). ``notes``: a list
    that receives what the replayed ingest preprocessing found, as the ingest would have
    warned (e.g. no fundus disc found, so the image was padded, not cropped; without the crop to
    the disc, an image that is not square squeezed to a square: :func:`squeeze_finding`, any
    width other than the height, as the ingest warns; never for an ingested row). ``warnings``: a
    list that receives :func:`small_image_warning` for an image much smaller than the model's
    input (never for an ingested row). ``geometry``: a list that receives one
    :class:`data_prep.cache.RowGeometry`, the part of ``image`` the model input shows and how
    it was padded before the resizes (the crop to the fundus disc; the whole image otherwise),
    for putting a map over the input back on the image (the app's Grad-CAM); it changes
    nothing of the input.

    Raises ValueError for an image in other channels than the model's (convert it
    explicitly with :func:`conform_channels` or read it with :func:`read_image`, which say
    what they converted) and for an ingested row of another size.
    """
    array = _as_array(image)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    channels = model_channels(metadata)
    want = "grey image (H, W)" if channels == 1 else "RGB image (H, W, 3)"
    has = 1 if array.ndim == 2 else (3 if array.ndim == 3 and array.shape[2] == 3 else 0)
    if array.dtype != np.uint8 or has != channels:
        raise ValueError(
            f"expected a uint8 {want} for this {channels}-channel model, got {array.dtype} "
            f"{array.shape}.\n  fix: {array_fix(image, channels)}; or read files with "
            f"drac_ssl.grading.predict.read_image(path, {channels}), which converts like the ingest "
            f"and says so")
    if 0 in array.shape[:2]:
        raise ValueError(f"an image of {array.shape[1]} x {array.shape[0]} px has no pixels to grade")
    spec = input_spec_of(metadata)
    size = (spec.source_size, spec.source_size)
    if warnings is not None and not ingested:
        small = small_image_warning(array.shape, metadata)
        if small:
            warnings.append(small)
    if ingested:
        if array.shape[:2] != size:
            raise ValueError(f"an ingest cache row must be {size[0]} x {size[1]} px (the model's "
                             f"source size), got {array.shape[:2]}")
    if spec.replays_fundus_preprocessing and not ingested:
        rows, problems = cache_rows(array, [spec.source_size], spec.cache_options(), "image",
                                    geometry=geometry)
        if notes is not None:
            # the ingest's notes (a dark photograph's crop, kind fundus-dark) stay the ingest's:
            # grading warns only of what the ingest warned of
            notes += [p.what for p in problems if p.severity != "note"]
        array = rows[spec.source_size]
    else:
        if geometry is not None:
            geometry.append(RowGeometry.whole(*array.shape[:2]))
        height, width = array.shape[:2]
        if notes is not None and not ingested and width != height:  # the ingest warns alike
            data = metadata.get("data") if "input" in metadata else None
            modality = data.get("modality") if isinstance(data, dict) else None
            notes.append(squeeze_finding(width, height, image_kind(spec.recipe, spec.channels,
                                                                   modality)))
        if not ingested and array.shape[:2] != size:
            array = resize_gray(array, spec.source_size)
    return model_input(array, _eval_transform(spec))  # albumentations on first use, not on import

# --------------------------------------------------------------------------------------
# One model


def tta_views(x: Tensor, tta: bool) -> Tensor:
    """The TTA views of a batch ``x`` ``(m, C, S, S)`` stacked into one batch ``(V * m, C, S,
    S)``, view-major: rows ``v * m .. v * m + m - 1`` are view ``v`` of :data:`TTA_FLIPS`
    (identity first); ``V = 4`` with ``tta``, else 1 (``x`` itself)."""
    if not tta:
        return x
    return torch.cat([x.flip(dims) if dims else x for dims in TTA_FLIPS])


def _mean_over_views(y: Tensor, views: int) -> Tensor:
    """``(V * m, out)`` view-major -> ``(m, out)``: the views summed in :data:`TTA_FLIPS`
    order, then divided by ``V`` (float32)."""
    parts = y.float().unflatten(0, (views, -1))
    acc = parts[0]
    for v in range(1, views):
        acc = acc + parts[v]
    return acc / views


def _chunks(n: int, batch_size: int, views: int) -> list[slice]:
    """Slices of the images such that one forward pass holds at most ``batch_size`` views
    (at least one image)."""
    step = max(1, batch_size // views)
    return [slice(s, min(s + step, n)) for s in range(0, n, step)]


def predict_raw(model: nn.Module, inputs: Tensor, tta: bool, device: torch.device,
                batch_size: int = PREDICT_BATCH, bf16: bool = False) -> np.ndarray:
    """Raw outputs ``(n, out)`` float64 of ``model`` on preprocessed inputs ``(n, C, S, S)``:
    the mean over :data:`TTA_FLIPS` with ``tta``, else the identity view. Eval mode,
    ``torch.inference_mode``.

    The views of a chunk of images go through the model in ONE forward pass
    (:func:`tta_views`; at most ``batch_size`` views per pass), not one pass per flip."""
    raw, _, _ = _run_models([model], None, inputs, tta, device, batch_size, bf16)
    return raw[0]


# --------------------------------------------------------------------------------------
# The fold ensemble of a bundle


@dataclass
class EnsembleOutput:
    """What one pass of the fold ensemble gives.

    ``raw``: per fold model, its raw outputs ``(n, out)`` float64, the mean over the TTA
    views. ``maps``: with ``keep_maps``, per fold model its :data:`FEATURE_STAGE` maps of every
    view that ran ``(n, V, C, h, w)`` float32, image-major, view v flipped along
    ``TTA_FLIPS[v]`` (``V = 4`` with flip TTA, identity first; ``V = 1`` without), each as the
    network computed it on the flipped input (not flipped back); an ordinary tensor (usable
    with autograd: the input of the one-pass Grad-CAM, :class:`app.gradcam.FoldMapGradCAM`,
    whose map averages the views as the grade does); with a shared backbone every entry is the
    same tensor. None otherwise. ``features``: with
    ``keep_features``, the first fold model's globally pooled backbone features of the
    identity view ``(n, F)`` float32 on the CPU (what :func:`profile_features` computes, taken
    from the same pass; ``(0, 0)`` for no inputs), else None."""

    raw: list[np.ndarray]
    maps: list[Tensor] | None = None
    features: Tensor | None = None


def _run_models(models: Sequence[GradingModel], backbone: Backbone | None, inputs: Tensor,
                tta: bool, device: torch.device, batch_size: int = PREDICT_BATCH,
                bf16: bool = False, keep_maps: bool = False, keep_features: bool = False
                ) -> tuple[list[np.ndarray], list[Tensor] | None, Tensor | None]:
    """Raw outputs (and every view's maps ``(n, V, C, h, w)``, and the first model's
    identity-view pooled features) of ``models``. ``backbone``: the module every model holds: it runs once per
    chunk for all heads (:meth:`GradingModel.features_from_map` on its :data:`FEATURE_STAGE`
    map); None: each model runs on its own. ``keep_maps`` and ``keep_features`` need
    :class:`GradingModel` instances (their ``backbone``); without them any module that maps
    ``(n, C, S, S)`` to ``(n, out)`` will do (:func:`predict_raw`)."""
    views = len(TTA_FLIPS) if tta else 1
    modes = [model.training for model in models]
    for model in models:
        if model.training:
            model.eval()
    out: list[list[Tensor]] = [[] for _ in models]
    maps: list[list[Tensor]] = [[] for _ in models]
    pooled: list[Tensor] = []
    try:
        with torch.inference_mode():
            for part in _chunks(len(inputs), batch_size, views):
                x = tta_views(inputs[part].to(device), tta)
                m = part.stop - part.start
                with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bf16):
                    if backbone is not None:
                        fmap = backbone.forward_until(x, FEATURE_STAGE)
                        ys = [model.head(model.features_from_map(fmap)) for model in models]
                        fmaps = [fmap] * len(models)
                    elif keep_maps or keep_features:
                        fmaps = [model.backbone.forward_until(x, FEATURE_STAGE) for model in models]
                        ys = [model.head(model.features_from_map(f))
                              for model, f in zip(models, fmaps, strict=True)]
                    else:
                        ys = [model(x) for model in models]
                        fmaps = []
                    if keep_features:
                        # the identity view's rows: the backbone's own pooling of its map
                        first = models[0].backbone.forward_from(fmaps[0][:m], FEATURE_STAGE)
                        pooled.append(first.float().cpu())
                for i, y in enumerate(ys):
                    out[i].append(_mean_over_views(y, views).cpu())
                if keep_maps:  # view-major rows -> (m, V, C, h, w)
                    for i, f in enumerate(fmaps):
                        maps[i].append(f.float().unflatten(0, (views, m)).transpose(0, 1))
    finally:
        for model, training in zip(models, modes, strict=True):
            if training:
                model.train()
    raw = [torch.cat(parts).double().numpy() if parts else np.zeros((0, 1)) for parts in out]
    features = None
    if keep_features:
        features = torch.cat(pooled).clone() if pooled else torch.zeros(0, 0)
    if not keep_maps:
        return raw, None, features
    # outside inference mode: clones are ordinary tensors, usable with autograd
    kept: list[Tensor] = []
    for i, parts in enumerate(maps):
        same = backbone is not None and i > 0
        kept.append(kept[0] if same else torch.cat(parts).clone())
    return raw, kept, features


def resolve_tta(tta: Any, bundle: Bundle) -> bool:
    """The flip TTA to run for the argument ``tta``: None -> the bundle's
    (:attr:`Bundle.tta_in_cv`, as the cross-validated figures were measured), True / False
    (numpy's bools too) as given. Raises TypeError for anything else: ``"no"``, 0 or 1 are not
    read as a truth value (a review: ``tta="no"`` ran the flips)."""
    if tta is None:
        return bool(bundle.tta_in_cv)
    if isinstance(tta, bool | np.bool_):
        return bool(tta)
    raise TypeError(f"tta must be None, True or False, got {tta!r} ({type(tta).__name__}): None "
                    f"flips as the bundle's cross-validation did (Bundle.tta_in_cv), True runs the "
                    f"4 flips, False none")


def ensemble_outputs(bundle: Bundle, inputs: Tensor, tta: bool | None = None,
                     keep_maps: bool = False, keep_features: bool = False) -> EnsembleOutput:
    """Raw outputs of every fold model of ``bundle`` on preprocessed inputs ``(n, C, S, S)``
    (and, with ``keep_maps``, their :data:`FEATURE_STAGE` maps of every view, ``(n, V, C, h,
    w)``: :class:`EnsembleOutput`; with
    ``keep_features``, the first fold model's pooled features for the out-of-distribution
    check, :attr:`EnsembleOutput.features`, from the same backbone pass).

    With a shared backbone (:attr:`Bundle.shared_backbone`, ``finetune.freeze: frozen``) the
    backbone runs ONCE per chunk of images for all fold heads; otherwise each fold model runs
    on its own. Either way the TTA views of a chunk go through in one forward pass, in
    ``torch.inference_mode``. The two paths give bit-identical outputs on the CPU (each fold
    model's operations on the same batches in the same order).

    ``tta``: flip test-time augmentation; None (the default): as the cross-validation was
    measured (:attr:`Bundle.tta_in_cv`), so the figures of the model card describe what is
    predicted. Every function below that takes ``tta`` passes it here. Raises TypeError for
    a ``tta`` other than None, True or False (:func:`resolve_tta`)."""
    tta = resolve_tta(tta, bundle)
    shared = bundle.shared_backbone
    use_shared = shared is not None and len(bundle.models) > 1
    raw, maps, features = _run_models(bundle.models, shared if use_shared else None, inputs, tta,
                                      bundle.device, PREDICT_BATCH, keep_maps=keep_maps,
                                      keep_features=keep_features)
    return EnsembleOutput(raw, maps, features)


def predict_tensors(bundle: Bundle, inputs: Tensor, tta: bool | None = None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(probs (n, K), score (n,), grade (n,))`` of the ensemble on preprocessed inputs:
    :func:`ensemble_outputs` turned into probabilities, a score and a grade by the bundle's
    calibration."""
    return bundle.calibration.decide(ensemble_outputs(bundle, inputs, tta).raw)


def predict_images(bundle: Bundle, images: Sequence[np.ndarray], tta: bool | None = None,
                   ingested: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Grade uint8 images in the model's channels (any size: preprocessed like the ingest;
    ``ingested``: rows of the ingest cache, see :func:`preprocess_image`).

    ``images``: a sequence (or iterable) of arrays, or a stacked batch ``(N, H, W[, C])``;
    each uint8, grey ``(H, W)`` for a 1-channel model, **RGB** ``(H, W, 3)`` for a 3-channel
    one (``bundle.spec.channels``). OpenCV's ``cv2.imread`` gives BGR: convert with
    ``cv2.cvtColor(img, cv2.COLOR_BGR2RGB)``, or read files with :func:`read_image`, which
    gives the model's channels (RGB) and says what it converted.

    ``tta``: flip test-time augmentation (the 4 flips, averaged); None (the default): as the
    cross-validated figures of the model card were measured (:attr:`Bundle.tta_in_cv`); only
    None, True or False (:func:`resolve_tta`).

    Returns ``probs`` ``(n, K)`` (rows sum to 1) and ``classes`` ``(n,)`` int64: the fold
    ensemble's calibrated probabilities and its grade. ``classes`` is the calibration's
    decision: with ``decision: thresholds`` the expected grade cut at the kappa-tuned
    thresholds, so it may differ from ``probs.argmax(axis=1)`` (argmax only with
    ``decision: argmax``). The grade names are ``bundle.grade_names``.

    Raises:
        TypeError: a path (``"a.png"``) or other non-array where images are expected
            (read files with :func:`read_image`); a ``tta`` other than None, True or False.
        ValueError: one image array instead of a sequence, :func:`read_image`'s
            ``(image, warnings)`` pairs, and as :func:`preprocess_image` does (an image not
            uint8 or in other channels than the model's; an ingested row of another size).
    """
    if tta is not None:  # a bad tta before any image is preprocessed (None reads the bundle later)
        resolve_tta(tta, bundle)
    images = _image_list(images, getattr(getattr(bundle, "spec", None), "channels", None))  # before the bundle is used
    if len(images) == 0:
        return np.zeros((0, bundle.calibration.num_grades)), np.zeros(0, dtype=np.int64)
    inputs = torch.stack([preprocess_image(image, bundle.metadata, ingested) for image in images])
    probs, _, grades = predict_tensors(bundle, inputs, tta)
    return probs, grades


def _is_pil_image(image: Any) -> bool:
    """Whether ``image`` is a Pillow image (told by its class's module: PIL is not imported)."""
    return type(image).__module__.split(".")[0] == "PIL" and hasattr(image, "convert")


def _pil_words(image: Any) -> str:
    return f"{type(image).__name__}, mode {getattr(image, 'mode', '?')}, {getattr(image, 'size', '?')}"


def _pil_deep(image: Any) -> bool:
    """Whether the Pillow image ``image`` holds more than 8 bits a pixel (mode ``I;16``, ``I``, ``F``)."""
    mode = str(getattr(image, "mode", ""))
    return mode in ("I", "F") or mode.startswith("I;16")


def _pil_fix(image: Any, channels: int | None, one: bool = False) -> str:
    """The conversion of the Pillow image ``img`` (``image``) to the array a model of
    ``channels`` takes (None: either), as the code to run; ``one``: ``image`` was given alone,
    not in a list. A colour picture conformed for a grey model keeps the words of its
    conversion (``said``), passed as ``file_warnings``; an image of more than 8 bits (mode
    ``I;16``, ``I``, ``F``) is told its file's :func:`read_image` or ``np.asarray(img)`` and
    the conversion of its values (:func:`array_fix`): ``img.convert("L")`` clips them."""
    mode = str(getattr(image, "mode", ""))
    if _pil_deep(image):
        values = array_fix(np.asarray(image), channels or 1)
        return (f'its mode {mode} holds more than 8 bits a pixel, which img.convert("L") or img.convert("RGB") '
                f'would clip to 0..255 (a few grey levels left): read its file with image, said = read_image(path, '
                f'{channels or "bundle.spec.channels"}, kind=bundle.kind, bit_depths=bundle.bit_depths), which '
                f'converts it by the training ingest\'s rule and says so (pass said as file_warnings), or take '
                f'its values, image = np.asarray(img); then {values}')
    rgb, luminance, image_ = 'np.asarray(img.convert("RGB"))', 'np.asarray(img.convert("L"))', "image"
    if one:  # given alone: the list grading takes
        rgb_given, luminance, image_ = f"[{rgb}]", f"[{luminance}]", "[image]"
    else:
        rgb_given = rgb
    colour = f"pass {rgb_given} (RGB uint8 (H, W, 3))"
    grey = (f"pass {luminance} for a grey picture (uint8 (H, W)); for a colour one, image, said = "
            f"conform_channels({rgb}, 1, kind=bundle.kind), which converts it as the ingest does, then "
            f"pass {image_} with file_warnings=[said] (its words say that a colour picture may not be UW-OCTA)")
    if channels == 3:
        return colour
    return grey if channels == 1 else f"for a colour model (3 channels), {colour}; for a grey one, {grey}"


def _image_list(images: Any, channels: int | None = None) -> list[Any]:
    """``images`` as a list of images: a sequence or iterable of arrays, or a stacked batch
    ``(N, H, W)`` / ``(N, H, W, C)``. One image array, ``(H, W)`` or ``(H, W, 1 or 3)``, would be
    graded row by row, and :func:`read_image`'s ``(image, warnings)`` pairs fail deep inside:
    both raise ValueError with the fix. A path (``"a.png"``, or paths in the list), a Pillow
    image (the ``np.asarray(img.convert("RGB"))`` that makes it an array: ``channels``, the
    model's, words it) or any other element that is not an image array raises TypeError naming
    its type: files are the caller's to read, with :func:`read_image`."""
    read_fix = ("  fix: read files with drac_ssl.grading.predict.read_image(path, channels), e.g. "
                "read = [read_image(path, bundle.spec.channels, kind=bundle.kind) for path in paths], "
                "and pass the images, [image for image, _ in read] (the words are what reading each said); "
                "or grade_files(bundle, paths), which reads and grades files")
    if _is_pil_image(images):
        raise TypeError(f"expected a sequence of image arrays, got one PIL image ({_pil_words(images)}).\n"
                        f"  fix: {_pil_fix(images, channels, one=True)}")
    if isinstance(images, str | bytes | os.PathLike):
        raise TypeError(f"expected a sequence of image arrays, got the {type(images).__name__} "
                        f"{images!r}: files are not read here.\n{read_fix}")
    if isinstance(images, np.ndarray | torch.Tensor):
        if images.ndim == 2 or (images.ndim == 3 and images.shape[2] in (1, 3)):
            raise ValueError(f"expected a sequence of images, got one {type(images).__name__} of shape "
                             f"{tuple(images.shape)}.\n  fix: pass a list, e.g. [image] for one image")
        return list(images)  # a stacked batch: one image per first index
    images = list(images)
    if any(isinstance(image, tuple) for image in images):
        raise ValueError("expected a sequence of image arrays, got tuples (read_image returns "
                         "(image, warnings)).\n  fix: take the image of each, [image for image, _ in "
                         "read], and keep the words: what reading each file said")
    for i, image in enumerate(images):
        if _is_pil_image(image):
            raise TypeError(f"expected a sequence of image arrays (H, W) or (H, W, C), but image {i} is a PIL "
                            f"image ({_pil_words(image)}).\n  fix: {_pil_fix(image, channels)}"
                            + ("" if _pil_deep(image) else " (PIL gives RGB; cv2.imread gives BGR: "
                                                           "cv2.cvtColor(image, cv2.COLOR_BGR2RGB))"))
        if not isinstance(image, np.ndarray | torch.Tensor) or image.ndim not in (2, 3):
            what = (f"{type(image).__name__} {image!r}" if isinstance(image, str | bytes | os.PathLike)
                    else f"{type(image).__name__}" + (f" of shape {tuple(image.shape)}"
                                                      if hasattr(image, "shape") else ""))
            raise TypeError(f"expected a sequence of image arrays (H, W) or (H, W, C), but image "
                            f"{i} is a {what}.\n{read_fix}")
    return images


PROFILE_CHUNK = 32
"""Images per backbone pass of :func:`profile_features`."""


def profile_features(bundle: Bundle, inputs: Tensor) -> Tensor:
    """The first fold model's globally pooled backbone features ``(n, F)`` (float32, CPU) of
    preprocessed inputs ``(n, C, S, S)``: the model's half of the out-of-distribution
    descriptor (:mod:`drac_ssl.grading.ood`); identity view, no TTA."""
    backbone = bundle.models[0].backbone
    parts = []
    with torch.inference_mode():
        for start in range(0, len(inputs), PROFILE_CHUNK):
            x = inputs[start:start + PROFILE_CHUNK].to(bundle.device)
            if bundle.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            parts.append(backbone(x).float().cpu())
    return torch.cat(parts) if parts else torch.zeros(0, 0)


def unlike_training_images(bundle: Bundle, images: Sequence[np.ndarray], ingested: bool = False
                           ) -> tuple[np.ndarray, np.ndarray] | None:
    """The out-of-distribution check of the bundle (:mod:`drac_ssl.grading.ood`) on uint8
    images in the model's channels, preprocessed as :func:`predict_images` does:
    ``(distances (n,), flagged (n,) bool)``, flagged where an image is farther from the
    labelled training images than the bundle's threshold; None when the bundle has no input
    profile (built without an ingest cache, or by an older version). Costs one pass of the
    first fold model's backbone per image."""
    profile = bundle.input_profile
    if profile is None:
        return None
    if len(images) == 0:
        return np.zeros(0), np.zeros(0, dtype=bool)
    inputs = torch.stack([preprocess_image(image, bundle.metadata, ingested) for image in images])
    return profile.unlike_training(inputs, profile_features(bundle, inputs))


BLANK_REASON = "blank or near-constant"
NOISE_REASON = "random noise"
"""The reasons an image is not reliably gradable that follow the app's
(:data:`drac_ssl.grading.image_notes.NOT_RELIABLY_GRADABLE`) in
:attr:`GradedImages.not_reliably_gradable` and the export's notes file: the app refuses such
images; :func:`grade_images` and the export grade them (so that a submission lists every case),
each followed by :data:`GRADE_NOT_USED`; ``--skip-unreadable`` skips them instead."""
GRADE_NOT_USED = "its grade must not be used (nothing to grade; the app refuses such an image)"
"""What follows :data:`BLANK_REASON` or :data:`NOISE_REASON`: the grade is there only so that
every image has one."""


@dataclass
class GradedImages:
    """:func:`grade_images`' result for ``n`` images: ``probs`` ``(n, K)`` and ``classes``
    ``(n,)`` as :func:`predict_images` returns them; ``unlike`` ``(n,)`` bool, flagged by the
    bundle's out-of-distribution check (None: the bundle has none, see
    :func:`unlike_training_images`); ``blank`` ``(n,)`` bool, blank or near-constant images
    (:func:`data_prep.validate.is_blank`: nothing to grade); ``distance`` ``(n,)`` float64,
    each image's distance from the training images that ``unlike`` compares with the
    bundle's threshold (None with ``unlike``); ``warnings``: per image, what makes its grade
    doubtful in the image itself (:func:`small_image_warning`; an empty list for most);
    ``preprocessing_warnings``: per image, what the replayed ingest preprocessing found, e.g.
    no fundus disc to crop, or, for a bundle whose data had no fundus crop, a non-square image
    squeezed to a square (:func:`preprocessing_warning`; an empty list for most); ``noise`` ``(n,)`` bool, images
    that look like random noise and are not blank (:func:`data_prep.validate.looks_like_noise`:
    adjacent pixels unrelated, what the app refuses); ``file_warnings``: per image, what
    reading its file said (:func:`read_image`'s warnings, ``NAME: `` removed; given to
    :func:`grade_images` as ``file_warnings``, else an empty list each); ``training_image``:
    per image, whether it is one of the bundle's labelled training images (the same SHA-256 of
    its file, or of its decoded pixels: :mod:`drac_ssl.grading.training_images`; its grade is no
    test of the model), None where that cannot be told (a bundle that records no hashes, a file
    that cannot be read again and no pixel hashes to compare), as the app and the export's notes
    file say it ("unknown"); None as a whole when :func:`grade_images` was given no ``paths``
    and the bundle records no decoded-pixel hashes (built from an ingest made before them);
    ``pixels_sha256``: per image, :func:`data_prep.validate.pixels_sha256` of the image as
    graded (None for a result built by hand); ``paths``: per image its file as given to
    :func:`grade_images` (``str``; None as a whole without ``paths``); ``grade_names``: the
    bundle's names of the grades 0..K-1 (:attr:`Bundle.grade_names`; None for a result built
    by hand); ``score`` ``(n,)`` float64: the continuous score the bundle's thresholds cut into
    ``classes`` under ``decision: thresholds`` (:attr:`Bundle.calibration`'s ``thresholds``;
    ``grade = number of thresholds t with score >= t``, :func:`drac_ssl.metrics.apply_thresholds`):
    for a classification head the expected grade ``sum_k k * P_k`` of the fold ensemble's
    calibrated probabilities, for a regression head the mean regression output of the fold models
    (``metadata.json``'s ``calibration.score`` says which), so that the grades can be cut again at
    other thresholds; None for a result built by hand.

    :attr:`not_reliably_gradable` combines them into one verdict per image, the export's and
    the app batch's rule; :meth:`to_records` gives one flat dict per image (for
    ``pandas.DataFrame(graded.to_records())`` or JSON)."""

    probs: np.ndarray
    classes: np.ndarray
    unlike: np.ndarray | None
    blank: np.ndarray
    noise: np.ndarray
    distance: np.ndarray | None = None
    warnings: list[list[str]] = field(default_factory=list)
    preprocessing_warnings: list[list[str]] = field(default_factory=list)
    file_warnings: list[list[str]] = field(default_factory=list)
    training_image: list[bool | None] | None = None
    paths: list[str] | None = None
    grade_names: tuple[str, ...] | None = None
    score: np.ndarray | None = None
    pixels_sha256: list[str] | None = None

    @property
    def not_reliably_gradable(self) -> list[list[str]]:
        """Per image, the reasons its grade is *not reliably gradable* ([] for a clean image): the
        app batch's rule (:func:`drac_ssl.grading.image_notes.flagged_reasons`: unlike the
        training images, a colour picture given to a grey UW-OCTA model, a grey picture given
        to a colour model that saw too few, a thresholded export or mask, far smaller than the
        model's input) over :attr:`unlike`, :attr:`file_warnings`, :attr:`warnings` and
        :attr:`preprocessing_warnings`, then :data:`BLANK_REASON` and :data:`NOISE_REASON`
        (which the app refuses), each followed by :data:`GRADE_NOT_USED`. The export's notes
        file (``<stem>_notes.csv``) says the same. A property: it cannot disagree with the
        fields it reads. What reading the files said counts only when it was passed to
        :func:`grade_images` (``file_warnings``)."""
        n = len(self.classes)
        said = self.file_warnings or [[] for _ in range(n)]
        warnings = self.warnings or [[] for _ in range(n)]
        found = self.preprocessing_warnings or [[] for _ in range(n)]
        unlike = self.unlike
        return [flagged_reasons(bool(unlike is not None and unlike[i]), [*said[i], *warnings[i], *found[i]])
                + ([BLANK_REASON] if self.blank[i] else []) + ([NOISE_REASON] if self.noise[i] else [])
                + ([GRADE_NOT_USED] if self.blank[i] or self.noise[i] else [])
                for i in range(n)]

    def to_records(self, grade_names: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """One flat, JSON-ready dict per image, in order, every dict with the same keys in the
        same order, so that ``pandas.DataFrame(graded.to_records())`` is a table of one row per
        image (pandas is not needed here; ``csv.DictWriter`` takes the dicts as well):

        * ``path`` (``str``: the file as given to :func:`grade_images` or
          :func:`drac_ssl.grading.batch.grade_files`; None without ``paths``) and ``name`` (its
          file name, the export CSV's ``case``; None without ``paths``);
        * ``grade`` (``int``, 0..K-1: :attr:`classes`, the calibration's decision, as the
          export's ``class`` column) and ``grade_name`` (``str``: that grade's name,
          ``grade_names`` or the bundle's, :attr:`grade_names`; the grade's number as a string
          when neither is known);
        * ``P0`` .. ``P{K-1}`` (``float``: the calibrated probabilities, the export's columns);
        * ``score`` (``float``: :attr:`score`, what the thresholds cut into ``grade``; None when
          not known);
        * ``not_reliably_gradable`` (``str``: :attr:`not_reliably_gradable`'s reasons joined by
          "; ", as the export's notes file writes them; "" for a clean image);
        * ``warnings`` (``str``: every warning said of the image, what reading its file said
          (:attr:`file_warnings`), then :attr:`warnings` and :attr:`preprocessing_warnings`, one
          a line, joined by "\\n"; "" for none: ``.splitlines()`` gives them back);
        * ``training_image`` (``True``, ``False`` or None: :attr:`training_image`; None where it
          cannot be told, and for every image without ``paths`` when the bundle records no
          decoded-pixel hashes).

        Raises:
            ValueError: ``grade_names`` not one name per grade (K)."""
        n, k = len(self.classes), int(self.probs.shape[1]) if self.probs.ndim == 2 else 0
        names = list(grade_names) if grade_names is not None else (
            list(self.grade_names) if self.grade_names is not None else None)
        if names is not None and len(names) != k:
            raise ValueError(f"grade_names: {len(names)} names for {k} grades ({names!r}): give one name "
                             f"per grade 0..{k - 1}, or leave it out for the bundle's (bundle.grade_names)")
        reasons = self.not_reliably_gradable

        def per_image(values: list[list[str]] | None, i: int) -> list[str]:
            return list(values[i]) if values else []

        records: list[dict[str, Any]] = []
        for i in range(n):
            grade = int(self.classes[i])
            path = None if self.paths is None else str(self.paths[i])
            record: dict[str, Any] = {
                "path": path, "name": None if path is None else Path(path).name,
                "grade": grade, "grade_name": names[grade] if names is not None else str(grade)}
            record.update({f"P{j}": float(self.probs[i, j]) for j in range(k)})
            record["score"] = None if self.score is None else float(self.score[i])
            said = [*per_image(self.file_warnings, i), *per_image(self.warnings, i),
                    *per_image(self.preprocessing_warnings, i)]
            record["not_reliably_gradable"] = "; ".join(reasons[i])
            record["warnings"] = "\n".join(said)
            record["training_image"] = None if self.training_image is None else self.training_image[i]
            records.append(record)
        return records

    @classmethod
    def joined(cls, parts: Sequence[GradedImages]) -> GradedImages:
        """One result for the images of ``parts`` in their order (results of the same bundle on
        consecutive chunks of images: every array concatenated, every per-image list joined;
        ``unlike`` and ``distance`` None when the bundle has no out-of-distribution check,
        ``training_image`` and ``paths`` None unless every part has them; ``grade_names`` the
        parts', None when no part knows them).

        Raises:
            ValueError: ``parts`` is empty (no image graded: nothing says K); two parts name
            the grades differently (results of different bundles)."""
        if not parts:
            raise ValueError("GradedImages.joined: no parts (no image was graded)")
        named = list(dict.fromkeys(tuple(g.grade_names) for g in parts if g.grade_names is not None))
        if len(named) > 1:
            raise ValueError(f"GradedImages.joined: the parts name the grades differently ("
                             f"{' vs '.join(repr(list(n)) for n in named)}): join the results of one "
                             f"bundle, or grade the images with one bundle")

        def cat(name: str) -> Any:
            arrays = [getattr(g, name) for g in parts]
            return None if any(a is None for a in arrays) else np.concatenate(arrays)

        flags = [g.training_image for g in parts]

        def lists(name: str) -> list[list[str]]:
            return [w for g in parts for w in (getattr(g, name) or [[] for _ in range(len(g.classes))])]

        paths = [g.paths for g in parts]
        digests = [g.pixels_sha256 for g in parts]
        return cls(probs=cat("probs"), classes=cat("classes"), unlike=cat("unlike"), blank=cat("blank"),
                   noise=cat("noise"), distance=cat("distance"), warnings=lists("warnings"),
                   preprocessing_warnings=lists("preprocessing_warnings"),
                   file_warnings=lists("file_warnings"),
                   training_image=None if any(f is None for f in flags) else [t for f in flags for t in f or []],
                   paths=None if any(p is None for p in paths) else [q for p in paths for q in p or []],
                   grade_names=named[0] if named else None, score=cat("score"),
                   pixels_sha256=None if any(d is None for d in digests) else [h for d in digests for h in d or []])


def grade_images(bundle: Bundle, images: Sequence[np.ndarray], tta: bool | None = None,
                 ingested: bool = False, *,
                 file_warnings: Sequence[Sequence[str | tuple[str, str] | list[str]]] | None = None,
                 paths: Sequence[str | os.PathLike[str]] | None = None,
                 training_images: bool = True) -> GradedImages:
    """Grade uint8 images in the model's channels and check them, preprocessing each once:
    :func:`predict_images`' probabilities and grades, the out-of-distribution check of
    :func:`unlike_training_images`, the blank-image and noise tests and the warning for an image much
    smaller than the model's input (:func:`small_image_warning`, in
    :attr:`GradedImages.warnings`) and what the replayed fundus crop found or, without it, a
    non-square image squeezed (:func:`preprocessing_warning`, in :attr:`GradedImages.preprocessing_warnings`), for the
    export command, the export stage and the app's
    batch tab. The check reads the first fold model's features from the grading's own
    backbone pass (:attr:`EnsembleOutput.features`): no second pass.

    ``images``, ``tta`` and ``ingested`` as for :func:`predict_images`: uint8 grey
    ``(H, W)`` or **RGB** ``(H, W, 3)`` in the model's channels (OpenCV's ``cv2.imread``
    gives BGR: ``cv2.cvtColor(img, cv2.COLOR_BGR2RGB)``); ``tta`` None: as the
    cross-validation was measured (:attr:`Bundle.tta_in_cv`). ``classes`` is the
    calibration's decision and may differ from ``probs.argmax(axis=1)`` (thresholds on the
    expected grade).

    Reading files is the caller's: pass what :func:`read_image` returned for the files it
    could read (it raises for an unreadable one), and, for the one verdict
    :attr:`GradedImages.not_reliably_gradable`, per image what it said (``file_warnings``:
    its warnings, each ``NAME: `` prefix removed) and the files themselves (``paths``:
    :attr:`GradedImages.training_image` compares their SHA-256 with the bundle's training
    images, reading each file again; :attr:`GradedImages.paths` keeps them, for
    :meth:`GradedImages.to_records`). The images' decoded-pixel hashes
    (:func:`data_prep.validate.pixels_sha256`, :attr:`GradedImages.pixels_sha256`) are compared
    with the bundle's too, with or without ``paths``: an array of a training image (a row of the
    ``.npz`` the model was trained on) is a training image whatever holds it. A bundle whose list
    has file hashes only (built from an ingest made before the pixel hashes) compares ``paths``
    alone and warns (:data:`drac_ssl.grading.training_images.PIXELS_CHECK_NEEDS_INGEST`, a
    UserWarning: Python shows it once per calling line). ``training_images`` False: not compared
    (:attr:`GradedImages.training_image` None), for a caller that compares them itself once for
    many calls (:func:`drac_ssl.grading.batch.grade_files`, per chunk of files). :func:`drac_ssl.grading.batch.grade_files` does all of
    this for a list of files (per-file failures, chunks, progress): the one call that cannot
    leave the doubts out.

    **Without ``file_warnings`` the verdict cannot see what was lost in reading**: the arrays
    are already in the model's channels, so a colour photograph read for a grey UW-OCTA model
    (:func:`read_image` or :func:`conform_channels` converted it to its luminance and said
    *a colour picture, not UW-OCTA*) is a grey array here like any scan, and so are a 16-bit
    scan of another bit depth and the decoder's findings; only what reading said carries them.
    A colour array given to a grey model is refused (ValueError), never converted here. Pass
    ``file_warnings`` whenever the images came from files (review: a script that kept the
    words in a variable and did not pass them got ``[[], []]`` for a colour photograph).

    A warning of ``file_warnings`` is one of: a :class:`FileWarning` (what :func:`read_image`
    returns: its ``words`` are kept, whatever the name holds); a
    ``(name, words)`` pair (or the 2-item list JSON makes of one); or a plain string ``NAME:
    WORDS`` (a warning read back from JSON), whose ``NAME: `` is the file's name in ``paths``,
    or, without ``paths``, what comes before the one ": " that can end a name: after an image
    suffix (``scan: left.png``), or before words that start as a sentence said of an image
    (``Only 2 grey levels``, ``Image file: ...``:
    :func:`drac_ssl.grading.image_notes.starts_a_warning`); the first ": " when none can.
    A line where more than one can (``a.png: b.png: Too small``) is refused rather than cut at
    a guess (a name holding ": " cut at its first lost a part of the name into
    the words).

    Raises:
        TypeError: a path or other non-array where images are expected; a ``tta`` other than
            None, True or False.
        ValueError: as :func:`predict_images` does; ``file_warnings`` or ``paths`` not one per
            image; a plain warning line without ``paths`` where more than one ": " can end
            the file's name (above).
    """
    if tta is not None:  # a bad tta before any image is preprocessed (None reads the bundle later)
        resolve_tta(tta, bundle)
    images = _image_list(images, getattr(getattr(bundle, "spec", None), "channels", None))  # before the bundle is used
    for name, given in (("file_warnings", file_warnings), ("paths", paths)):
        if given is not None and (isinstance(given, str | bytes | os.PathLike) or len(given) != len(images)):
            raise ValueError(f"{name} must hold one entry per image ({len(images)}), got "
                             f"{len(given) if not isinstance(given, str | bytes | os.PathLike) else repr(given)}")
    # the words of every warning before any image is graded: an ambiguous line is said at once
    words = None if file_warnings is None else [
        [_without_name(line, paths[i] if paths is not None else None, (i, j)) for j, line in enumerate(said)]
        for i, said in enumerate(file_warnings)]
    graded = grade_prepared(bundle, [prepare_image(image, bundle.metadata, ingested) for image in images],
                            tta)
    if words is not None:
        graded.file_warnings = words
    if training_images:
        graded.training_image = training_image_flags(bundle, paths, graded.pixels_sha256)
    if paths is not None:
        graded.paths = [os.fspath(path) for path in paths]
    return graded


def _without_name(line: str | Sequence[str], path: str | os.PathLike[str] | None,
                  where: tuple[int, int] = (0, 0)) -> str:
    """The words of one of ``grade_images``' ``file_warnings`` (``where``: its image and its
    place, for the error), without the file's name: a :class:`FileWarning`'s ``words``; a
    ``(name, words)`` pair's words (a tuple, or the 2-item list JSON makes of it); a plain line
    without its ``NAME: `` prefix: ``path``'s name, or without a path, cut at the one ": "
    that can end a name: the words before it end in an image suffix
    (:data:`~drac_ssl.grading.image_notes.IMAGE_SUFFIXES`: ``scan: left.png``), or the words
    after it start as a sentence said of an image
    (:func:`~drac_ssl.grading.image_notes.starts_a_warning`: ``Only 2 grey levels``,
    ``Image file: ``); when none does, at its first ": ", and a line without ": " is all words.

    Raises:
        ValueError: a plain line without a path where more than one ": " can end the name
            (``a.png: b.png: Too small``: the name is ``a.png`` or ``a.png: b.png``); anything
            but a string, a FileWarning or a pair of strings."""
    if isinstance(line, FileWarning):
        return line.words
    if (isinstance(line, tuple | list) and len(line) == 2
            and all(isinstance(part, str) for part in line)):
        return line[1]
    if not isinstance(line, str):
        raise ValueError(f"file_warnings[{where[0]}][{where[1]}]: a warning is a string or a (name, words) "
                         f"pair, got {type(line).__name__} {line!r}")
    if path is not None:
        return line.removeprefix(f"{Path(path).name}: ")
    cuts = [found.start() for found in re.finditer(": ", line)]
    fits = [cut for cut in cuts if line[:cut].lower().endswith(IMAGE_SUFFIXES)
            or starts_a_warning(line[cut + 2:])]
    if len(fits) > 1:
        names = " or ".join(repr(line[:cut]) for cut in fits)
        raise ValueError(
            f"file_warnings[{where[0]}][{where[1]}]: {line!r}: the file's name cannot be told from the "
            f"words (it may be {names}) -> pass paths= (the files read, whose names the lines start "
            f"with), or the warnings as read_image returned them (FileWarning, which keeps the name "
            f"apart), or (name, words) pairs")
    cut = fits[0] if fits else cuts[0] if cuts else None
    return line if cut is None else line[cut + 2:]


def training_image_flags(bundle: Bundle, paths: Sequence[str | os.PathLike[str]] | None,
                         pixels: Sequence[str] | None = None) -> list[bool | None] | None:
    """Per image, whether it is among the bundle's labelled training images
    (:func:`drac_ssl.grading.training_images.is_training_image`, the app's and the export's
    check): the first :data:`drac_ssl.grading.training_images.HASH_HEX` hex digits of the
    SHA-256 of its file (``paths``, each read again) among the bundle's file hashes, or of its
    decoded pixels (``pixels``: :func:`data_prep.validate.pixels_sha256` of each image as graded,
    :attr:`GradedImages.pixels_sha256`) among its decoded-pixel hashes. None where that cannot be
    told: a bundle that records no training-image hashes (built before it did), a file that
    cannot be read now and no pixel hash to compare; None as a whole without ``paths`` when the
    bundle has no decoded-pixel hashes (or no ``pixels`` are given). A bundle whose list has file
    hashes only warns once (a UserWarning,
    :data:`drac_ssl.grading.training_images.PIXELS_CHECK_NEEDS_INGEST`)."""
    from drac_ssl.grading.training_images import (
        HASH_HEX,
        PIXELS_CHECK_NEEDS_INGEST,
        file_prefix,
        is_training_image,
        training_hashes,
        training_pixel_hashes,
    )

    hashes = training_hashes(bundle.metadata)
    by_pixels = training_pixel_hashes(bundle.metadata)
    hashed = pixels is not None and any(pixels)  # "" for ingested cache rows: no decoded image
    if hashes is not None and by_pixels is None and hashed:
        import warnings  # here: "warnings" names the per-image lists elsewhere in this module

        warnings.warn(PIXELS_CHECK_NEEDS_INGEST, UserWarning, stacklevel=3)
    if paths is None and (by_pixels is None or not hashed):
        return None
    n = len(paths) if paths is not None else len(pixels or [])
    found: list[bool | None] = []
    for i in range(n):
        prefix = None
        if paths is not None and hashes is not None:
            try:
                prefix = file_prefix(paths[i])
            except OSError:
                prefix = None
        digest = pixels[i][:HASH_HEX] if pixels is not None and pixels[i] else None
        found.append(is_training_image(hashes, by_pixels, prefix, digest))
    return found


@dataclass
class PreparedImage:
    """One image made ready for :func:`grade_prepared` by :func:`prepare_image`: all that the
    grading and its checks read of the image, without the image itself, so that a caller
    grading many large images (the app's batch tab) holds one decoded image at a time.

    ``input`` the model input ``(C, S, S)`` float32 (:func:`preprocess_image`); ``shape``
    the image's ``(H, W)`` or ``(H, W, 3)``; ``blank`` blank or near-constant
    (:func:`data_prep.validate.is_blank`); ``warnings`` :func:`small_image_warning`'s, if
    any; ``preprocessing_warnings`` what the replayed fundus crop found, or a non-square image
    squeezed without it (:func:`preprocessing_warning`); ``noise`` looks like random noise and is not blank
    (:func:`data_prep.validate.looks_like_noise`, on the image reduced to at most 256 px a
    side: a few ms for 1024 px)."""

    input: Tensor
    shape: tuple[int, ...]
    blank: bool
    warnings: list[str] = field(default_factory=list)
    preprocessing_warnings: list[str] = field(default_factory=list)
    noise: bool = False
    pixels_sha256: str = ""


def nothing_to_grade(image: np.ndarray) -> tuple[bool, bool]:
    """``(blank, noise)`` of a uint8 image ``(H, W)`` or ``(H, W, 3)``: the app's rule of what
    has nothing to grade (:func:`app.inputs.refusal`): blank or near-constant
    (:func:`data_prep.validate.is_blank`), else random noise
    (:func:`data_prep.validate.looks_like_noise`: adjacent pixels unrelated at every scale);
    ``noise`` is False for a blank image. :func:`prepare_image` records both
    (:attr:`GradedImages.blank`, :attr:`GradedImages.noise`); ``python -m drac_ssl.export
    --skip-unreadable`` skips such an image as the app refuses it."""
    from data_prep.validate import is_blank, looks_like_noise

    array = np.asarray(image)
    blank = bool(is_blank(array))
    return blank, not blank and bool(looks_like_noise(array))


def prepare_image(image: np.ndarray, metadata: dict[str, Any], ingested: bool = False) -> PreparedImage:
    """One image -> its :class:`PreparedImage` for :func:`grade_prepared`; keeps no reference to
    ``image``.

    ``image``: uint8, 0..255, in the model's channels: grey ``(H, W)`` (or ``(H, W, 1)``) for a
    1-channel model, RGB ``(H, W, 3)`` for a 3-channel one (:func:`read_image` reads a file so;
    a tensor or other dtype is refused). ``metadata``: the bundle's ``metadata.json`` (or its
    ``input`` section); ``ingested``: ``image`` is a row of the ingest cache, at the model's
    source size. The prepared ``input`` is the model input ``(C, S, S)`` float32, normalised
    per channel as ``(x / 255 - mean) / std`` with the bundle's recorded statistics (so not
    0..1: -1.48..2.69 with UW-OCTA's), ``S`` the model's input size (:func:`preprocess_image`); ``shape`` the image's ``(H, W[, 3])`` in pixels;
    ``blank`` / ``noise`` :func:`nothing_to_grade` of the image; ``warnings`` /
    ``preprocessing_warnings`` what :func:`preprocess_image` said; ``pixels_sha256``
    :func:`data_prep.validate.pixels_sha256` of the image as given (compared with the
    bundle's training images: :func:`training_image_flags`; "" for an ingested cache row, which
    is resized and no decoded image).

    Raises:
        ValueError: as :func:`preprocess_image`: an image of another dtype or other channels
            than the model's (the message says how to convert it), one with no pixels, or an
            ingested row of another size than the source size."""
    found: list[str] = []
    said: list[str] = []
    x = preprocess_image(image, metadata, ingested, notes=found, warnings=said)  # a tensor's fix says it
    array = _as_array(image)
    blank, noise = nothing_to_grade(array)
    return PreparedImage(x, tuple(int(v) for v in array.shape), blank, said,
                         [preprocessing_warning(n) for n in found], noise=noise,
                         pixels_sha256="" if ingested else pixels_sha256(array))


def grade_prepared(bundle: Bundle, prepared: Sequence[PreparedImage], tta: bool | None = None
                   ) -> GradedImages:
    """:func:`grade_images` of images already made into :class:`PreparedImage` (by
    :func:`prepare_image` with this bundle's metadata): the same result to the last bit, the
    model inputs stacked into one batch as there."""
    k = bundle.calibration.num_grades
    blank = np.array([p.blank for p in prepared], dtype=bool)
    noise = np.array([p.noise for p in prepared], dtype=bool)
    names = tuple(bundle.grade_names)
    digests = [p.pixels_sha256 for p in prepared]
    if len(prepared) == 0:
        checked = bundle.input_profile is not None
        return GradedImages(np.zeros((0, k)), np.zeros(0, dtype=np.int64),
                            np.zeros(0, dtype=bool) if checked else None, blank, noise,
                            np.zeros(0) if checked else None, grade_names=names, score=np.zeros(0),
                            pixels_sha256=[])
    warnings = [list(p.warnings) for p in prepared]
    preprocessing = [list(p.preprocessing_warnings) for p in prepared]
    inputs = torch.stack([p.input for p in prepared])
    profile = bundle.input_profile
    out = ensemble_outputs(bundle, inputs, tta, keep_features=profile is not None)
    probs, score, classes = bundle.calibration.decide(out.raw)
    score = np.asarray(score, dtype=np.float64)
    if profile is None:
        return GradedImages(probs, classes, None, blank, noise, warnings=warnings,
                            preprocessing_warnings=preprocessing, grade_names=names, score=score,
                            pixels_sha256=digests)
    assert out.features is not None
    distance, unlike = profile.unlike_training(inputs, out.features)
    return GradedImages(probs, classes, unlike, blank, noise, distance, warnings, preprocessing,
                        grade_names=names, score=score, pixels_sha256=digests)

