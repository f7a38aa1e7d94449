"""Per-file and per-table checks of an ingest: every problem is collected, none stops the scan.

A :class:`Problem` (:mod:`data_prep.problems`) is one line ``PATH: what is wrong -> what to
do`` with a severity (``error`` fatal; ``warning`` converted or not honoured, fatal with
``--strict``; ``note`` informational).

:func:`inspect_image` is THE decoding path of the package: the ingest, ``drac_ssl.export``
and the app all call it, so a file gives the same pixels everywhere. It decodes the bytes
read once (:mod:`data_prep.decode`: orientation, bit depth, trailing data, alpha, frames,
colour profiles ...) and converts to the channels asked for. Label CSVs are read in any
common dialect by :mod:`data_prep.labels`.
"""

from __future__ import annotations

import dataclasses
import difflib
import filecmp
import functools
import hashlib
import os
import re
import shlex
import unicodedata
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from data_prep import decode as _decode
from data_prep.copies import copy_groups, copy_keys
from data_prep.grades import choices, config_grades, describe, grades_option, renumber_and_name
from data_prep.labels import (  # noqa: F401 - NOT_PATIENT_ID_WORDS, PATIENT_ID_WORDS: re-exported
    # PATIENT_COLUMN_WORDS: words of a patient id (its home is labels: column_suggestion reads it)
    GRADE_INSIDE_WORDS,
    GRADE_INTEGER,
    GRADE_NUMERAL,
    GUESSED_ENCODINGS,
    NOT_PATIENT_ID_WORDS,
    PATIENT_COLUMN_WORDS,
    PATIENT_ID_WORDS,
    SAVE_AS_UTF8,
    Table,
    cell_file_name,
    column_index,
    column_suggestion,
    date_cell,
    dme_grades,
    id_words,
    missing_column,
    normalise,
    not_utf8_words,
    one_column_for_two_roles,
    parse_grade,
    patient_word_column,
    read_table,
    refused_grade_column,
    reread_matching,
    split_decimal_problems,
    visit_id_column,
)
from data_prep.labels import name_word_list as _name_word_list
from data_prep.labels import name_words as _name_words
from data_prep.layout import (
    DEEPDRID_IMAGES,
    DEEPDRID_SETS,
    EYE_COLUMNS,
    GRADABLE_COLUMNS,
    ICDR_UNGRADABLE_GRADE,
    ICDR_UNGRADABLE_WHOSE,
    IMAGE_SUFFIXES,
    NESTED_LAYOUTS,
    PATIENT_COLUMNS,
    TWO_IMAGES_FIX,
    UNGRADABLE_GRADES,
    contents_words,
    ddr_names,
    different_files,
    eye_columns_in,
    icdr_grade_column,
    locale_only_name,
    name_key,
    name_readings,
    valid_utf8_name,
)
from data_prep.problems import (  # noqa: F401 - re-exported: the historical home of these names
    IngestError,
    Problem,
    apply_strict,
    counted,
    error,
    format_problems,
    named_few,
    note,
    warning,
)
from drac_ssl.config import DATA_LAYOUTS, GRADE_SCALES, LAYOUT_NAMES
from drac_ssl.grading.image_notes import OTHER_IMAGE_SUFFIXES
from drac_ssl.starting import python_word

BLANK_STD = 2.0
"""Grey-level standard deviation (0..255) below which an image is blank (:func:`is_blank`)."""
BLANK_RANGE = 8
"""... or a 1st-99th percentile range (grey levels) below this."""


def natural_key(name: str) -> tuple[list[str | int], str]:
    """``2.png`` < ``10.png`` < ``1000.png``, case-insensitive; the name breaks ties (the order of
    the ingest's files and of the export's rows; here, not in :mod:`data_prep.ingest`, so that
    :mod:`drac_ssl.grading` sorts a folder as the export does without reaching the ingest)."""
    parts = re.split(r"(\d+)", name.lower())
    return [int(p) if i % 2 else p for i, p in enumerate(parts)], name


def is_blank(image: np.ndarray) -> bool:
    """A blank or near-constant image (nothing to grade): uint8 grey ``(H, W)`` or colour
    ``(H, W, C)`` (its channel mean), with a standard deviation below :data:`BLANK_STD` or a
    1st-99th percentile range below :data:`BLANK_RANGE` grey levels, sampled on a grid of at
    most about 512 x 512 pixels. Used by the app, the export command and the ingest alike
    (:func:`blank_problem`, on every image it decodes). For uint8 the figures come from the
    sample's histogram, the percentiles interpolated as ``np.percentile``'s default does: the
    same verdict (a test checks it near both thresholds) several times faster than
    ``np.percentile`` on the sample, which matters on the ingest's path of every image."""
    array = np.asarray(image)
    h, w = array.shape[:2]
    sample = array[:: max(1, h // 512), :: max(1, w // 512)]  # a pixel's channels stay together
    if sample.dtype != np.uint8:
        grey = sample if sample.ndim == 2 else sample.mean(axis=2)
        lo, hi = np.percentile(grey, [1, 99])
        return bool(float(grey.std()) < BLANK_STD or hi - lo < BLANK_RANGE)
    channels = 1 if sample.ndim == 2 else sample.shape[2]
    total = sample if sample.ndim == 2 else sample[..., 0].astype(np.uint16)
    for channel in range(1, channels):  # channel by channel: sum(axis=2) is 5 times slower
        total += sample[..., channel]
    counts = np.bincount(total.ravel(), minlength=255 * channels + 1)
    n = int(counts.sum())
    if n == 0:
        return True
    levels = np.arange(counts.size) / channels  # the channel mean of each bin
    mean = float(counts @ levels) / n
    std = float(np.sqrt(counts @ (levels - mean) ** 2 / n))
    cumulative = np.cumsum(counts)

    def percentile(q: float) -> float:  # np.percentile's linear interpolation
        virtual = (n - 1) * q / 100
        below = int(np.floor(virtual))
        a, b = levels[np.searchsorted(cumulative, [below, min(below + 1, n - 1)], side="right")]
        return float(a + (b - a) * (virtual - below))

    return bool(std < BLANK_STD or percentile(99) - percentile(1) < BLANK_RANGE)


FEW_LEVELS = 4
"""At most this many distinct values in every channel (:func:`few_levels`): a thresholded export
or a mask (2 levels), a posterised copy, not a scan or a photograph (an 8-bit scan has dozens
to 256; a 4-bit file 16)."""


def few_levels(image: np.ndarray, most: int = FEW_LEVELS) -> list[list[int]] | None:
    """The distinct values of each channel of uint8 ``image`` (grey ``(H, W)``: one list;
    colour ``(H, W, C)``: one per channel) when no channel has more than ``most``
    (:data:`FEW_LEVELS`), else None. Counted first on a grid of at most about 512 x 512 pixels,
    as :func:`is_blank` samples (a real image shows more values there and is done), then on
    every pixel: exact, about 1 ms for a 1024 px image. The app's warning of a thresholded
    export or a vessel mask (:func:`app.inputs.sanity_warnings`)."""
    array = np.asarray(image)
    planes = [array] if array.ndim == 2 else [array[..., c] for c in range(array.shape[2])]
    h, w = array.shape[:2]
    for sample_only in (True, False):
        found = []
        for plane in planes:
            seen = plane[:: max(1, h // 512), :: max(1, w // 512)] if sample_only else plane
            values = np.flatnonzero(np.bincount(np.ravel(seen), minlength=256))
            if values.size > most:
                return None
            found.append([int(v) for v in values])
    return found


def blank_problem(pixels: np.ndarray, path: str) -> list[Problem]:
    """A warning (kind ``blank``) when the decoded uint8 ``pixels`` are blank or near-constant
    (:func:`is_blank`), else nothing: the ingest keeps such an image, but the app and the
    export would call it blank and grade nothing (a failed capture or export, a placeholder),
    so it should be looked at. The grey levels and spread it names are the whole image's (its
    luminance for colour), as the app words them."""
    if not is_blank(pixels):
        return []
    grey = pixels if pixels.ndim == 2 else cv2.cvtColor(pixels[..., :3], cv2.COLOR_RGB2GRAY)
    return [warning(
        path, f"blank or near-constant image (grey levels {int(grey.min())}..{int(grey.max())}, "
              f"std {float(grey.std()):.1f}): the app and the export would call it blank and "
              "grade nothing; it is ingested as it is",
        "check the image (a failed capture or export?); if it is not a real scan, move it out "
        "of the folder and delete its label row", "blank")]

STRUCTURE_SIDE = 256
""":func:`neighbour_correlation` measures the grey image block-averaged to at most this many
pixels a side."""
STRUCTURE_SCALES = (1, 2, 4)
"""The block sizes, in multiples of the reduction to :data:`STRUCTURE_SIDE`, at which
:func:`structure_correlations` measures :func:`neighbour_correlation`: an image is noise
(:func:`looks_like_noise`) only when its neighbours are unrelated at each of them. A dithered
file (a photograph saved as a palette PNG with Pillow's web palette: alternating colours
stand for the shades between) has unrelated neighbours pixel by pixel, but its 2 x 2 and
4 x 4 block means are the photograph again; noise's block means are independent too."""
STRUCTURE_MIN_SIDE = 32
"""A coarser scale of :data:`STRUCTURE_SCALES` is measured only when its blocks leave at least
this many a side (a 4 x 4 scale from 128 px): fewer block pairs spread noise's figure wider
(uniform noise of 28-32 px measured up to 0.08, of 16 px up to 0.26)."""
NOISE_CORRELATION = 0.15
"""At or below this :func:`neighbour_correlation`, at each scale of :func:`structure_correlations`
measured, an image looks like random noise
(:func:`looks_like_noise`): the app refuses it (:func:`app.inputs.refusal`), the export
command grades it and names it in a warning. Measured by ``python -m bench.structure_check``
(``bench/results/structure_check.json``: the first scale, :func:`neighbour_correlation`, and
the largest of the scales, which is what this is compared with), each image read as the app
reads it: the 3 real
DRAC UW-OCTA samples 0.66-0.68 (largest scale 0.68-0.73); the 30 real APTOS colour fundus
photographs 0.34-0.75 (median 0.54; Graham-filtered at 224 px; largest 0.40-0.75), and the same
photographs downscaled to 128, 64 and 32 px 0.37, 0.24 and 0.21 at the lowest (largest 0.49,
0.24, 0.21: the lowest real images measured); all 997 phantom UW-OCTA images of the default
run's set 0.47-0.80 (largest 0.47-0.83); the 1,600 RetinaMNIST photographs (28 px: one scale)
0.84-0.98; none of these refused. Uniform iid noise of 64 to 2048 px a side (5 images per size,
12 sizes) -0.01 to 0.04, the largest scale 0.08 at most (all 60 refused); of 16 to 32 px (50
per size, one scale) -0.10 to 0.26, one of the 50 at 16 px above the threshold (fewer pixel
pairs: a wider spread; the app has no minimum size that would refuse it: it grades a tiny
image with a size warning). The threshold is above all the noise of 28 px and more measured
and below every real image measured, with the least margin for 32 px photographs.
The same 30 photographs saved as dithered palette PNGs (``convert('P')``) measure -0.10 to 0.43
at the first scale (13 of 30 at or below the threshold, the review that found the case
counted) and 0.32-0.65 as the largest of the three scales: none refused; resized to 512, 300
or 128 px first none either (0.26 at least at 128 px), but 1 of 30 at 64 px and all 30 at 32
px (one scale) are. 1-bit dithered copies (``convert('1')``) are refused as noise at 224 px
(22 of 30) and when resized to 128 px (24), 64 and 32 px (all 30), not at 300 or 512 px (the
first scale then averages 2 x 2 pixels; largest scale 0.18 at least). Uniform noise of 64 to
2048 px, the largest of its scales, measured 0.10 at most by the review's script (500 images
per size up to 256 px, 30 above; 128 px, whose 4 x 4 blocks leave 32 x 32, the widest
spread), not by the bench."""


def _block_sums(array: np.ndarray, f: int) -> np.ndarray:
    """Exact sums of whole ``f x f`` blocks of a 2-D integer array (a few edge rows or columns
    dropped), uint32: on uint8 pixels no float copy is made."""
    h, w = array.shape
    if f == 1 or h < f or w < f:
        return array
    crop = array[: h - h % f, : w - w % f]
    rows = crop[0::f].astype(np.uint32)  # (H/f, W): one row of each block at a time
    for i in range(1, f):
        rows += crop[i::f]
    out = rows[:, 0::f].copy()  # (H/f, W/f): then each column of the blocks
    for i in range(1, f):
        out += rows[:, i::f]
    return out


def _adjacent_correlation(blocks: np.ndarray) -> float:
    """The larger of the horizontal and vertical Pearson correlations of adjacent values of
    the 2-D ``blocks`` (block sums: the means times a constant, the same correlation)."""
    grey = blocks.astype(np.float64)

    def correlation(a: np.ndarray, b: np.ndarray) -> float:
        if a.size < 2:
            return float("nan")
        a, b = a - a.mean(), b - b.mean()
        scale = float(np.sqrt((a * a).sum() * (b * b).sum()))
        return float((a * b).sum() / scale) if scale > 0 else float("nan")

    pairs = [correlation(grey[:, :-1], grey[:, 1:]), correlation(grey[:-1], grey[1:])]
    defined = [c for c in pairs if not np.isnan(c)]
    return max(defined) if defined else float("nan")


def _luminance(image: np.ndarray) -> np.ndarray:
    """uint8 grey ``(H, W)`` of ``image``: as it is, or the luminance of colour (``cv2.COLOR_RGB2GRAY``,
    the decoder's grey, :attr:`DecodedImage.gray`, which the app measures)."""
    array = np.asarray(image)
    if array.ndim == 3:
        array = (array[:, :, 0] if array.shape[2] == 1 else
                 cv2.cvtColor(np.ascontiguousarray(array[:, :, :3]), cv2.COLOR_RGB2GRAY))
    return array


def neighbour_correlation(image: np.ndarray) -> float:
    """How much adjacent pixels of ``image`` (uint8 grey ``(H, W)`` or colour ``(H, W, 3)``,
    taken as its luminance, ``cv2.COLOR_RGB2GRAY``: the decoder's grey,
    :attr:`DecodedImage.gray`, which the app measures, so a file gets one verdict in the app
    and the export whatever the model's channels) go together: the Pearson correlation between each pixel and
    its right-hand neighbour, and between each pixel and the one below, of the image reduced
    to at most :data:`STRUCTURE_SIDE` px a side by averaging whole ``f x f`` blocks (``f`` an
    integer; a few edge rows or columns dropped), the larger of the two; in [-1, 1]. The first
    scale of :func:`structure_correlations`, whose coarser scales :func:`looks_like_noise`
    reads too.

    Real UW-OCTA scans and fundus photographs have vessels, a disc, smooth shading: strong
    neighbour correlation (0.2 or more in every real image measured, down to photographs of 32 px,
    :data:`NOISE_CORRELATION`; a dithered palette copy of one can have none at this scale).
    Independent noise has about 0, at any size, because the block means of independent pixels
    are independent too (an interpolating resize is not: at 300 px, ``cv2.INTER_AREA`` to
    256 px gave noise 0.2). The blocks are summed exactly on the uint8 pixels (uint32 sums,
    no float copy of the image). A cheap check: 0.7-3 ms for a 1024 px grey or RGB image,
    30-55 ms and about 46 MB more memory (the grey plane and the row sums) for a 40-megapixel
    RGB image (the largest upload decoded); measured on the 2-core development VM (numpy
    median of 9-41 calls after 3 warm-up calls, peak by ``tracemalloc``, random uint8
    images); the float32 copy it replaced took 160-170 ms and 481 MB for 40 megapixels. It
    does not see noise inside a masked disc (the disc's edge correlates) or structured garbage.

    NaN when undefined: a single row or column, or no variation along either direction (a
    constant image is :func:`is_blank`'s case)."""
    return structure_correlations(image, scales=(1,))[0]


def structure_correlations(image: np.ndarray,
                           scales: Sequence[int] = STRUCTURE_SCALES) -> tuple[float, ...]:
    """:func:`neighbour_correlation` of ``image`` (uint8 grey ``(H, W)`` or colour ``(H, W, 3)``,
    its luminance) at each of ``scales`` (:data:`STRUCTURE_SCALES`: 1, 2, 4): the correlation
    of adjacent means of ``k * f`` pixel blocks, ``f`` the reduction to at most
    :data:`STRUCTURE_SIDE` px a side; the first is :func:`neighbour_correlation` itself. A
    coarser scale (``k > 1``) whose blocks would leave fewer than :data:`STRUCTURE_MIN_SIDE` a
    side is NaN, as is any scale without variation. The coarser blocks are summed from the
    first scale's sums (at most 256 px a side): all three took 2.6 ms for a 1024 px grey image
    (the first alone 2.0 ms) and 53 ms for a 40-megapixel RGB one (51 ms; random uint8 images,
    the fastest of 3-20 calls on the 2-core development VM)."""
    array = _luminance(image)
    h, w = array.shape
    f = max(1, -(-max(h, w) // STRUCTURE_SIDE))
    if f > 1 and (h < f or w < f):
        f = 1  # a strip too thin to reduce: measured as it is
    base = _block_sums(array, f)  # exact sums of whole blocks, on the uint8 pixels
    out: list[float] = []
    for k in scales:
        if k > 1 and min(h, w) // (k * f) < STRUCTURE_MIN_SIDE:
            out.append(float("nan"))
            continue
        out.append(_adjacent_correlation(_block_sums(base, k)))
    return tuple(out)


NOISE_MEASURED = ("the real UW-OCTA scans and fundus photographs measured 0.2 or more, down to "
                  "32 px a side; noise about 0")
"""What bench/structure_check.py measured on either side of :data:`NOISE_CORRELATION`, in the
words the app's refusal and the export's warning both say."""


def looks_like_noise(image: np.ndarray | float | Sequence[float]) -> bool:
    """True when ``image`` (uint8 grey ``(H, W)`` or colour ``(H, W, C)``, or its
    :func:`structure_correlations` already measured; a single number is taken as all that was
    measured) looks like random noise: every correlation measured at or below
    :data:`NOISE_CORRELATION` (adjacent pixels unrelated at every scale of
    :data:`STRUCTURE_SCALES`; a dithered palette photograph is related on its block means),
    the first scale defined. False for an undefined first correlation (a constant image is
    :func:`is_blank`'s case, a single row or column too small to tell). The app refuses such
    an image; the export command grades it and names it in a warning."""
    if isinstance(image, np.ndarray) and image.ndim >= 2:
        found = structure_correlations(image)
    else:
        found = tuple(float(v) for v in np.atleast_1d(np.asarray(image, dtype=np.float64)))
    if not found or np.isnan(found[0]):
        return False
    return all(v <= NOISE_CORRELATION for v in found if not np.isnan(v))


EXPECTED_SIDE = 1024
"""Side of a DRAC UW-OCTA en-face export: :func:`inspect_image`'s default expectation. The
ingest expects it of the DRAC layout only (``data.expected_side``,
:func:`data_prep.ingest.expected_side`)."""
DRAC_GRADES: tuple[str, ...] = GRADE_SCALES["drac"]
_COLOUR_NAMES = {"RGB": "RGB", "RGBA": "RGBA", "P": "palette colour", "PA": "palette colour",
                 "CMYK": "CMYK", "YCbCr": "RGB", "LAB": "Lab", "HSV": "HSV"}


# --------------------------------------------------------------------------------------
# One image file


@dataclass
class DecodedImage:
    """A decoded image in the channels asked for (``pixels`` is None if it failed).

    ``pixels``: uint8, ``(H, W)`` grey or ``(H, W, 3)`` RGB, upright. ``colour``: the file's
    content has colour (its channels differ), whatever was asked for. ``gray``: the pixels
    as ``(H, W)`` grey (the luminance of colour pixels). ``grey_conversion``: a file of three
    channels read as grey (``channels=1``), the words of that finding (also in ``problems``:
    "RGB image (converted to grayscale: ...)"); "" when none was made. ``phantom``: the file
    carries drac_ssl's phantom marker (:func:`data_prep.decode.phantom_marked`).
    """

    pixels: np.ndarray | None
    width: int = 0
    height: int = 0
    mode: str = ""
    problems: list[Problem] = field(default_factory=list)
    file_format: str = ""
    colour: bool = False
    grey_conversion: str = ""
    phantom: bool = False
    colour_share: float = 0.0  # the share of pixels whose channels differ (data_prep.decode.colour_share)

    @property
    def gray(self) -> np.ndarray | None:
        if self.pixels is None or self.pixels.ndim == 2:
            return self.pixels
        return cv2.cvtColor(self.pixels, cv2.COLOR_RGB2GRAY)


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _identical_channels(pixels: np.ndarray) -> bool:
    """Whether the three channels of an ``(H, W, 3)`` array are equal everywhere: a sparse grid
    first (a colour photograph differs there at once; its black border alone would not), then
    every pixel."""
    sample = pixels[::16, ::16]
    if not (np.array_equal(sample[..., 0], sample[..., 1]) and np.array_equal(sample[..., 1], sample[..., 2])):
        return False
    return bool(np.array_equal(pixels[..., 0], pixels[..., 1]) and np.array_equal(pixels[..., 1], pixels[..., 2]))


def pixels_sha256(pixels: np.ndarray) -> str:
    """The SHA-256 (64 hex digits) of a decoded 8-bit image's pixels in a canonical form, the
    same whatever file (PNG, TIFF, an ``.npz`` row) or array held them: what tells a copy of a
    training image in another file from a new image (:mod:`drac_ssl.grading.training_images`).

    ``pixels``: uint8 grey ``(H, W)``, ``(H, W, 1)`` or RGB ``(H, W, 3)``, as decoded (upright,
    8 bits: :func:`inspect_image`) and before any crop, filter or resize. The canonical form:
    ``(H, W, 1)`` and an RGB image whose three channels are equal everywhere (a grey picture
    stored or replicated in three channels) are read as grey ``(H, W)``; the digest is that of
    the ASCII header ``"{H}x{W} uint8\\n"`` (grey) or ``"{H}x{W}x3 uint8\\n"`` (RGB) followed by
    the C-contiguous bytes (row-major, RGB order). Measured here (2 shared cores): 1.6 ms for a
    1024 px grey image, 26 ms for a 3000 x 2000 RGB one, 5-9 % of decoding their PNG; the channel
    check of a colour image stops at a sparse grid (a 256th of the pixels) where it differs.

    Raises:
        ValueError: an array of another dtype or shape (the ingest and the grading hold uint8
            images of these shapes only)."""
    array = np.asarray(pixels)
    if array.dtype != np.uint8 or not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (1, 3))):
        raise ValueError(f"pixels_sha256: a uint8 (H, W) or (H, W, 3) image is expected, got {array.dtype} "
                         f"{array.shape}")
    if array.ndim == 3 and (array.shape[2] == 1 or _identical_channels(array)):
        array = array[..., 0]
    header = "x".join(str(n) for n in array.shape) + " uint8\n"
    digest = hashlib.sha256(header.encode("ascii"))
    digest.update(memoryview(np.ascontiguousarray(array)).cast("B"))
    return digest.hexdigest()


ARRAY_ROW = re.compile(r"^(?P<file>.+\.npz):(?P<key>[^\[\]:]+)\[(?P<index>\d+)\]$", re.IGNORECASE)
"""The one pattern of a manifest path of an image stored as a row of an array file (a MedMNIST
``.npz``): ``retinamnist.npz:test_images[3]`` (``file``, ``key``, ``index``), as
:func:`array_row_path` writes it; the ``.npz`` suffix in any case (the layout's discovery
finds ``X.NPZ`` too). Read by the export (an original picture) and a bundle's pixel digests
(:func:`drac_ssl.grading.training_images.ingest_pixel_digests`)."""


def array_row_path(file_name: str, key: str, index: int) -> str:
    """The manifest path of row ``index`` of the array ``key`` in the ``.npz`` named
    ``file_name``: ``retinamnist.npz:train_images[12]`` (:data:`ARRAY_ROW` reads it back)."""
    return f"{file_name}:{key}[{index}]"


def array_row_pixels(row: np.ndarray) -> np.ndarray:
    """A row of an image array (a MedMNIST ``.npz``: ``(H, W)``, ``(H, W, 1)`` or
    ``(H, W, 3)``) as the ingest holds it: ``(H, W, 1)`` read as grey ``(H, W)``, C-contiguous,
    dtype kept. Its ``tobytes()`` are what the manifest's ``sha256`` of such a row is of (no file
    holds it): :func:`data_prep.cache.process_array_rows` records it, the export's and a
    bundle's checks (:func:`drac_ssl.grading.training_images.ingest_pixel_digests`) compare it."""
    row = np.asarray(row)
    return np.ascontiguousarray(row[..., 0] if row.ndim == 3 and row.shape[2] == 1 else row)


def array_row_image(pixels: np.ndarray, shown: str, channels: int | str | None,
                    grey_is_chosen: bool = False) -> tuple[np.ndarray, list[Problem], bool]:
    """An array row's pixels (:func:`array_row_pixels`, uint8) in the ingest's ``channels``
    (:func:`convert_channels`, ``shown`` naming the row in its problems: ``NAME.npz:KEY[i]``):
    ``(converted, problems, colour)``, ``colour`` whether its three channels differ somewhere
    (:func:`data_prep.decode.channels_differ`). The one decoding of a row: the ingest's
    (:func:`data_prep.cache.process_array_rows`) and the pixel hashes a bundle lists for an
    older manifest (:func:`drac_ssl.grading.training_images.ingest_pixel_digests`), so that
    their ``pixels_sha256`` agree."""
    colour = _decode.channels_differ(pixels)
    converted, problems = convert_channels(pixels, shown, channels, colour, "RGB" if pixels.ndim == 3 else "L",
                                           grey_is_chosen)
    return converted, problems, colour


def decode_image(data: bytes) -> _decode.Decoded:
    """Decode the full image from its bytes (:func:`data_prep.decode.decode`); problems carry
    an empty path, :func:`inspect_image` sets it."""
    return _decode.decode(data, "")


def convert_channels(pixels: np.ndarray, path: str, channels: int | str | None, colour: bool,
                     mode: str = "", grey_is_chosen: bool = False) -> tuple[np.ndarray, list[Problem]]:
    """uint8 ``pixels`` in the channels asked for, saying what was converted.

    ``channels`` 1: colour -> luminance (``cv2.COLOR_RGB2GRAY``, ITU-R BT.601 weights), a
    warning (a note with ``grey_is_chosen``: colour photographs deliberately ingested as grey);
    an RGB file of a grey picture loses nothing (a note). 3: grey -> three identical
    channels, a warning. ``None`` / ``'native'``: as decoded.
    """
    wanted = str(channels) if channels is not None else "native"
    if wanted == "1" and pixels.ndim == 3:
        name = _COLOUR_NAMES.get(mode, "colour")
        detail = "luminance of the colour channels" if colour else "channels identical, nothing lost"
        gray = cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY) if colour else pixels[..., 0]
        if colour and grey_is_chosen:
            return np.ascontiguousarray(gray), [note(
                path, f"{name} image converted to grey ({detail}) as --channels 1 asks",
                "nothing to do; --channels 3 (or auto) keeps the colour", "channels")]
        said = warning if colour else note  # identical channels: nothing is lost
        return np.ascontiguousarray(gray), [said(
            path, f"{name} image (converted to grayscale: {detail})",
            "save it as single-channel 8-bit grayscale PNG, or keep colour with --channels 3 "
            "(or auto)" if colour else "nothing to do", "channels")]
    if wanted == "3" and pixels.ndim == 2:
        return np.repeat(pixels[..., None], 3, axis=2), [warning(
            path, "grey image replicated to 3 identical channels (the model reads colour)",
            "nothing to do if a grey image is meant", "channels")]
    if wanted == "native" and pixels.ndim == 3 and not colour:
        return np.ascontiguousarray(pixels[..., 0]), []
    return pixels, []


UW_OCTA_SIZE_FIX = "use the original {side} x {side} UW-OCTA export"
"""How :func:`size_problem`'s fix starts (:func:`is_uw_octa_size` tells its warnings)."""


def size_problem(path: str, width: int, height: int, expected_side: int | None) -> list[Problem]:
    """A warning for a UW-OCTA image that is not ``expected_side`` square (None: no check).
    Its fix names the ways out: the original export, ``--expected-side`` for a device that
    exports other sizes, ``--modality fundus`` for photographs."""
    if not expected_side or (width, height) == (expected_side, expected_side):
        return []
    return [warning(
        path, f"size {width}x{height}, not {expected_side}x{expected_side} "
              f"(resized to the cache sizes{'' if width == height else ', aspect ratio changed'})",
        f"{UW_OCTA_SIZE_FIX.format(side=expected_side)}; if your device exports other "
        f"sizes, --expected-side 0 (no size check) or --expected-side with their side; if these "
        f"are not UW-OCTA scans (e.g. fundus photographs), --modality fundus", "size")]


ENLARGED_FACTOR = 2.0
"""An image whose longer side the largest cache size enlarges more than this many times is
counted by :func:`enlarged_images_note`."""

ENLARGED_SHARE = 0.10
"""The share of the images above which :func:`enlarged_images_note` says so."""

ENLARGED_SHOWN = 3
"""The smallest images :func:`enlarged_images_note` names."""


def enlarged_images_note(images: Sequence[tuple[str, int, int]], size: int, where: str | Path
                         ) -> list[Problem]:
    """A note when more than :data:`ENLARGED_SHARE` of ``images`` ((name, width, height) of each
    decoded image, px) but not all of them have a longer side that the cache size ``size`` (px,
    the largest) enlarges more than :data:`ENLARGED_FACTOR` times and that is less than the
    largest image's longer side over :data:`ENLARGED_FACTOR` (250 px beside 260 px at a 512 px
    cache: one source's sizes, no note): the count, the range of the
    factors, the smallest images, and why it matters. Images pooled from several sources come
    each at its source's resolution (224 px photographs beside 28 px thumbnails), and the
    resolution, blurred once enlarged, can stand in for the source and so for the grade where
    the sources' grade mixes differ; the model may learn it instead of the lesions. A set
    whose every image is so enlarged is said by the ingest's own note (no detail gained); a
    few small images among large ones are each warned of (a thumbnail or a crop). [] when
    fewer are enlarged, or none decoded."""
    sides = [(max(w, h), name, w, h) for name, w, h in images if w and h]
    largest = max((s[0] for s in sides), default=0)
    # enlarged, and less than half the largest: 250 px beside 260 px at a 512 px cache is one
    # source's sizes, not two resolutions
    enlarged = sorted((s for s in sides if size > ENLARGED_FACTOR * s[0] and ENLARGED_FACTOR * s[0] < largest),
                      key=lambda s: s[0])
    if not sides or len(enlarged) <= ENLARGED_SHARE * len(sides) or len(enlarged) == len(sides):
        return []
    low, high = size / enlarged[-1][0], size / enlarged[0][0]
    factors = f"{high:.2f}x" if f"{low:.2f}" == f"{high:.2f}" else f"{low:.2f}x to {high:.2f}x"
    shown = ", ".join(f"{name} {w}x{h} px" for _, name, w, h in enlarged[:ENLARGED_SHOWN])
    more = ", ..." if len(enlarged) > ENLARGED_SHOWN else ""
    return [note(where, f"{len(enlarged)} of the {len(sides)} images "
                        f"({100 * len(enlarged) / len(sides):.0f}%) are enlarged more than "
                        f"{ENLARGED_FACTOR:g}x to the {size} px cache ({factors}; the smallest: "
                        f"{shown}{more}) while the largest are {largest} px: images of several "
                        f"resolutions, maybe pooled from several sources, and the resolution (a "
                        f"blur once enlarged) can stand in for the source and so for the grade, "
                        f"which a model may learn instead of the lesions",
                 "nothing to do if one source made every size and each grade is spread over "
                 "the sizes; else use each source's full-size images, or check the grades of "
                 "each size (their mix per source) before trusting the scores", "size")]


def is_uw_octa_size(problem: Problem) -> bool:
    """Whether ``problem`` is :func:`size_problem`'s warning (a grey image held to the size of a
    UW-OCTA export), e.g. to drop it for a grey photograph among colour ones."""
    return problem.kind == "size" and problem.fix.startswith(UW_OCTA_SIZE_FIX.split("{")[0])


def inspect_image(data: bytes, path: str, *, channels: int | str | None = 1,
                  expected_side: int | None = EXPECTED_SIDE, grey_is_chosen: bool = False) -> DecodedImage:
    """Decode ``data`` completely into the pixels it means, collecting problems.

    ``channels``: 1 -> uint8 ``(H, W)`` grey (colour converted with a warning; the default,
    what the UW-OCTA pipeline reads), 3 -> ``(H, W, 3)`` RGB (grey replicated with a
    warning), ``None`` -> as the file is (grey stays ``(H, W)``, colour ``(H, W, 3)``).
    ``expected_side``: warn for another size of a grey result (None: no check; an image kept
    in colour, ``channels`` None or 3, is not checked: a photograph, not a UW-OCTA scan).
    ``grey_is_chosen``: colour converted to grey is the user's choice (see
    :func:`convert_channels`).

    Fatal: empty, not an image, truncated, corrupt, unusable samples. Warnings: a conversion
    or a property that cannot be honoured (16-bit, colour, ICC profile ...). Notes: what was
    honoured (Exif orientation applied, bytes after a complete image ignored ...). Never
    raises for bad bytes. See :mod:`data_prep.decode` for every case.
    """
    decoded = decode_image(data)
    problems = [p.at(path) for p in decoded.problems]
    if decoded.pixels is None:
        return DecodedImage(None, mode=decoded.mode, problems=problems,
                            file_format=decoded.file_format)
    pixels, converted = convert_channels(decoded.pixels, path, channels, decoded.colour,
                                         decoded.mode, grey_is_chosen)
    # the expected side is a grey UW-OCTA scan's: an image kept in colour is a photograph
    grey = pixels.ndim == 2
    problems += converted + size_problem(path, decoded.width, decoded.height,
                                         expected_side if grey else None)
    to_grey = converted[0].what if converted and decoded.pixels.ndim == 3 and pixels.ndim == 2 else ""
    return DecodedImage(pixels, decoded.width, decoded.height, decoded.mode, problems,
                        decoded.file_format, decoded.colour, to_grey, decoded.phantom,
                        decoded.colour_share)


# --------------------------------------------------------------------------------------
# The label table


@dataclass(frozen=True)
class LabelRow:
    name: str  # image file name as written in the CSV (basename)
    grade: int | None  # None: the cell is not a valid grade (reported as a problem)
    patient: str
    line: int  # 1-based line in the CSV file (header is line 1)
    written: str = ""  # the grade cell as written (stripped): '1.0', '7', 'x'
    # the folder part of the name cell as written, '/'-separated ('visit2' for 'visit2/e05.jpg',
    # 'C:/PACS/export' for 'C:\\PACS\\export\\e00.jpg'), '' for a plain name: dropped in ``name``
    folder: str = ""
    # what marked the row ungradable beside its grade cell ('adjudicated_gradable 0'), else ''
    marked_by: str = ""
    # the cells of every column but the row's image name, own grade and patient (column, cell as
    # written, stripped), in column order: what tells a row written twice from two rows that
    # merely agree on what identifies a row (the other eye's grade and a gradable column are
    # among them); a header written twice is told by its position ('note (column 3)')
    others: tuple[tuple[str, str], ...] = ()
    # data.referable_from > 0: the ICDR grade this row's two-grade ``grade`` was made of
    # (data_prep.ingest.referable_row), else None
    source_grade: int | None = None


@dataclass
class LabelTable:
    path: Path
    columns: list[str]
    rows: list[LabelRow]
    dialect: str = ""  # 'semicolon-separated, utf-8-sig', for the summary
    # rows whose grade cell says "no grade", left out with data.ungradable=leave_out (file order)
    left_out: list[LabelRow] = field(default_factory=list)
    # (grade, layout name): the grade the layout writes for an ungradable image (DeepDRiD's 5)
    marked_ungradable: tuple[int, str] | None = None
    # the data rows of the file as written (blank lines aside), repeats and ungradable rows
    # included: what "N of the M label rows" counts
    n_rows: int = 0
    # exact repeats of a graded row that drop_repeated_rows left out: (the row, the line of the
    # row kept), file order
    repeats: list[tuple[LabelRow, int]] = field(default_factory=list)
    # the grade column's own words (own_grade_words) when rows of its 'none' were left out as
    # ungradable with no scale given: the left-out note names the --grades that reads 'none'
    # as grade 0 instead, in case it means no retinopathy
    own_words: tuple[str, ...] = ()
    # the codec the file was read with (data_prep.labels.read_table's): one of
    # data_prep.labels.GUESSED_ENCODINGS when it was a guess, its non-ASCII names maybe garbled
    encoding: str = ""
    # the non-ASCII cells that named a file of the folder in the encoding taken
    # (data_prep.labels.reread_matching's count; None: not counted): above 0, that encoding is
    # right and a non-ASCII row without image is only a missing image
    names_matched: int | None = None
    # the column read_labels guessed as a patient id without --patient-column
    # (patient_column_guess, its cells weighed), else None: the warning's and the summary's
    patient_guess: str | None = None

    @property
    def rows_written(self) -> int:
        """The data rows as the file writes them (:attr:`n_rows`; for a table not read from a
        file, its rows, ungradable rows and repeats)."""
        return self.n_rows or len(self.rows) + len(self.left_out) + len(self.repeats)

    def repeat_lines(self, kept: int) -> list[int]:
        """The lines of the :attr:`repeats` of the row at line ``kept`` (file order; [] if none):
        rows as written that share its fate when its image is missing (one lookup: callers ask
        once per missing row)."""
        return list(self._repeats_by_kept.get(kept, ()))

    @functools.cached_property
    def _repeats_by_kept(self) -> dict[int, list[int]]:
        """:attr:`repeats`' lines by the line of the row each repeats, built once."""
        by_kept: dict[int, list[int]] = {}
        for row, line in self.repeats:
            by_kept.setdefault(line, []).append(row.line)
        return by_kept


_OPTIONS = {"image-name": "--image-column", "grade": "--grade-column", "patient": "--patient-column"}


EXCEL_ERROR_CELLS = ("#n/a", "#nv", "#value!", "#ref!", "#div/0!", "#name?", "#null!", "#num!",
                     "#wert!", "#bezug!", "#zahl!")
"""A spreadsheet's error values as a CSV export writes them (Excel's English ``#N/A``,
``#VALUE!``, ``#REF!``, ``#DIV/0!``, ``#NAME?``, ``#NULL!``, ``#NUM!``, German ``#NV``,
``#WERT!``, ``#BEZUG!``, ``#ZAHL!``; lower case): a lookup or formula that found no grade, so
read as no grade (:data:`UNGRADED_CELLS`), as ``nan`` is."""

UNGRADED_CELLS = ("", "na", "n/a", "nan", "none", "null", "-", "?", "ungradable", "ungraded",
                  *EXCEL_ERROR_CELLS)
"""Grade cells that say "no grade" rather than a wrong one (lower case, stripped)."""

LEAVE_OUT_FIX = ("rerun with --ungradable leave_out (every row with no grade is then left out "
                 "with its image, listed in ingest_summary.json)")
"""How an ungraded cell's fix under ``data.ungradable=error`` leaves the image out without
editing the data: the ingest's flag, which ``python -m drac_ssl.train`` says as
``data.ungradable=leave_out``."""


def is_ungraded(cell: str) -> bool:
    """Whether a grade cell says "no grade" (:data:`UNGRADED_CELLS`: empty, ``NA``, ``nan`` ...,
    any case, spaces and quotes around it ignored): the one rule by which the ingest and the
    preflight either report a row (``data.ungradable=error``) or leave it out (``leave_out``)."""
    return cell.strip().strip('"').strip().lower() in UNGRADED_CELLS


UNGRADED_WORDS = "an empty or NA grade cell"
"""What a row marked ungradable holds, in the ingest's words (:func:`ungraded_words`)."""


def ungraded_words(rows: Sequence[LabelRow], marked: tuple[int, str] | None = None) -> str:
    """What the ungradable ``rows`` hold, in words: :data:`UNGRADED_WORDS`, and, when one of
    them writes a layout's ungradable grade (``marked``: grade, layout name, DeepDRiD's 5),
    ``, or DeepDRiD's grade 5``; when some were marked by a gradable column
    (:attr:`LabelRow.marked_by`, :func:`gradable_column_of`), ``, or adjudicated_gradable 0``;
    ``, or 'none'`` when one writes ``none`` (:data:`GRADE_ZERO_WORDS`: elsewhere a grade's
    name)."""
    words = UNGRADED_WORDS
    zero = next((row.written for row in rows if _name_key(row.written) in GRADE_ZERO_WORDS), None)
    if zero is not None:  # a grade-0 name elsewhere: said as written
        words += f", or {zero!r}"
    if marked is not None and any(parse_grade(row.written) == marked[0] for row in rows):
        words += f", or {marked[1]}'s grade {marked[0]}"
    for by in dict.fromkeys(row.marked_by for row in rows if row.marked_by):
        words += f", or {by}"
    return words


def not_a_grade_column(table: Table, column: str, avoid: Sequence[str] = (),
                       names_a_file: Callable[[str], bool] | None = None,
                       grade_names: Sequence[str] = ()) -> Problem:
    """The error of a grade column given that is no grade on the scale ``grade_names``
    (:func:`data_prep.labels.refused_grade_column`): Messidor-2's ``adjudicated_gradable`` (1
    gradable, 0 not), read as grades, would train each ungradable photograph as grade 0; a DME
    column (:data:`data_prep.labels.DME_COLUMNS`) on a DR scale would give each image a DR grade
    from its macular oedema. The fix names the column of DR grades
    (:func:`data_prep.labels.column_suggestion`) where there is one, and for a DME column how to
    grade DME instead (its own number of grades in ``--grades``)."""
    meant = column_suggestion(table, "", "grade", [column, *avoid], names_a_file)
    fix = (f"to grade DR, pass the column of DR grades, --grade-column {meant!r}" if meant
           else "to grade DR, pass the column of DR grades with --grade-column NAME")
    if k := dme_grades(column):
        names = ("[no DME, DME]" if k == 2 else
                 "[" + ", ".join(["no DME risk", *(f"DME risk {g}" for g in range(1, k))]) + "]")
        scale = next((f"--grades {n}" for n, g in GRADE_SCALES.items() if tuple(g) == tuple(grade_names)),
                     f"a scale of {len(grade_names)} grades")
        return error(table.path, f"the grade column {column!r} holds diabetic macular oedema (DME, "
                                 f"{k} grades, 0..{k - 1}), which {scale} does not grade: each image "
                                 "would be trained on its DME finding as if it were that scale's grade",
                     f"{fix}; to grade DME instead, keep --grade-column {shlex.quote(column.strip())} and give "
                     f"its {k} grades, --grades \"{names}\"", "csv")
    fix = fix.removeprefix("to grade DR, ")
    fix += (f"; {column} itself is read beside it, whatever the grade column: a row marked 0 "
            "is an ungradable row (--ungradable leave_out leaves it out)")
    return error(table.path, f"the grade column {column!r} says whether each image is gradable (1) "
                             "or not (0): read as grades, an ungradable photograph would be trained "
                             "as grade 0", fix, "csv")


def gradable_column_of(columns: Sequence[str], read: Sequence[str] = ()) -> str | None:
    """The column of ``columns`` that says whether each image is gradable
    (:data:`data_prep.layout.GRADABLE_COLUMNS`: Messidor-2's ``adjudicated_gradable``), as the
    header writes it (names compared as :func:`normalise` compares them), else None; never
    one of ``read`` (a column given for another role)."""
    wanted = {normalise(c) for c in GRADABLE_COLUMNS.values()} - {normalise(c) for c in read if c}
    return next((c for c in columns if normalise(c) in wanted), None)


GRADABLE_FIX = ("rerun with --ungradable leave_out (every row marked ungradable, by {column} 0 "
                "or by no grade, is then left out with its image, listed in ingest_summary.json), "
                "or, if the grade holds, set its {column} to 1; or delete the row and move the "
                "image out of the folder")
"""The fix for rows a gradable column marks ungradable (:func:`flagged_ungradable_problem`)."""


GRADABLE_UNKNOWN_CELLS = tuple(c for c in UNGRADED_CELLS if c not in ("ungradable", "ungraded"))
"""Cells of a gradable column that say nothing (empty, ``NA``, ``nan``, ``none`` ...: those of
:data:`UNGRADED_CELLS` but the words that would say ungradable, which are no 0 either)."""


def gradable_mark(cell: str) -> int | None:
    """What a gradable column's cell (:func:`gradable_column_of`: Messidor-2's
    ``adjudicated_gradable``) says: 1 (gradable) or 0 (ungradable), quotes and spaces around it
    ignored; None for a cell that says nothing (:data:`GRADABLE_UNKNOWN_CELLS`: empty, ``NA``,
    ``nan`` as pandas writes a missing value, any case), as :func:`is_ungraded` reads a grade
    cell: the grade cell then decides. The one reading of the ingest, the preflight
    (:func:`read_labels`) and the scorer (:func:`drac_ssl.scoring.read_grade_labels`).

    Raises:
        ValueError: the cell holds anything else (:func:`gradable_mark_problem` says it)."""
    mark = cell.strip().strip('"').strip()
    if mark.lower() in GRADABLE_UNKNOWN_CELLS:
        return None
    value = parse_grade(mark)
    if value not in (0, 1):
        raise ValueError(f"gradable mark {mark!r} is neither 1 nor 0")
    return value


def gradable_mark_problem(where: str, name: str, column: str, cell: str) -> Problem:
    """The error of a gradable column's cell that :func:`gradable_mark` cannot read (``where``:
    FILE:LINE, ``name`` the row's image), in the ingest's and the scorer's words."""
    mark = cell.strip().strip('"').strip()
    return error(where, f"{column} {mark!r} of {name} is neither 1 (gradable) nor 0 (ungradable)",
                 f"write 1 or 0 in {column} (or leave the cell empty, or NA, if not known)", "grade")


GRADABLE_SCORE_FIX = ("delete those rows and the submission's rows of their images: an image its "
                      "graders found ungradable has no true grade to score against; or, if the "
                      "grade holds, set its {column} to 1")
"""The scorer's fix for rows a gradable column marks ungradable (:func:`flagged_ungradable_problem`),
as for a layout's ungradable grade (DeepDRiD's 5)."""


def flagged_ungradable_problem(csv_path: Path, rows: Sequence[LabelRow], column: str,
                               fix: str = GRADABLE_FIX) -> Problem:
    """The error of the label rows (``rows``, at least one) that ``column`` (a gradable column,
    :func:`gradable_column_of`) marks ungradable (0), under ``data.ungradable=error``: a grade
    beside the mark is not trained on (a graded row marked ungradable would otherwise be
    trained on without a word), nor scored (``fix``: :data:`GRADABLE_SCORE_FIX`, the scorer's;
    ``{column}`` in it is filled in). One row: at its line; several: one error of the file
    with two example rows and how many of them have a grade."""
    fix = fix.format(column=column)
    graded = [row for row in rows if not is_ungraded(row.written)]

    def grade_words(row: LabelRow) -> str:
        return f", although its grade cell holds {row.written!r}" if row in graded else ""

    if len(rows) == 1:
        row = rows[0]
        return error(f"{csv_path}:{row.line}", f"{row.name} is marked ungradable ({column} 0)"
                                               f"{grade_words(row)}", fix, "grade")
    examples = " and ".join(f"line {row.line} ({row.name})" for row in rows[:2])
    with_grade = (f"; {len(graded)} of them {'has' if len(graded) == 1 else 'have'} a grade "
                  "beside the mark" if graded else "")
    return error(csv_path, f"{len(rows)} rows are marked ungradable ({column} 0), e.g. "
                           f"{examples}{with_grade}", fix, "grade")


def marked_ungradable_problem(csv_path: Path, rows: Sequence[LabelRow], marked: tuple[int, str],
                              grade_names: Sequence[str], fix: str | None = None) -> Problem:
    """The error of the label rows (``rows``, at least one) whose grade is the one their layout
    writes for an ungradable image (``marked``: grade, layout name; DeepDRiD's regular set
    writes 5, beyond ICDR's 0..4), under ``data.ungradable=error``: no grade scale fixes
    them, so the fix is :data:`LEAVE_OUT_FIX` (never six names in ``--grades``), or ``fix``
    (the scorer's). One row: at its line; several: one error of the file with two example
    rows."""
    grade, layout = marked
    label = f"{layout}'s label for an image its graders found ungradable"
    fix = fix or (f"{LEAVE_OUT_FIX}, or write the grade of each such image ({choices(grade_names)}), "
                  "or delete those rows and move their images out of the folder")
    if len(rows) == 1:
        return error(f"{csv_path}:{rows[0].line}", f"{rows[0].name} has grade {grade}, {label}",
                     fix, "grade")
    examples = " and ".join(f"line {row.line} ({row.name})" for row in rows[:2])
    return error(csv_path, f"{len(rows)} rows have grade {grade}, {label}, e.g. {examples}",
                 fix, "grade")


def five_may_be_ungradable(columns: Sequence[str], grade_names: Sequence[str]) -> bool:
    """Whether a grade 5 in a label file with ``columns`` read on ``grade_names`` may be the
    mark DeepDRiD and DDR write for an ungradable image (:data:`data_prep.layout.ICDR_UNGRADABLE_GRADE`):
    the scale is ICDR's 5 grades, and no column is the grade column of a public layout that
    never writes 5 (APTOS's ``diagnosis``, EyePACS's ``level``, IDRiD's ``Retinopathy grade``,
    Messidor-2's ``adjudicated_dr_grade``: there a 5 is a slip or a 1-based PDR)."""
    if len(grade_names) != len(GRADE_SCALES["icdr"]):
        return False
    return not ({icdr_grade_column(c) for c in columns} - {"", *UNGRADABLE_GRADES})


def ungradable_five_way(n_rows: int) -> str:
    """The ingest's way out for ``n_rows`` rows whose 5 marks an ungradable image: NA in their
    grade cells and ``--ungradable leave_out`` (a 5 itself stays an error outside DeepDRiD's
    layout, leave_out or not: a stray 5 or a 1-based PDR is never left out unseen)."""
    cells = "that row's grade cell" if n_rows == 1 else "those rows' grade cells"
    return (f"write NA (or leave the cell empty) in {cells} and rerun with --ungradable "
            "leave_out, which leaves ungradable images out, not as a grade of its own")


def layout_ungradable_fix(columns: Sequence[str], outside: Sequence[tuple[int, str, str, int]],
                          grade_names: Sequence[str], fix: str, values: Collection[int]) -> str:
    """The fix for rows ``outside`` the scale (line, name, cell, grade) whose grade is the one a
    layout writes for an ungradable image (:data:`data_prep.layout.UNGRADABLE_GRADES`:
    DeepDRiD's 5; :data:`data_prep.layout.ICDR_UNGRADABLE_GRADE`: DDR's too), read outside that
    layout (a flat copy of a DeepDRiD set, its eye columns merged as docs/data.md says, DDR's
    lines made a CSV, read as a plain folder): the grade is no sixth grade, the rows are
    ungradable images, written NA and left out with ``--ungradable leave_out``. Said outright
    when the CSV has the layout's eye columns (:data:`data_prep.layout.EYE_COLUMNS`), as a
    reading before ``fix`` (the scale fix otherwise given) when the scale is ICDR's 5 grades
    and no column is a public layout's that never writes 5 (:func:`five_may_be_ungradable`);
    Labels 0..5 on a scale of other than 5 grades (the plain folder's default, DRAC's 3: DDR's
    labels read without ``--grades``) are told ``--grades icdr``, NA and ``--ungradable leave_out`` first.
    ``''`` when none of these, when some rows outside have another grade (on ICDR), or when no
    row is graded 0 (``values``, the CSV's integer grades: labels 1..5 get
    :func:`one_based_problem`)."""
    if not outside or 0 not in values:
        return ""
    per_eye = eye_columns_in(columns)
    said = ungradable_five_way(len(outside))
    for kind, marked in UNGRADABLE_GRADES.items():
        if kind in per_eye and all(grade == marked for *_, grade in outside):
            name = LAYOUT_NAMES[kind]
            return (f"grade {marked} is {name}'s label for an image its graders found ungradable: "
                    f"{said} (docs/data.md's merge of the eye columns maps {marked} to NA, {name})")
    if (all(grade == ICDR_UNGRADABLE_GRADE for *_, grade in outside)
            and five_may_be_ungradable(columns, grade_names)):
        return (f"if grade {ICDR_UNGRADABLE_GRADE} marks an image its graders found ungradable "
                f"({ICDR_UNGRADABLE_WHOSE} label for one), {said}; else {fix}")
    icdr = GRADE_SCALES["icdr"]
    if (len(grade_names) != len(icdr) and min(values) >= 0 and max(values) == ICDR_UNGRADABLE_GRADE
            and five_may_be_ungradable(columns, icdr)):
        # 0..5 on another scale (the plain folder's default, DRAC's 3): DDR's labels, never 6 names first
        return (f"if these are ICDR grades (0..4) whose {ICDR_UNGRADABLE_GRADE} marks an image its "
                f"graders found ungradable ({ICDR_UNGRADABLE_WHOSE} label for one), pass --grades "
                f"icdr, write NA (or leave the cell empty) in the grade cells of the rows graded "
                f"{ICDR_UNGRADABLE_GRADE} and rerun with --ungradable leave_out, which leaves "
                f"ungradable images out, not as a grade of its own; else {fix}")
    return ""


def scale_fix(grade_names: Sequence[str], values: Collection[int]) -> str:
    """The fix for grades outside 0..K-1 (``K = len(grade_names)``), given the set's integer
    grades ``values``: labels 0..K (one grade more than named) are told to give K+1 names,
    and ICDR is named only where it fits: 5 grades written 0..4 (never to a 2-grade scale)."""
    k = len(grade_names)
    low, high = min(values, default=0), max(values, default=0)
    icdr = _icdr_fits(grade_names, low, high)
    example = ", e.g. icdr for the 5 ICDR grades" if icdr else ""
    if low >= 0 and high == k:
        return (f"use {choices(grade_names)}, or, if the labels have {k + 1} grades "
                f"(0..{k}), give {k + 1} names in --grades{example}")
    return f"use {choices(grade_names)}, or set --grades to the scale of these labels{example}"


def _icdr_fits(grade_names: Sequence[str], low: int, high: int) -> bool:
    """Whether labels ``low..high`` on ``grade_names`` may be the 5 ICDR grades: written 0..4,
    read on a scale that is neither ICDR nor one of 2 or 5 grades."""
    k = len(grade_names)
    return low >= 0 and high == 4 and k not in (2, 5) and tuple(grade_names) != GRADE_SCALES["icdr"]


STRAY_SHARE = 0.10
"""Rows outside the scale, as a share of the rows with a number grade, below which they read
as slips of those rows (:func:`file_scale_fix`)."""


def stray_grades(grade_names: Sequence[str], values: Collection[int], n_outside: int,
                 n_graded: int) -> bool:
    """Whether a label CSV's rows outside 0..K-1 read as slips of those rows rather than as
    labels on a wider scale, so that correcting the rows is the first fix: they are few (under
    :data:`STRAY_SHARE` of the ``n_graded`` rows with a number grade), or they are a minority
    (under half of those rows) whose grades skip a grade above the scale (7 and 9 on 0..4
    with no 5, 6 or 8: a wider scale would not leave those empty). Never when every graded row
    is outside the scale (those are the scale, not slips; also when ``n_graded`` is 0,
    unknown), nor when the labels run 0..4 on a scale ICDR may replace (:func:`_icdr_fits`),
    a grade missing among them included (ICDR labels without a grade 3 are no slip): a
    5-grade set's top grades can be under 10 % of its rows (EyePACS's levels 3 and 4 are
    about 4.5 %), and ``--grades icdr`` is then the fix."""
    k = len(grade_names)
    if n_outside >= n_graded:
        return False
    low, high = min(values, default=0), max(values, default=0)
    if _icdr_fits(grade_names, low, high):
        return False
    above = {v for v in values if v >= k}
    gap = bool(above) and len(above) < max(above) - k + 1
    return (gap and 2 * n_outside < n_graded) or n_outside < STRAY_SHARE * n_graded


def file_scale_fix(grade_names: Sequence[str], values: Collection[int], n_outside: int = 0,
                   n_graded: int = 0) -> str:
    """The fix for a label CSV with several rows outside 0..K-1, given the set's integer grades
    ``values``, the ``n_outside`` rows outside and the ``n_graded`` rows with a number grade:
    the scale of these labels first (``--grades icdr`` where the labels run 0..4 and
    :func:`_icdr_fits`; else K' names, one per grade 0..max), correcting the rows last; the
    other way round when the rows outside read as slips (:func:`stray_grades`). Two grades and
    labels up to 3 or 4 (ICDR labels for a referable-DR model): ``--referable-from 2``
    (``data.referable_from``) first, and no advice to correct the rows, which would leave ICDR
    1 (mild) as grade 1, however few the rows outside (a screening set's few ICDR >= 2 rows
    would otherwise read as slips)."""
    rows = f"correct the rows to {choices(grade_names)}"
    low, high = min(values, default=0), max(values, default=0)
    if low < 0:
        return (f"{rows} (grades start at 0 here), or renumber the grades from 0 and give one "
                "name per grade with --grades")
    n = high + 1
    names = (", ".join(f"NAME{g}" for g in range(n)) if n <= 8
             else f"NAME0, NAME1, ..., NAME{high}")
    named = f'give {n} names, one per grade 0..{high}: --grades "{names}"'
    if _icdr_fits(grade_names, low, high):
        scale = f"if these are the 5 ICDR grades (0..4), pass --grades icdr; else {named}"
    else:
        scale = f"if the labels have {n} grades (0..{high}), {named}"
    # ICDR labels for a referable-DR model: map them, never edit. Before the slips' advice: on a
    # screening set few rows are ICDR >= 2, which would read as slips to correct to 0 or 1 by hand
    if len(grade_names) == 2 and 3 <= high <= 4:
        return (f"if these are ICDR grades (0..4), --referable-from 2 makes the two grades of them: "
                f"grade 1 ({grade_names[1]}) = ICDR grade >= 2 (moderate NPDR or worse), grade 0 "
                f"({grade_names[0]}) = ICDR 0 or 1 (do not edit the rows to 0 or 1 by hand: ICDR 1, mild, "
                f"would stay 1); or, {scale}")
    if stray_grades(grade_names, values, n_outside, n_graded):
        return f"{rows}; or, {scale}"
    return f"{scale}; or {rows}"


VALUES_SHOWN = 6
"""Distinct out-of-scale grades a label CSV's one problem names (the rest are counted)."""


TOTAL_ROW_WORDS = frozenset({"gesamt", "summe", "total", "totals", "sum", "insgesamt", "totaal",
                             "totale", "somme", "suma", "n", "anzahl", "count", "σ"})
"""Image-name cells of a spreadsheet's total row (``Gesamt;30`` under a column of grades): no
image's row; :func:`outside_problem` names such a row ``a total row?``."""


def total_row(name: str) -> bool:
    """Whether an image-name cell is the label of a spreadsheet total row (:data:`TOTAL_ROW_WORDS`,
    letter case, a colon and spaces aside: ``Gesamt``, ``Summe:``, ``TOTAL``)."""
    return name.strip().rstrip(":").strip().casefold() in TOTAL_ROW_WORDS


def outside_problem(csv_path: Path, outside: Sequence[tuple[int, str, str, int]],
                    grade_names: Sequence[str], values: Collection[int],
                    n_graded: int = 0, scale_given: bool = True) -> Problem | None:
    """The error for the rows ``outside`` (line, image name, grade cell, grade) of a label CSV
    whose grades are outside 0..K-1: one row, its own line (:func:`grade_problem`, a slip of
    that row); several, one problem of the file (a 5-grade CSV on the 3-grade default is one
    finding, not a line per row): how many rows, which grades (with their rows), two example
    rows with their CSV line numbers, the rarest grade's first (a typo among whole grades
    outside is the row to look at; a total row, :func:`total_row`, is named so), and
    :func:`file_scale_fix` (``n_graded``: the file's rows with a number grade, inside the scale
    or not). ``scale_given``: the scale is ``--grades``' (else the layout's default, said so).
    None when ``outside`` is empty."""
    if len(outside) < 2:
        return next((grade_problem(f"{csv_path}:{line}", name, raw, grade, grade_names, values,
                                   scale_words="--grades" if scale_given else "the default scale")
                     for line, name, raw, grade in outside), None)
    per_grade: dict[int, int] = {}
    for _, _, _, grade in outside:
        per_grade[grade] = per_grade.get(grade, 0) + 1
    listed = [f"{g} ({counted(n, 'row')})" for g, n in sorted(per_grade.items())]
    if len(listed) > VALUES_SHOWN:
        listed = listed[:VALUES_SHOWN] + [f"{len(listed) - VALUES_SHOWN} more values"]
    grades = ", ".join(listed[:-1]) + f" and {listed[-1]}" if len(listed) > 1 else listed[0]
    # the rows most likely slips first: the rarest grade, of two as rare the one farther off the scale
    rarest = sorted(per_grade, key=lambda g: (per_grade[g], -abs(g)))
    first = next(row for row in outside if row[3] == rarest[0])
    second = (next(row for row in outside if row[3] == rarest[1]) if len(rarest) > 1
              else next(row for row in outside if row is not first))

    def example(line: int, name: str, raw: str, grade: int) -> str:
        total = ": a total row?" if total_row(name) else ""
        return f"line {line} ({name}, grade {grade_as_written(raw, grade)}{total})"
    examples = " and ".join(example(*row) for row in (first, second))
    scale = "{" + ", ".join(str(g) for g in range(len(grade_names))) + "}"
    whose = "the scale of --grades" if scale_given else "the default scale"
    return error(csv_path, f"{len(outside)} rows have a grade outside {scale}, {whose} "
                           f"({describe(grade_names)}): {grades}, e.g. {examples}",
                 file_scale_fix(grade_names, values, len(outside), n_graded), "grade")


def no_grade_words(name: str, raw: str, eye_column: str = "") -> str:
    """``NAME has no grade (an empty cell; an ungradable image?)`` for an ungraded cell ``raw``
    (:func:`is_ungraded`); ``eye_column``: the column read for a per-eye row (DeepDRiD's
    ``right_eye_DR_Level`` for ``1_r1``, chosen by the image id, :func:`own_eye_cell`), named
    (``has no grade in its eye's column 'right_eye_DR_Level' (...)``). The ingest's and the
    scorer's words."""
    cell = ("an empty cell" if not raw.strip() else
            f"{raw.strip()!r}, a spreadsheet error value" if raw.strip().lower() in EXCEL_ERROR_CELLS
            else repr(raw.strip()))
    column = f" in its eye's column {eye_column!r}" if eye_column else ""
    return f"{name} has no grade{column} ({cell}; an ungradable image?)"


def grade_zero_words(name: str, raw: str, grade_names: Sequence[str]) -> str:
    """``grade 'none' of NAME is read as a grade's name (no retinopathy), not as an ungradable
    image, ...``, for a cell of :data:`GRADE_ZERO_WORDS` in a grade
    column of words (:func:`own_grade_words`)."""
    return (f"grade {raw.strip()!r} of {name} is read as a grade's name (no retinopathy), not as "
            f"an ungradable image, since the grade column writes its grades as words; the scale "
            f"({', '.join(grade_names)}) has no grade of that name")


def grade_problem(where: str, name: str, raw: str, grade: int | None,
                  grade_names: Sequence[str], values: Collection[int] = (),
                  eye_column: str = "", scale_words: str = "--grades") -> Problem | None:
    """The error for a grade cell that is not one of 0..K-1 (None when it is). ``values``:
    the integer grades of the whole set, which choose the fix (:func:`scale_fix`; ``grade``
    alone when empty). ``eye_column``: the column the cell was read from when a per-eye row
    chose it (:func:`no_grade_words` names it). ``scale_words``: whose scale it is, for a grade
    outside it (``--grades``; ``the default scale`` when none was given)."""
    k = len(grade_names)
    if grade is None and is_ungraded(raw):
        # empty or NA: most often an image the graders marked ungradable; no grade scale fixes it
        return error(where, no_grade_words(name, raw, eye_column),
                     f"write its grade ({choices(grade_names)}), or, to leave an ungradable image "
                     f"out, {LEAVE_OUT_FIX} or delete the row and move the image out of the folder",
                     "grade")
    if grade is None and date_cell(raw):  # '02.Jan': a typed 2.1 (or 1/2) turned into a date
        return error(where, f"grade {raw.strip()!r} of {name} is a date: the spreadsheet program "
                            "turned the cell into one (a grade typed as 2.1 or 1/2?)",
                     "format the grade column as Number or Text in the spreadsheet program and "
                     f"type the grade again ({choices(grade_names)}), then save the CSV again", "grade")
    if grade is None:
        named = (f" nor the name of a grade of the scale ({', '.join(grade_names)})"
                 if is_grade_word(raw) else "")
        if ambiguous := ambiguous_grades(raw, grade_names):  # 'non-proliferative' on ICDR's
            named = (f" nor the name of one grade of the scale ({', '.join(grade_names)}): "
                     f"{_could_be(raw, grade_names, ambiguous)}, so it is not read as any of them")
        if not named and (re.search(r"\d", raw) or not is_grade_word(raw)):
            # '1_0', '1 0', '2e0', 'inf', '¹': not read as 10, 2, 2, a grade, 1
            return error(where, f"grade {raw.strip()!r} of {name} is not a plain whole number "
                                f"(digits only, or a decimal point or comma before zeros: "
                                f"'2', '2.0', '2,0')",
                         f"write the grade as a plain number ({choices(grade_names)})", "grade")
        return error(where, f"grade {raw.strip()!r} of {name} is not an integer{named}",
                     f"use {choices(grade_names)}, or the name of a grade as --grades writes it "
                     f"({', '.join(grade_names)})", "grade")
    if not 0 <= grade < k:
        listed = "{" + ", ".join(str(g) for g in range(k)) + "}"
        return error(where, f"grade {grade_as_written(raw, grade)} of {name} is outside {listed} ({scale_words}: "
                            f"{describe(grade_names)})", scale_fix(grade_names, values or (grade,)), "grade")
    return None


GRADE_NAME_ALIASES: dict[str, tuple[str, ...]] = {
    "no dr": ("no apparent retinopathy", "no diabetic retinopathy", "no retinopathy", "no apparent dr"),
    "mild": ("mild npdr", "mild nonproliferative", "mild nonproliferative dr",
             "mild nonproliferative diabetic retinopathy"),
    "moderate": ("moderate npdr", "moderate nonproliferative", "moderate nonproliferative dr",
                 "moderate nonproliferative diabetic retinopathy"),
    "severe": ("severe npdr", "severe nonproliferative", "severe nonproliferative dr",
               "severe nonproliferative diabetic retinopathy"),
    "pdr": ("proliferative", "proliferative dr", "proliferative diabetic retinopathy"),
    "npdr": ("nonproliferative", "nonproliferative dr", "nonproliferative diabetic retinopathy"),
}
"""The common long names of the ICDR grades (and DRAC's NPDR / PDR) that a label CSV may write
for a grade of that short name (``Proliferative DR`` for ``PDR``, ``non-proliferative`` for
``NPDR``): :func:`grade_from_name` reads them as that grade, whatever the scale that names it,
and a grade named by one of them (``--grades "none,non-proliferative,proliferative"``) takes
the short name and the other long names too (``NPDR`` is its grade 1): :func:`_name_keys`.
Compared as :func:`_name_key` compares (case, spaces, hyphens and underscores ignored:
``Non-proliferative``, ``non proliferative`` and ``nonproliferative`` are one name). The bare
``non-proliferative`` is DRAC's NPDR; on the ICDR scale it is Mild, Moderate or Severe, and so
no grade (:data:`AMBIGUOUS_GRADE_NAMES`)."""

AMBIGUOUS_GRADE_NAMES: dict[str, tuple[str, ...]] = {"npdr": ("mild", "moderate", "severe")}
"""Names (with their long names, :data:`GRADE_NAME_ALIASES`) that alone mean any of several
grades of a finer scale: NPDR, ``non-proliferative``, is ICDR's Mild, Moderate or Severe NPDR
(Wilkinson et al. 2003). On a scale that names two or more of those grades and no grade by that
name, such a cell is read as no grade, and said to be ambiguous (:func:`ambiguous_grades`);
it is never matched to one of them."""

NEAR_NAME = 0.75
"""difflib's ratio at or above which a word is a misspelling of a grade name (``sever`` for
``Severe``), unless :func:`_near_grade` finds it is not."""

NEGATIONS = ("non", "not", "no")
"""Prefixes that turn a grade's name into another grade's (``non-proliferative`` is not PDR),
compared as :func:`_name_key` compares (``not proliferative`` is ``notproliferative``)."""

GRADE_ZERO_WORDS = ("none",)
"""Cells of :data:`UNGRADED_CELLS` that are also a grade-0 name (``none``, no retinopathy): in a
grade column of words, beside other grade words and no number, with no grade scale given and
ungradable rows not left out, they are read as a grade's name, not as an ungradable image
(:func:`own_grade_words`, :func:`zero_words_named`)."""


def _name_key(word: str) -> str:
    """A grade name as grade names are compared: case, quotes, spaces, hyphens and underscores
    ignored."""
    return re.sub(r"[\s_\-]+", "", word.strip().strip('"').casefold())


@functools.lru_cache(maxsize=256)
def _name_keys(name: str) -> frozenset[str]:
    """The keys (:func:`_name_key`) that name the grade called ``name``: its own and, when it is
    a short or a long name of :data:`GRADE_NAME_ALIASES`, the short name and all its long names
    (``PDR``, ``proliferative``, ``proliferative DR`` ...)."""
    own = _name_key(name)
    for short, longs in GRADE_NAME_ALIASES.items():
        group = frozenset({_name_key(short), *(_name_key(a) for a in longs)})
        if own in group:
            return group
    return frozenset({own} if own else ())


def grade_from_name(raw: str, grade_names: Sequence[str]) -> int | None:
    """The grade whose name (``data.grades``) the cell ``raw`` writes, ignoring case, the
    spaces and quotes around both and the spaces, hyphens and underscores inside (``' Severe '``
    -> 3 on ``[none, mild, moderate, severe]``), or one of its common long names
    (:data:`GRADE_NAME_ALIASES`: ``Proliferative DR`` -> 4 on the ICDR scale, ``Non-proliferative``
    -> 1 on DRAC's), else None. A grade's own name wins over another grade's long name."""
    word = _name_key(raw)
    if not word:
        return None
    for g, name in enumerate(grade_names):
        if word == _name_key(str(name)):
            return g
    return next((g for g, name in enumerate(grade_names) if word in _name_keys(str(name))), None)


def ambiguous_grades(raw: str, grade_names: Sequence[str]) -> list[int]:
    """The grades of ``grade_names`` that the cell ``raw`` may each mean when it is an ambiguous
    name there (:data:`AMBIGUOUS_GRADE_NAMES`: ``non-proliferative`` on the ICDR scale -> [1, 2,
    3]), else [] (a name of one grade, ``non-proliferative`` on DRAC's, or no such name)."""
    if grade_from_name(raw, grade_names) is not None:
        return []
    word = _name_key(raw)
    for short, meant in AMBIGUOUS_GRADE_NAMES.items():
        if word in _name_keys(short):
            grades = sorted({g for m in meant if (g := grade_from_name(m, grade_names)) is not None})
            if len(grades) >= 2:
                return grades
    return []


def _could_be(raw: str, grade_names: Sequence[str], grades: Sequence[int]) -> str:
    """``it could be grade 1 (Mild), 2 (Moderate) or 3 (Severe)`` for :func:`ambiguous_grades`."""
    parts = [f"{g} ({grade_names[g]})" for g in grades]
    return f"it could be grade {', '.join(parts[:-1])} or {parts[-1]}"


def _known_terms(grade_names: Sequence[str]) -> frozenset[str]:
    """Every grade name this package knows, as keys: the names of the named scales
    (:data:`GRADE_SCALES`), of :data:`GRADE_NAME_ALIASES`, and ``grade_names``."""
    terms = {_name_key(n) for scale in GRADE_SCALES.values() for n in scale}
    terms |= {k for short in GRADE_NAME_ALIASES for k in _name_keys(short)}
    terms |= {k for n in grade_names for k in _name_keys(str(n))}
    return frozenset(t for t in terms if t)


def _short_names(grade_names: Sequence[str]) -> frozenset[str]:
    """The short grade names this package knows, as keys: those of :data:`GRADE_NAME_ALIASES`
    and of the named scales (:data:`GRADE_SCALES`), and ``grade_names``."""
    names = {_name_key(n) for n in (*GRADE_NAME_ALIASES, *grade_names)}
    names |= {_name_key(n) for scale in GRADE_SCALES.values() for n in scale}
    return frozenset(n for n in names if n)


def _negates(word: str, keys: Collection[str]) -> bool:
    """Whether the key ``word`` is one of ``keys`` (a grade's names), or near one, behind a
    negating prefix (:data:`NEGATIONS`): ``nonproliferative`` for ``proliferative``. A name
    that itself starts with such a prefix (``nodr``, ``noreferabledr``) is not negated by it."""
    plain = [k for k in keys if not k.startswith(NEGATIONS)]
    for prefix in NEGATIONS:
        rest = word[len(prefix):] if word.startswith(prefix) else ""
        if rest and plain and (rest in plain or difflib.get_close_matches(rest, plain, n=1, cutoff=NEAR_NAME)):
            return True
    return False


def _near_grade(word: str, grade_names: Sequence[str]) -> int | None:
    """The grade of ``grade_names`` whose name (or common long name,
    :data:`GRADE_NAME_ALIASES`) ``word`` looks misspelt from: difflib ratio >= :data:`NEAR_NAME`
    (``sever`` for ``Severe``), the nearest that is not ruled out, else None. Ruled out, since no
    suggestion is better than the opposite one:

    * every name, for a word ambiguous on this scale (:func:`ambiguous_grades`);
    * a name that holds a short grade name the word neither holds nor is near
      (:func:`_short_names`): a more specific name than the word, not its spelling
      (``mild non-proliferative DR`` for ``non-proliferative``, a word the ICDR scale cannot
      place);
    * a grade the word names behind a negating prefix (:func:`_negates`: ``non-proliferative``
      is not PDR, although the ratio with ``proliferative`` is 0.90);
    * a grade whose names do not hold a known grade name that the word holds (:func:`_known_terms`:
      ``npdr`` holds NPDR, no name of ``No DR`` does, so it is not ``No DR``'s misspelling)."""
    w = _name_key(word)
    if not w or ambiguous_grades(word, grade_names):
        return None
    own = [_name_keys(str(n)) for n in grade_names]
    grade_of: dict[str, int] = {}
    for g, keys in enumerate(own):
        for key in sorted(keys):
            grade_of.setdefault(key, g)
    terms, shorts = _known_terms(grade_names), _short_names(grade_names)
    for key in difflib.get_close_matches(w, list(grade_of), n=len(grade_of), cutoff=NEAR_NAME):
        g = grade_of[key]
        if any(s in key and s not in w and not difflib.get_close_matches(w, [s], cutoff=NEAR_NAME)
               for s in shorts):
            continue  # 'mildnonproliferativedr' adds Mild to 'nonproliferative'
        if _negates(w, own[g]):
            continue
        if any(t in w and not any(t in k for k in own[g]) for t in terms):
            continue
        return g
    return None


_GRADE_WORD = re.compile(r"[^\W\d_]")
"""A grade cell with a letter in it is a word (``Referable``), not a mistyped number."""

_NUMBER_WORD = re.compile(r"[+-]?(?:inf(?:inity)?|nan)", re.IGNORECASE)
"""A cell Python's ``float`` reads as a number though it has letters (``inf``, ``-Infinity``)."""


def is_grade_word(cell: str) -> bool:
    """Whether a grade cell is a word (``Referable``, ``R1``): it has a letter, and is not a
    number in other spelling, i.e. neither a float word (:data:`_NUMBER_WORD`: ``inf``) nor
    digits of another form alone (``¹``, a superscript: numeric, not a letter, yet matched by
    a word character to ``re``). Those get the plain-number message, not a ``--grades`` fix."""
    text = cell.strip().strip('"').strip()
    if _NUMBER_WORD.fullmatch(text) or date_cell(text):  # a date: its own message (grade_problem)
        return False
    if any(c.isnumeric() for c in text) and not any(c.isalpha() for c in text):
        return False
    return _GRADE_WORD.search(text) is not None


def grade_as_written(raw: str, grade: int) -> str:
    """A grade read from ``raw`` as the messages show it: ``10`` when the cell says so,
    ``'1e1' (read as 10)`` when it spells it otherwise (a spreadsheet's exponent, ``2.0``),
    so that the user finds the cell in the CSV."""
    text = raw.strip().strip('"').strip()
    return str(grade) if text == str(grade) else f"{text!r} (read as {grade})"


def _scale_grade(word: str, names: Sequence[str]) -> tuple[int, bool] | None:
    """(the grade of ``names`` that ``word`` names, whether it is spelt as the scale has it) for
    a word that is one of ``names`` or of their common long names (:data:`GRADE_NAME_ALIASES`),
    else near one of them (a misspelling, :func:`_near_grade`: ``sever`` for ``Severe``), else
    None."""
    if (exact := grade_from_name(word, names)) is not None:
        return exact, True
    near = _near_grade(word, names)
    return (near, False) if near is not None else None


def own_grade_words(cells: Iterable[str], grade_names: Sequence[str]) -> list[str]:
    """The distinct words of a grade column (``cells``, as first spelt, in the order first
    written) when it holds grade words and no number, else []: a column of the user's own
    grade names (``none``, ``non-proliferative``, ``proliferative``). A grade-0 word that
    :func:`is_ungraded` reads as "no grade" (:data:`GRADE_ZERO_WORDS`: ``none``) is among them,
    read as a grade's name, when another word is there and none of those reads as grade 0 on
    the scale in force or a known one (``none`` beside ``No DR`` is still an ungradable cell);
    the other "no grade" cells (empty, ``NA``) never are."""
    words: dict[str, str] = {}
    zero: dict[str, str] = {}
    for cell in cells:
        if parse_grade(cell) is not None:
            return []
        key, spelt = _name_key(cell), cell.strip().strip('"').strip()
        if key in GRADE_ZERO_WORDS and grade_from_name(cell, grade_names) is None:
            zero.setdefault(key, spelt)
            words.setdefault(key, spelt)
        elif not is_ungraded(cell) and is_grade_word(cell):
            words.setdefault(key, spelt)
    others = [w for k, w in words.items() if k not in zero]
    if not others:
        return []
    scales = [grade_names, *GRADE_SCALES.values()]
    if zero and any(grade_from_name(w, names) == 0 for w in others for names in scales):
        return [w for k, w in words.items() if k not in zero]
    return list(words.values())


def zero_words_named(own_words: Sequence[str], *, scale_given: bool, leave_out: bool = False
                     ) -> frozenset[str]:
    """The keys (:func:`_name_key`) of the grade-0 words (:data:`GRADE_ZERO_WORDS`: ``none``) of
    a grade column of words (``own_words``, :func:`own_grade_words`) that are read as a grade's
    name (no retinopathy), so that a row writing one is an error asking for the scale, not an
    ungradable row: only when no scale is given (``scale_given``: ``--grades`` /
    ``data.grades``, a named scale such as ``icdr`` included, or the grade names of the bundle
    that wrote a submission) and ungradable rows are not left out (``leave_out``:
    ``--ungradable leave_out``). Otherwise ``none`` keeps its old meaning, an image that could
    not be graded (a referral cohort's ``NPDR``, ``PDR``, ``none`` has no grade 0); a scale
    that names a grade ``none`` reads it as that grade whatever this says. The ingest's rule
    (:func:`read_labels`) and ``export --score``'s (:func:`drac_ssl.scoring.read_grade_labels`)."""
    if scale_given or leave_out:
        return frozenset()
    return frozenset(_name_key(w) for w in own_words) & frozenset(GRADE_ZERO_WORDS)


def names_zero_grade(cell: str, named: Collection[str]) -> bool:
    """Whether the grade ``cell`` is one of the grade-0 words ``named`` (keys of
    :func:`zero_words_named`) read as a grade's name, compared as grade names are (case,
    spaces and quotes aside: ``None``)."""
    return _name_key(cell) in named


def zero_word_readings(raw: str, own_fix: str, ungradable_way: str) -> str:
    """The fix for a ``none`` cell read as a grade's name (:func:`zero_words_named`): both
    readings, the grade's name first (``own_fix``: the ``--grades`` that names it, or how the
    scorer gets those names), then the ungradable image (``ungradable_way``: how to say so, e.g.
    ``write NA in its grade cell or rerun with --ungradable leave_out ...``)."""
    word = raw.strip().strip('"').strip()
    return f"{own_fix}; or, if {word!r} marks an image that could not be graded, {ungradable_way}"


UNGRADABLE_WORD_WAY = ("write NA in its grade cell, or rerun with --ungradable leave_out (every row "
                       "with no grade, 'none' included, is then left out with its image, listed in "
                       "ingest_summary.json)")
"""The ingest's way to say that a ``none`` read as a grade's name is an ungradable image
(:func:`zero_word_readings`); ``python -m drac_ssl.train`` says the flag as
``data.ungradable=leave_out``."""


def severity_range(word: str) -> tuple[int, int] | None:
    """The ICDR grades (lowest, highest) a grade name names (:data:`GRADE_NAME_ALIASES`):
    ``none`` (:data:`GRADE_ZERO_WORDS`) and ``Normal`` (0, 0), ``Mild`` (1, 1), ``Severe``
    (3, 3), DRAC's ``NPDR`` and the bare ``non-proliferative`` (1, 3), ``proliferative`` (4, 4);
    None for a word of no known scale. :func:`severity_order` ranks words by it, and the scorer
    asks it whether a default scale's name and a model's name of the same grade number can mean
    the same grade (:func:`drac_ssl.scoring._fallback_grade`)."""
    if _name_key(word) in GRADE_ZERO_WORDS:
        return 0, 0
    if (g := grade_from_name(word, GRADE_SCALES["icdr"])) is not None:
        return g, g
    on_icdr = {0: (0, 0), 1: (1, 3), 2: (4, 4)}  # DRAC's Normal, NPDR, PDR on ICDR's grades
    g = grade_from_name(word, GRADE_SCALES["drac"])
    return on_icdr[g] if g is not None else None


def severity_order(words: Sequence[str]) -> list[str] | None:
    """``words`` sorted from the mildest to the most severe when their names say it
    (:func:`severity_range`: each word names grades of the ICDR scale, no two words the same or
    overlapping ones), else None (a word of no known scale, or ``non-proliferative`` beside
    ``mild``)."""
    ranked: list[tuple[tuple[int, int], str]] = []
    for word in words:
        if (grades := severity_range(word)) is None:
            return None
        ranked.append((grades, word))
    ranked.sort(key=lambda item: item[0])
    for (lower, _), (higher, _) in zip(ranked, ranked[1:], strict=False):
        if lower[1] >= higher[0]:
            return None
    return [word for _, word in ranked]


def numbered_order(words: Sequence[str]) -> list[str] | None:
    """``words`` sorted by their numbers when every one is one common prefix and a whole number
    (``R0 R1 ... R10``, ``grade 2``, ``M1``; the prefix compared without letter case), numerically
    (``R2`` before ``R10``, which a plain sort would not give); else None (no common prefix, a
    word without a number, an empty prefix, two words of one number). The order of the numbers
    is no proof of severity, so a fix that uses it says to check it (:func:`_own_names_fix`)."""
    found = [re.fullmatch(r"(.*?\D)\s*(\d+)", w.strip()) for w in words]
    if len(words) < 2 or not all(found):
        return None
    prefixes = {m[1].strip().casefold() for m in found if m is not None}
    numbers = [int(m[2]) for m in found if m is not None]
    if len(prefixes) != 1 or not next(iter(prefixes)) or len(set(numbers)) != len(numbers):
        return None
    return [w for _, w in sorted(zip(numbers, words, strict=True))]


ORDER_UNKNOWN = ("MILDEST", "...", "MOST SEVERE")
"""The template of :func:`_own_names_fix` for words whose order of severity cannot be told."""


def _reads_all(words: Sequence[str], names: Sequence[str]) -> bool:
    """Whether every word names a grade of ``names`` (:func:`_scale_grade`: a name, a common long
    name or a near spelling)."""
    return all(_scale_grade(w, names) is not None for w in words)


def _own_names_fix(own: Sequence[str], grade_names: Sequence[str]) -> str:
    """The fix for a grade column of the user's own grade names (:func:`own_grade_words`, not
    all names of one known scale): ``--grades`` built from those words, in order of severity
    where their names say it (:func:`severity_order`), else in the order of their numbers where
    they are one prefix and a number (:func:`numbered_order`: ``R0 R1 R2 R3``, with the words to
    check that this is their order of severity); else no ready-made list, since the order
    first written (``R0, R2, R3, R1`` was once offered, ready to paste and wrong) says nothing
    of severity: a template (:data:`ORDER_UNKNOWN`) to fill in with the words, mildest first.
    With the setting as ``python -m drac_ssl.train`` takes it."""
    ordered = severity_order(own)
    by_number = numbered_order(own) if ordered is None else None
    listed = ", ".join(repr(w) for w in own)
    if ordered is not None or by_number is not None:
        names = list(ordered or by_number or own)
        order = ("grade 0 first, in order of severity as their names say" if ordered is not None else
                 f"grade 0 first, in the order of their numbers ({' < '.join(names)}: check that "
                 f"this is their order of severity)")
        how = f"{grades_option(names)} ({config_grades(names)} for python -m drac_ssl.train)"
    else:
        order = ("one per grade in order of severity, grade 0 (the mildest) first; their order "
                 "cannot be told from the words, and the order first written is not necessarily it")
        how = (f"{grades_option(ORDER_UNKNOWN)} ({config_grades(ORDER_UNKNOWN)} for python -m "
               f"drac_ssl.train) with your {len(own)} words in that order")
    return (f"the grade column's words ({listed}) look like your own grade names: pass them with "
            f"--grades, {order}: {how}, and each row is read as the grade its word names; else "
            f"write the grade as a number ({choices(grade_names)} under the scale now in force)")


def _known_scale_fix(words: Sequence[str], numbers: Collection[int], grade_names: Sequence[str]) -> str | None:
    """The fix naming a known scale (:data:`GRADE_SCALES`, other than the one in force) that
    reads every word (``Severe`` among 0, 1, 2, 4: ``--grades icdr``, where Severe is grade 3),
    when one has room for every number the CSV writes; None when none does."""
    fits = []
    for key, names in GRADE_SCALES.items():
        if tuple(names) == tuple(grade_names) or max(numbers, default=-1) >= len(names):
            continue
        read = {w: _scale_grade(w, names) for w in words}
        if all(read.values()):
            fits.append((key, names, read))
    if not fits:
        return None
    said = []
    for key, names, read in fits:
        parts = []
        for w in words[:3]:
            g, spelt = read[w]
            parts.append(f"{w!r} is grade {g} ({names[g]})" if spelt else
                         f"{w!r} looks like {names[g]!r} (grade {g}): write it {names[g]!r}")
        said.append(f"--grades {key} (the {key.upper()} scale: {describe(names)}; {'; '.join(parts)})")
    return (f"the grade words name grades of a known scale: pass {' or '.join(said)}; "
            f"else write the grade as a number ({choices(grade_names)} under the scale now in force)")


def ungradable_words_lead(words: Sequence[str], numbers: Collection[int], grade_names: Sequence[str],
                          ungradable: str) -> str:
    """The first part of the fix for grade cells written as ``words`` that name no grade, when
    they most likely mark ungradable images (``k.A.``, ``nicht beurteilbar``, ``non gradable``:
    a local word for "no grade", :data:`UNGRADED_CELLS` being English): every grade
    0..K-1 of ``grade_names`` is written as a number already (``numbers``), or ``ungradable``
    is ``leave_out`` (the user has ungradable rows). ``if 'k.A.' marks ungradable images, write
    NA (or leave the cell empty) in those rows ...; else `` (then :func:`grade_words_fix`); ''
    otherwise, or for no word."""
    every = set(range(len(grade_names))) <= set(numbers)
    if not words or not (every or ungradable == "leave_out"):
        return ""
    quoted = " and ".join(repr(w) for w in words[:3]) + (" ..." if len(words) > 3 else "")
    why = (f" (the CSV writes every grade, 0 to {len(grade_names) - 1}, as a number)" if every else "")
    then = (", which --ungradable leave_out then leaves out with their images" if ungradable == "leave_out"
            else " and rerun with --ungradable leave_out (those rows are then left out with their "
                 "images, listed in ingest_summary.json)")
    return (f"if {quoted} mark{'s' if len(words) == 1 else ''} ungradable images{why}, write NA (or "
            f"leave the cell empty) in those rows{then}; else ")


def grade_words_fix(words: Sequence[str], numbers: Collection[int], grade_names: Sequence[str],
                    own_words: Sequence[str] = ()) -> str:
    """The fix for grade cells written as words that name no grade of the scale in force
    (``Referable`` in a CSV of 0 and 1, without ``--grades``), in this order:

    * words all near a name of the scale in force, or a common long name of one
      (``sever`` for ``severe``, ``non-proliferativ`` for DRAC's NPDR, :func:`_near_grade`):
      misspellings, the fix names the names meant;
    * a grade column of words and no number (``own_words``, :func:`own_grade_words`) whose words
      are not all names of one scale, the one in force or a known one (``none``,
      ``non-proliferative``, ``proliferative``): the user's own grade names, ``--grades`` built
      from them (:func:`_own_names_fix`);
    * words all names (or near names, or common long names) of another known scale
      (:data:`GRADE_SCALES`) with room for every number written: ``--grades icdr`` /
      ``--grades drac``, saying which grade each word is there (``Severe`` is ICDR grade 3);
    * else a ``--grades`` shaped from the CSV's values, K names for grades 0..K-1 (K: one more
      than the largest number written, at least 2): the word in place only where that cannot
      be wrong, i.e. never on a grade the CSV writes as a number (one word and exactly one
      grade of 0..K-1 not written, or no numbers at all: the words in the order first written);
      otherwise only the ``NAME0,...,NAME{K-1}`` template, and the user must choose the word's
      grade.

    ``words``: the distinct words, as first written; ``numbers``: the grades the CSV writes as
    numbers (or as names of the scale)."""
    near = {w: _near_grade(w, grade_names) for w in words}
    if words and all(g is not None for g in near.values()):
        meant = ", ".join(f"{w!r} for {grade_names[near[w]]!r} (grade {near[w]})"  # type: ignore[index]
                          for w in words[:3])
        return (f"a misspelt grade name? {meant}: write the name as the scale (--grades) has it, or "
                f"the grade as a number ({choices(grade_names)})")
    usable_own = all("," not in w and '"' not in w for w in own_words)
    if (own_words and usable_own
            and not any(_reads_all(own_words, names) for names in (grade_names, *GRADE_SCALES.values()))):
        return _own_names_fix(own_words, grade_names)
    if (known := _known_scale_fix(words, numbers, grade_names)) is not None:
        return known
    usable = [w for w in words if "," not in w and '"' not in w]
    k = max(max(numbers, default=-1) + 1, 2) if numbers else max(len(usable), 2)
    free = [g for g in range(k) if g not in numbers]
    placed = usable and len(usable) == len(words) and (
        not numbers or (len(usable) == 1 and len(free) == 1))
    quoted = " and ".join(repr(w) for w in words[:3]) + (" ..." if len(words) > 3 else "")
    written = ("" if not numbers else
               f" (the CSV also writes grade{'s' if len(numbers) > 1 else ''} "
               f"{', '.join(str(g) for g in sorted(numbers))} as numbers)")
    name = "names a grade" if len(words) == 1 else "name grades"
    if placed:
        names = [f"name of grade {g}" for g in range(k)]
        for g, w in zip(free, usable, strict=False):  # no numbers: the words from grade 0 up
            names[g] = w
        return (f"if {quoted} {name}, pass every grade's name with --grades, in grade order (grade 0 "
                f"first), e.g. {grades_option(names)}{written}, and each row is read as the grade "
                f"its word names; else write the grade as a number ({choices(grade_names)} under "
                f"the scale now in force)")
    template = '--grades "' + ",".join(f"NAME{g}" for g in range(k)) + '"'
    it = "the word's grade" if len(words) == 1 else "each word's grade"
    return (f"if {quoted} {name}, pass every grade's name with --grades, in grade order (grade 0 "
            f"first): {template}{written}; which grade {'it is' if len(words) == 1 else 'each is'} "
            f"cannot be told from the CSV, so you must choose {it} and write the word in that "
            f"grade's place (a grade the CSV also writes as a number means the word and that "
            f"number are the same grade), and each row is read as the grade its word names; else "
            f"write the grade as a number ({choices(grade_names)} under the scale now in force)")


def one_based_problem(csv_path: Path, column: str, grade_names: Sequence[str],
                      values: Collection[int], n_top: int,
                      scale: str = "the scale (--grades)", *, delimiter: str = ",",
                      encoding: str = "utf-8", ungradable_way: str = "",
                      top_names: Collection[str] = ()) -> Problem | None:
    """The one error for a label set written 1..K on a K-grade scale (``values`` exactly within
    1..K, K among them, no 0): its rows of grade K are not K errors of their own, and its fix
    is to subtract 1 from ``csv_path``'s ``column`` (:func:`shift_grades_command`), never
    another scale. ``scale``: where the K grades come from, in words (``export --score``: the
    submission's). ``delimiter``, ``encoding``: the CSV's, as :func:`data_prep.labels.read_table`
    read it. The command is the fix's last line, on a line of its own (indented 2), after
    the words saying it is a POSIX shell's and keeps a backup. The subtraction comes first:
    an APTOS CSV written +1 told "5 may be ungradable" first lost every PDR row. Only where
    the names of the rows of grade K (``top_names``) are all DDR's (:func:`data_prep.layout.ddr_names`)
    on ICDR in columns that may hold its ungradable 5 (:func:`five_may_be_ungradable`) is
    that reading given, second, with ``ungradable_way`` (the scorer's; the ingest's NA and
    ``--ungradable leave_out`` by default). None when the values do not look 1-based."""
    k = len(grade_names)
    if not values or min(values) != 1 or max(values) != k:
        return None
    # 1..5 on ICDR whose 5s are DDR's images: a DDR subset without grade 0 writes the same, its
    # 5 ungradable; said second, after the shift (never first: a +1 APTOS CSV lost its PDR)
    ddr = (k == ICDR_UNGRADABLE_GRADE and ddr_names(top_names)
           and five_may_be_ungradable([column], grade_names))
    second = (f" (but if these are DDR's labels, as their names say (NNN-NNNN-NNN.jpg), and its "
              f"{k} marks images its graders found ungradable, do not subtract: "
              f"{ungradable_way or ungradable_five_way(n_top)})" if ddr else "")
    return error(csv_path,
                 f"the grades run 1..{k}, but {scale} has {k} grades, 0..{k - 1}: the "
                 f"labels look 1-based ({counted(n_top, 'row')} {'holds' if n_top == 1 else 'hold'} "
                 f"{k}, outside 0..{k - 1}; grades start at 0 here: {describe(grade_names)})",
                 f"subtract 1 from the {column} column{second}, in a spreadsheet or with this command "
                 f"for bash or zsh (a POSIX shell; on Windows: Git Bash or WSL), which copies the "
                 f"file to {Path(csv_path).name}.bak first, then rewrites it in place, every other "
                 f"cell's text as it was:\n  "
                 f"{shift_grades_command(csv_path, column, delimiter, encoding)}", "grade")


def no_grade_zero_left_problem(csv_path: Path, left_out: Sequence[LabelRow], grades: Iterable[int | None],
                               grade_names: Sequence[str], column: str, scoring: bool = False) -> Problem | None:
    """The warning (fatal with ``--strict``) for ungradable rows ``left_out`` (``--ungradable
    leave_out``: NA or empty cells) that leave no row graded 0 while the rows kept reach the top
    grade K-1: labels written 1..K whose K (the top grade, PDR on ICDR) was made NA, as "5 may
    be ungradable" read on an APTOS CSV written +1, lose every top-grade row and sit one grade
    too high. ``grades``: the grades of the rows kept (None where not a number).
    ``scoring``: said by ``export --score`` (a note: true labels 1..4 of a set without grade 0
    are scored as they are). A warning, not an error: a 0-based referable-only subset (1..4,
    its NA cells truly ungradable) writes the same and is ingested, as without the rows left
    out (the empty grade 0's own warning). It points back to the 1-based reading, then names
    what works for 0-based labels (grade 0 out of the scale, renumbered, or the NA rows
    deleted); the caller asks only for grades written as numbers (a column of names is no
    1-based column) on ICDR in columns where a 5 may have been told ungradable
    (:func:`five_may_be_ungradable`: never APTOS's or EyePACS's, told only to subtract 1).
    None when a row is graded 0, when the grades left do not run exactly 1..K-1, when none was
    left out, or when the left-out rows are all DDR's images
    (:func:`data_prep.layout.ddr_names`: a DDR subset without grade 0, its 5 ungradable)."""
    graded = {grade for grade in grades if grade is not None}
    k = len(grade_names)
    if (not left_out or not graded or 0 in graded or min(graded) != 1 or max(graded) != k - 1
            or ddr_names([r.name for r in left_out])):
        return None
    first = left_out[0]
    kept = sorted(graded)
    zero_based = ("nothing to do (the set holds no " + grade_names[0] + " image; its scores are "
                  "the model's on grades 1.." + str(k - 1) + ")" if scoring else
                  "the ingest goes on without grade 0: add graded 0 images, or take grade 0 out of the "
                  "scale: " + renumber_and_name(kept, grade_names, f"renumber the {column} column's grades")
                  + " (the NA rows may stay, left out), or delete the NA rows from the label CSV")
    return (note if scoring else warning)(csv_path,
                 f"{counted(len(left_out), 'row')} {'was' if len(left_out) == 1 else 'were'} left out "
                 f"as ungradable (e.g. line {first.line}, {first.name}) and no row left is graded 0: the "
                 f"grades left run {min(graded)}..{k - 1}, as labels written 1-based (1 {grade_names[0]} .. "
                 f"{k} {grade_names[-1]}) do once their {k}s are made NA",
                 f"if the labels are 1-based, the left-out rows were grade {k} ({grade_names[-1]}): put {k} "
                 f"back in their {column} cells, then subtract 1 from the {column} column (rerun without "
                 f"--ungradable leave_out for the command); if they are 0-based (a set without "
                 f"{grade_names[0]} images, the left-out rows truly ungradable), {zero_based}",
                 "grade")


# The standard library's csv, no pandas (no dependency of the package, and its read_csv turns
# patient ids 007 / 0012 / 1e3 into 7.0 / 12.0 / 1000.0): every cell is kept as text but the
# grade column's numerals, shifted by parse_grade's own rule (data_prep.labels.GRADE_INTEGER /
# GRADE_NUMERAL, the cell stripped of whitespace and outer '"' as parse_grade strips it: ' 2 ',
# '+2', '2.0', '2,0', '4.00E+00', a tab or no-break space around it), written back as the whole
# number; blank or worded cells and numerals parse_grade rejects ('1_0', '1.5') are left alone.
# The reader's dialect is read_table's (data_prep.labels._records: skipinitialspace, so that
# '001.png, "seen, twice"' is one cell, not two re-quoted ones the next ingest rejects), and
# the header cells are matched as read_table reads them (stripped, a BOM dropped); a header
# without the column stops with a message, the file untouched. The file is copied to
# PATH.bak before it is written; a PATH.bak already there stops the command, the file
# untouched (a second run would subtract 1 again and overwrite the only copy of the original).
# No '"', '$', '`' or backslash in the code but the delimiter's repr ('\t'), which a shell's
# double quotes pass on as written; the path and the column come as shell-quoted arguments.
_SHIFT_CODE = (
    "import csv,os,re,shutil,sys; p,c=sys.argv[1:]; b=p+'.bak'; "
    "os.path.exists(b) and sys.exit(b+' exists (shifted already?): nothing changed; delete it "
    "to shift again'); "
    "t=list(csv.reader(open(p,newline='',encoding={encoding!r}),delimiter={delimiter!r},"
    "skipinitialspace=True,strict=False)); "
    "h=[[x.strip().lstrip(chr(65279)).strip() for x in r] for r in t]; "
    "i=next((n for n,r in enumerate(h) if c in r),None); "
    "i is None and sys.exit(p+': no header cell '+repr(c)+' found: nothing changed'); "
    "k=h[i].index(c); "
    "f=lambda s:int(s) if re.fullmatch({integer!r},s) else (lambda v:int(v) if v.is_integer() "
    "else None)(float(s.replace(',','.'))) if re.fullmatch({numeral!r},s) else None; "
    "[r.__setitem__(k,str(g-1)) for r in t[i+1:] "
    "if k<len(r) and (g:=f(r[k].strip().strip(chr(34)).strip())) is not None]; "
    "shutil.copyfile(p,b); o=open(p,'w',newline='',encoding={encoding!r}); "
    "csv.writer(o,delimiter={delimiter!r},lineterminator=chr(10)).writerows(t); o.close()")


def shift_grades_command(csv_path: str | Path, column: str, delimiter: str = ",",
                         encoding: str = "utf-8") -> str:
    """The shell command (``PYTHON -c "..." PATH COLUMN``, PYTHON :func:`python_word`) that
    subtracts 1 from every cell of ``column`` in the label CSV ``csv_path`` that
    :func:`data_prep.labels.parse_grade` reads as a grade (by the same rule), written back as
    the whole number (``+2`` and ``2.0`` -> ``1``), rewriting the file in place with the
    standard library's :mod:`csv`: every other cell keeps its text (ids ``007``, ``1e3``; quotes
    only where a cell needs them), rows end in a line feed. The file is first copied to
    ``csv_path.bak``; when that backup exists already the command changes nothing and says so
    (exit status 1: run twice, it would subtract 1 twice). A POSIX shell's command (bash,
    zsh: the code in double quotes, the arguments in single quotes).
    ``column``: the header cell as read (stripped); ``delimiter``, ``encoding``: the CSV's as
    :func:`data_prep.labels.read_table` read it (``utf-8-sig`` keeps a BOM). The fix of
    :func:`one_based_problem`."""
    code = _SHIFT_CODE.format(encoding=encoding, delimiter=delimiter, integer=GRADE_INTEGER,
                              numeral=GRADE_NUMERAL)
    return f'{python_word()} -c "{code}" {shlex.quote(str(csv_path))} {shlex.quote(column)}'


PERSON_WORDS = frozenset({"study", "person"})
"""Words that make a column a patient id when a word of :data:`PATIENT_ID_WORDS` follows at
once (``study_id``, ``StudyID``, ``person_id``, ``Person No``; :func:`other_patient_id_column`),
never alone: a pooled set's ``study`` column names the source, and folds grouped by it would
put a whole source in one fold."""

RECORD_NUMBER_WORDS = frozenset({"mrn", "studyid", "personid"})
"""Whole words (or names run together, ignoring case, spaces, ``_``, ``-`` and ``.``) of a
patient id: ``MRN`` (a medical record number; ``Patient MRN``, ``mrn``), ``studyid``,
``personid`` (:func:`other_patient_id_column`). Not ``case``, which DRAC and others use for
an image."""


def other_patient_id_column(name: str) -> bool:
    """Whether a column ``name`` is a patient id by a name without a word of
    :data:`PATIENT_COLUMN_WORDS`: a word of :data:`RECORD_NUMBER_WORDS` (``MRN``), or one of
    :data:`PERSON_WORDS` followed at once by one of :data:`PATIENT_ID_WORDS` (``study_id``,
    ``person_id``). ``study``, ``personal``, ``study_site`` and ``case_id`` are not."""
    words = _name_word_list(name)
    squeezed = re.sub(r"[\s_\-.]", "", name.lower())
    if set(words) & SOURCE_COLUMN_WORDS:  # source_study_id, MRN_site: the source's
        return False
    return (bool(set(words) & RECORD_NUMBER_WORDS) or squeezed in RECORD_NUMBER_WORDS
            or any(word in PERSON_WORDS and following in PATIENT_ID_WORDS
                   for word, following in zip(words, words[1:], strict=False)))


def looks_like_patient_column(name: str) -> bool:
    """Whether a label-CSV column ``name`` looks like a patient id, so that ingesting without
    ``--patient-column`` deserves a warning (images of one patient in two folds make the
    cross-validated figures optimistic). Matches :data:`PATIENT_COLUMN_WORDS` anywhere in the
    name, an examination or visit id (:func:`data_prep.labels.visit_id_column`: ``exam_id``,
    ``Examination``, whole words: not ``examiner``), and the abbreviations ``pid`` / ``patid`` /
    ``ptid`` as the whole name (ignoring case, spaces, ``_``, ``-`` and ``.``: ``PID``,
    ``pat_id``), a medical record number, study or person id (:func:`other_patient_id_column`:
    ``MRN``, ``study_id``, ``person_id``), unless the name also holds a word of :data:`NOT_PATIENT_ID_WORDS`
    (``patient_DR_Level`` is a grade) and none of :data:`PATIENT_ID_WORDS` (``Patient ID (DR
    study)`` is an id)."""
    low = name.lower()
    squeezed = re.sub(r"[\s_\-.]", "", low)
    words = _name_words(name)
    grade_like = bool(words & NOT_PATIENT_ID_WORDS) or any(w in low for w in GRADE_INSIDE_WORDS)
    if grade_like and not words & PATIENT_ID_WORDS:
        return False
    return (patient_word_column(name) or visit_id_column(name) or other_patient_id_column(name)
            or squeezed in ("pid", "patid", "ptid"))


ID_VALUES_PER_FOLD = 2
"""A column named only by :func:`other_patient_id_column` (``study_id``, ``MRN``) is guessed
as a patient id only with at least this many distinct values per fold
(:func:`many_ids`): ``study_id`` holding ``AREDS`` / ``UKB`` names the source."""

ROWS_PER_ID = 10
"""...and at most this many rows per distinct value on average (a patient's images: two
eyes over a few visits), so that a column of a few sources or studies is not a patient id."""


def many_ids(cells: Sequence[str], n_folds: int) -> bool:
    """Whether a column's ``cells`` (empty ones aside) hold many distinct values, as patient
    ids do: at least :data:`ID_VALUES_PER_FOLD` times ``n_folds`` and at most
    :data:`ROWS_PER_ID` rows per value on average."""
    filled = [c.strip() for c in cells if c.strip()]
    distinct = len(set(filled))
    return distinct >= ID_VALUES_PER_FOLD * n_folds and len(filled) <= ROWS_PER_ID * distinct


def patient_column_guess(columns: Sequence[str], grade_column: str = "",
                         image_column: str = "",
                         cells: Callable[[str], Sequence[str]] | None = None,
                         n_folds: int = 5) -> str | None:
    """The first of a label CSV's ``columns`` that looks like a patient id
    (:func:`looks_like_patient_column`), a patient one before an examination or visit id
    (``exam_id, patient_id`` -> ``patient_id``: the patient is the coarser group), never the
    ``grade_column`` or ``image_column`` read (compared loosely, as
    :func:`data_prep.labels.column_index` does: :func:`normalise`), else None. The one guess
    behind the ingest's "pass --patient-column" warning and ``ingest_summary.json``'s
    ``unused_column``. A column named so only by :func:`other_patient_id_column` (``MRN``,
    ``study_id``, ``Study No``) is a candidate only when ``cells`` (a column's cells) shows
    many distinct values (:func:`many_ids`, with ``n_folds``); never without ``cells``."""
    read = {normalise(c) for c in (grade_column, image_column) if c}

    def fits(c: str) -> bool:
        if not looks_like_patient_column(c):
            return False
        low, squeezed = c.lower(), re.sub(r"[\s_\-.]", "", c.lower())
        if (patient_word_column(c) or visit_id_column(c) or squeezed in ("pid", "patid", "ptid")
                or not other_patient_id_column(c) or any(w in low for w in PATIENT_COLUMN_WORDS)):
            return True
        return cells is not None and many_ids(cells(c), n_folds)

    candidates = [c for c in columns if normalise(c) not in read and fits(c)]
    return next((c for c in candidates if id_words(c) == "a patient id"),
                candidates[0] if candidates else None)


EYE_SWAPS = (("left", "right"), ("l", "r"), ("od", "os"))
"""Words naming an eye in a column name, each swapped for the other eye's by
:func:`other_eye_column`: ``left``/``right`` anywhere in the name, ``l``/``r`` and ``od``/``os``
(oculus dexter / sinister) only as a word of their own (``grade_l``, ``DR grade OD``)."""


def _swap_eye(name: str, one: str, other: str) -> str:
    """``name`` with each ``one`` and ``other`` swapped for the other, letter case kept."""
    def swapped(match: re.Match[str]) -> str:
        word = match[0]
        new = other if word.lower() == one else one
        return new.upper() if word.isupper() else new.capitalize() if word[0].isupper() else new

    alone = len(one) <= 2  # l / r / od / os: a word of their own only
    pattern = rf"(?<![A-Za-z])({one}|{other})(?![A-Za-z])" if alone else rf"({one}|{other})"
    return re.sub(pattern, swapped, name, flags=re.IGNORECASE)


def other_eye_column(columns: Sequence[str], grade_column: str) -> str | None:
    """The column of ``columns`` that names the other eye's grade beside ``grade_column``
    (``left_eye_DR_Level`` -> ``right_eye_DR_Level``, ``grade_l`` -> ``grade_r``, ``DR OD`` ->
    ``DR OS``: :data:`EYE_SWAPS`), compared as column names are (:func:`normalise`), else None.
    A per-eye CSV (DeepDRiD) fills one of the two on each row: an empty cell there is the
    other eye's row, not an ungradable image."""
    present = {normalise(c): c for c in columns}
    for one, other in EYE_SWAPS:
        candidate = _swap_eye(grade_column, one, other)
        if normalise(candidate) != normalise(grade_column) and normalise(candidate) in present:
            return present[normalise(candidate)]
    return None


OTHER_EYE_FIX = {"ingest": "the grades are per eye in two columns: for a DeepDRiD set, pass its "
                           "folder (regular-fundus-training) as --root without --grade-column, "
                           "which reads each image's eye column; otherwise merge them into one "
                           "grade column (docs/data.md, DeepDRiD)",
                 "score": "the grades are per eye in two columns: drop --grade-column, which "
                          "scores each image against its own eye's column (a DeepDRiD CSV); "
                          "otherwise merge them into one grade column"}
"""What to do about a row whose grade is in the other eye's column (:func:`other_eye_problem`),
for the ingest and for ``python -m drac_ssl.export --score``."""


def other_eye_problem(where: str, name: str, grade_column: str, other: str,
                      reader: str = "ingest") -> Problem:
    """The error of a row whose grade cell is empty while the other eye's column
    (:func:`other_eye_column`) is filled: the grades are per eye, and leaving such rows out
    (``--ungradable leave_out``) would drop every image of one eye. ``reader``: whose fix
    (:data:`OTHER_EYE_FIX`)."""
    return dataclasses.replace(
        error(where, f"{name} has no grade in {grade_column!r}: this row's grade is in {other!r}",
              OTHER_EYE_FIX[reader], "per-eye"),
        summary=f"the grades are per eye ({grade_column!r} and {other!r}); --ungradable "
                "leave_out would drop every image of one eye")


EYE_ID = re.compile(r"^.+_(?P<eye>[lr])\d*$", re.IGNORECASE)
"""A per-eye image id (DeepDRiD's ``1_l1``, ``1_r2``): ``l`` or ``r`` after the last underscore,
then the photograph's number."""


def eye_of(name: str) -> int | None:
    """The eye an image id names, 0 left and 1 right (the order of a layout's
    ``EYE_COLUMNS``): ``1_l1`` -> 0, ``12_r2.jpg`` -> 1 (the extension aside); None when the
    id names no eye (:data:`EYE_ID`)."""
    stem = Path(name).stem if Path(name).suffix.lower() in IMAGE_SUFFIXES else name
    match = EYE_ID.match(stem.strip())
    return None if match is None else "lr".index(match["eye"].lower())


EYE_FIX = ("write the image id with its eye as DeepDRiD names it (rename the image to match), "
           "or delete the row and move the image out of the folder")
"""The ingest's fix for a per-eye row whose image id names no eye (:func:`eye_problem`)."""


def eye_problem(where: str, name: str, eye_columns: Sequence[str], fix: str = EYE_FIX) -> Problem:
    """The error of a row of a per-eye CSV whose image id names no eye (:func:`eye_of`): its
    grade cannot be chosen between ``eye_columns``; ``fix``: what the reader asks (the
    ingest's :data:`EYE_FIX`, or the scorer's)."""
    left, right = eye_columns
    return error(where, f"cannot tell the eye of {name} from its image id, so neither {left!r} "
                        f"nor {right!r} can be chosen as its grade (an id names its eye as "
                        "<patient>_l<n> or <patient>_r<n>, e.g. 1_l1)", fix, "per-eye")


def own_eye_cell(where: str, name: str, cells: Sequence[str], positions: Sequence[int],
                 eye_columns: Sequence[str], fix: str = EYE_FIX) -> tuple[str | None, Problem | None]:
    """The grade cell of a per-eye row (a layout's ``EYE_COLUMNS``, DeepDRiD's): the cell of
    the column of the eye the image id ``name`` names (:func:`eye_of`), ``positions`` the
    (left, right) columns' positions in ``cells``; ``(None, the error)`` when the id names no
    eye (:func:`eye_problem`, with ``fix``). The one rule the ingest
    (:func:`read_labels`) and ``python -m drac_ssl.export --score`` read per-eye grades by."""
    eye = eye_of(name)
    if eye is None:
        return None, eye_problem(where, name, eye_columns, fix)
    return cells[positions[eye]], None


PER_EYE_FIX = {"ingest": "to train on each image's own eye, drop --grade-column (the set folder "
                           "as --root reads each image's eye column)",
               "ingest-merged": "to train on each image's own eye, merge the two eye columns into "
                                "one grade column, each row its own eye's cell, and pass that "
                                "(docs/data.md, DeepDRiD), or pass the DeepDRiD set folder as "
                                "--root without --grade-column",
               "score": "to score each image against its own eye, drop --grade-column"}
"""What to do about a per-eye CSV read through another grade column (:func:`per_eye_columns_unread`):
``ingest`` under a layout that reads the eye columns itself (DeepDRiD's set folder as
``--root``), ``ingest-merged`` for a plain folder (a flat copy: no layout reads the eye columns
there, so dropping ``--grade-column`` would leave no grade column), and ``score`` for
``python -m drac_ssl.export --score`` (which reads the eye columns of any CSV). A patient-level
column adds :data:`PATIENT_GRADE_MEANT`."""

PATIENT_GRADE_MEANT = "nothing to do if the patient's grade is the label you mean"
"""The per-eye note's last words when the column read is the patient's grade (``patient_DR_Level``):
it may be the label meant. Never said of another column (a merge of the eye columns)."""

CORRECT_ROWS_FIX = {"ingest": "correct the rows named (each row's grade is its own eye's cell), or "
                              "drop --grade-column (the set folder as --root reads each image's "
                              "eye column)",
                    "ingest-merged": "correct the rows named (each row's grade is its own eye's "
                                     "cell)",
                    "score": "correct the rows named (each row's grade is its own eye's cell), or "
                             "drop --grade-column, which scores each image against its own eye's "
                             "column"}
"""The per-eye note's fix, by reader (:data:`PER_EYE_FIX`'s keys), for a column that is not the
patient's and agrees with its own eye's cell on some rows but not all: the two eye columns
merged into it (docs/data.md), some rows mistyped or left empty."""


def _same_grade_cell(one: str, other: str) -> bool:
    """Whether two grade cells hold the same grade: the same integer (``'2'``, ``'2.0'``: a
    pandas merge writes floats), both "no grade" (:func:`is_ungraded`), or the same text."""
    first, second = parse_grade(one), parse_grade(other)
    if first is not None or second is not None:
        return first == second
    if is_ungraded(one) or is_ungraded(other):
        return is_ungraded(one) and is_ungraded(other)
    return normalise(one) == normalise(other)


def per_eye_columns_unread(csv_path: str | Path, table: Table, grade_column: str,
                           image_column: str, reader: str = "ingest",
                           eye_fix: str = EYE_FIX) -> Problem | None:
    """The note for a label CSV that holds a layout's per-eye grade columns
    (:data:`data_prep.layout.EYE_COLUMNS`, DeepDRiD's ``left_eye_DR_Level`` /
    ``right_eye_DR_Level``) read through another one, ``grade_column`` (``--grade-column
    patient_DR_Level``), when that column is not each row's own eye's grade: some row's cell
    differs from the cell of the eye its image id names (:func:`eye_of`, compared as grades:
    ``2`` and ``2.0`` agree, two empty cells agree), or some image id names no eye, so it
    cannot be told. The note counts those rows and names the first three (``1_l2 at line 3: 2
    vs 'left_eye_DR_Level' 0``); a patient-level column (its name
    says patient) is called the patient's grade, the worse eye. None when the CSV has no such
    pair, ``grade_column`` is one of them (a one-eye column is :func:`other_eye_problem`'s), or
    every row's cell is its own eye's (the two columns merged into one, as docs/data.md
    shows; an empty or NA cell agrees with the layout's ungradable grade,
    :data:`data_prep.layout.UNGRADABLE_GRADES`, which the merge maps to NA). ``image_column``: the column of image ids (``image_id``; a path's file name is
    read). The fix follows the finding: for a patient-level column, :data:`PER_EYE_FIX`
    (``reader``: whose) and :data:`PATIENT_GRADE_MEANT`; for another column that agrees with
    some rows' own eye's cell (a merge of the eye columns with some rows wrong),
    :data:`CORRECT_ROWS_FIX`; for one that agrees with none, :data:`PER_EYE_FIX`; for rows
    whose id names no eye, ``eye_fix`` (the ingest's :data:`EYE_FIX`, or the scorer's), the
    merge or a dropped ``--grade-column`` being no fix for them."""
    for kind, (left, right) in eye_columns_in(table.columns).items():
        if normalise(grade_column) in map(normalise, EYE_COLUMNS[kind]):
            continue
        at = {column: column_index(table, column)[0] for column in (grade_column, image_column, left, right)}
        if any(position is None for position in at.values()):
            return None
        differ: list[str] = []  # '1_l2 at line 3: 2 vs ...' of each row whose cell is not its eye's
        no_eye: list[str] = []  # '3_x2 at line 5' of each row whose image id names no eye
        agree = 0  # rows whose cell is their own eye's
        for number, cells in table.rows:
            name = cell_file_name(cells[at[image_column]])  # type: ignore[index]
            if not name:
                continue  # a row without an image name: its own error
            eye = eye_of(name)
            if eye is None:
                no_eye.append(f"{name} at line {number}")
                continue
            own = (left, right)[eye]
            cell, own_cell = cells[at[grade_column]], cells[at[own]]  # type: ignore[index]
            # DeepDRiD's ungradable 5 merged as NA (docs/data.md): the same finding, written so
            unmarked = is_ungraded(cell) and parse_grade(own_cell) == UNGRADABLE_GRADES.get(kind)
            if not _same_grade_cell(cell, own_cell) and not unmarked:
                differ.append(f"{name} at line {number}: {cell.strip() or 'empty'} vs "
                              f"{own!r} {own_cell.strip() or 'empty'}")
            else:
                agree += 1
        if not differ and not no_eye:
            return None  # each row's own eye's grade: the eye columns merged into one
        rows = len(table.rows)
        found = []
        if differ:
            found.append(f"{grade_column!r} differs from the image's own eye's cell on {len(differ)} of {rows} rows "
                         f"({_rows_named(differ)})")
        if no_eye:
            one = len(no_eye) == 1
            found.append(f"{len(no_eye)} of {rows} rows {'names' if one else 'name'} no eye in "
                         f"{'its' if one else 'their'} image id ({_rows_named(no_eye)}), so "
                         f"{'its' if one else 'their'} own eye's grade cannot be told")
        patient = "patient" in _name_words(grade_column)
        what = ("it is the patient's grade (the worse eye), not the image's own eye's" if patient
                else "it is not each image's own eye's grade" if differ
                else "it may not be each image's own eye's grade")
        fixes = []
        if differ:
            fixes.append(f"{PER_EYE_FIX[reader]}; {PATIENT_GRADE_MEANT}" if patient
                         else CORRECT_ROWS_FIX[reader] if agree else PER_EYE_FIX[reader])
        if no_eye:
            fixes.append(f"for the ids naming no eye, {eye_fix}" if differ else eye_fix)
        return note(csv_path, f"{grade_column!r} is read as each image's grade, but {what}: this "
                              f"CSV grades each eye in {left!r} / {right!r}, and {'; '.join(found)}",
                    "; ".join(fixes), "per-eye")
    return None


PER_EYE_ROWS_SHOWN = 3
"""Rows the per-eye note names (:func:`per_eye_columns_unread`), at most; the rest counted."""


def _rows_named(items: Sequence[str]) -> str:
    """The per-eye note's rows, :func:`data_prep.problems.named_few` with semicolons (each row
    holds a colon and grades): ``a; b; c; and 5 more rows``."""
    return named_few(items, PER_EYE_ROWS_SHOWN, sep="; ", last="; and ", unit=" rows")


def per_eye_grade_problem(table: Table, missing: Problem) -> Problem:
    """``missing`` (:func:`data_prep.labels.missing_column`'s error for the grade column) said
    in per-eye terms when the CSV grades each eye in a column of its own
    (:data:`data_prep.layout.EYE_COLUMNS`: DeepDRiD's ``left_eye_DR_Level`` /
    ``right_eye_DR_Level``, a flat copy of a DeepDRiD set read as a plain folder): no one column
    is each image's grade (the patient's ``patient_DR_Level`` is the worse eye's; one eye's
    column leaves the other eye's rows empty), so the fix names both ways out, the DeepDRiD
    set folder as ``--root`` or the two columns merged into one, never a column to pass.
    ``missing`` as it is otherwise."""
    for kind, (left, right) in eye_columns_in(table.columns).items():
        name = LAYOUT_NAMES[kind]
        # the set's CSV renamed (deepdrid.csv) is not found by itself: the layout named with it
        given = f"--layout {kind} --labels-csv {shlex.quote(str(table.path))}"
        return dataclasses.replace(
            missing, fix=f"per-eye grades ({left}/{right}): pass the {name} set folder as --root "
                         f"(the layout reads each eye's grade; drop any --grade-column), or merge "
                         f"the two columns into one "
                         f"grade column and pass it with --grade-column NAME (docs/data.md, {name}); "
                         f"the set folder (the one holding {DEEPDRID_IMAGES}/<patient_id>/) with "
                         f"its label CSV named otherwise than {DEEPDRID_SETS[0]}.csv, as this one, "
                         f"is read with {given}")
    return missing


def owned_patient_column_problem(table: Table, column: str, image_column: str,
                                 missing: Problem) -> Problem:
    """``missing`` (:func:`data_prep.labels.missing_column`'s error for the patient column
    ``column``) said in a layout's terms when the CSV is otherwise that layout's: its per-eye
    grade columns (:data:`data_prep.layout.EYE_COLUMNS`) are there and ``column`` is the
    patient column it owns (:data:`data_prep.layout.PATIENT_COLUMNS`; DeepDRiD's
    ``patient_id``, beside ``left_eye_DR_Level`` / ``right_eye_DR_Level``). The error then
    says what the layout calls the column and both ways out: ``--patient-column NAME`` for a
    file that names it otherwise (a close column name, when :func:`missing_column` found one,
    stays the fix), else putting the column back, the patient being the number before the
    underscore of the image id (``1`` in ``1_l1``). ``missing`` as it is otherwise (a column the
    user named, a CSV without the per-eye columns)."""
    for kind, (left, right) in eye_columns_in(table.columns).items():
        owned = PATIENT_COLUMNS.get(kind, "")
        if normalise(owned) != normalise(column):
            continue
        fix = (missing.fix if missing.fix.startswith("did you mean") else
               f"if this file names its patients in another column, pass {_OPTIONS['patient']} "
               f"NAME; else add the {owned!r} column (the number before the underscore of "
               f"{image_column}, 1 for 1_l1) so that a patient's images stay in one fold")
        return dataclasses.replace(
            missing, what=f"{missing.what}: a {LAYOUT_NAMES[kind]} label CSV (its {left!r} / "
                          f"{right!r} columns) names each image's patient in {owned!r}", fix=fix)
    return missing


def grade_names_note(csv_path: str | Path, by_name: dict[int, int], grade_names: Sequence[str],
                     fix: str) -> Problem:
    """The note of a label CSV whose grades were written as the scale's names (``No DR``,
    ``Moderate``) and read as their numbers: ``25 grades written as names, read as numbers:
    No DR=0, Moderate=2``. ``by_name``: grade -> how many rows wrote it as its name;
    ``fix``: what the reader does with them (the ingest: the manifest holds the numbers; the
    export's --score: scored as those numbers)."""
    n = sum(by_name.values())
    return note(csv_path, f"{counted(n, 'grade')} written as {'a name' if n == 1 else 'names'}, "
                          f"read as {'a number' if n == 1 else 'numbers'}: "
                          + ", ".join(f"{grade_names[g]}={g}" for g in sorted(by_name)),
                fix, "grade-names")


def _ungradable_row(row: LabelRow, ungradable: str, left_out: list[LabelRow],
                    refused: list[LabelRow], rows: list[LabelRow]) -> None:
    """File a label ``row`` marked ungradable (by a gradable column's 0, Messidor-2's
    ``adjudicated_gradable``, or by the layout's ungradable grade, DeepDRiD's 5) as
    ``ungradable`` (``data.ungradable``) says: ``leave_out``, into ``left_out`` (the ingest
    leaves its image out); ``error``, into ``refused`` (one error for all of them, once the
    file is read) and into ``rows`` too, so that its image is not also called unlabelled."""
    if ungradable == "leave_out":
        left_out.append(row)
    else:
        refused.append(row)
        rows.append(row)


def _column_cells(table: Table, column: str) -> list[str]:
    """The cells of ``table``'s ``column`` (found as :func:`column_index` finds it), [] when
    it is not there."""
    position = column_index(table, column)[0]
    return [] if position is None else [cells[position] for _, cells in table.rows]


def read_labels(csv_path: Path, image_column: str, grade_column: str,
                patient_column: str = "",
                grade_names: Sequence[str] = DRAC_GRADES,
                ungradable: str = "error",
                eye_columns: Sequence[str] = (),
                marked_ungradable: tuple[int, str] | None = None,
                images: Sequence[Path] = (),
                scale_given: bool = False,
                layout_kind: str = "plain",
                encoding: str = "",
                n_folds: int = 5
                ) -> tuple[LabelTable | None, list[Problem]]:
    """Read and check the label CSV: columns present, every grade an integer in 0..K-1.

    ``grade_names`` are the names of grades 0..K-1 (``data.grades``). The CSV may be in any
    dialect :func:`data_prep.labels.read_table` reads. Returns the rows (a row with a bad
    grade is kept with ``grade=None``, so that its image is not also reported as
    unlabelled) and every problem found.

    ``ungradable`` (``data.ungradable``): ``error``, a row whose grade cell says "no grade"
    (:func:`is_ungraded`) is an error like any bad grade; ``leave_out``, it goes to
    ``LabelTable.left_out`` instead of ``rows``, without a problem (the ingest leaves its
    image out, :func:`leave_out_ungradable`). Any other bad grade is an error either way.

    ``eye_columns`` (left, right; a layout's ``EYE_COLUMNS``, DeepDRiD's): the grade is spread
    over one column per eye, and each row's grade is its own eye's column, the eye told from
    its image id (:func:`eye_of`), ``grade_column`` unread; an empty own-eye cell is an
    ungradable row as above; an id that names no eye is an error (:func:`eye_problem`).

    ``marked_ungradable`` (grade, layout name; a layout's ``UNGRADABLE_GRADES``, DeepDRiD's 5):
    a row of that grade, when the scale does not hold it, is an ungradable row as above (left
    out under ``leave_out``; under ``error``, one error, :func:`marked_ungradable_problem`).

    A grade column of words and no number is read as the user's own grade names
    (:func:`own_grade_words`); its ``none`` cells are then a grade's name (no retinopathy), each
    an error whose fix gives both readings, the ``--grades`` that names it and the ungradable
    image (:func:`zero_word_readings`), unless a scale is given (``scale_given``: ``data.grades``
    set, ``icdr`` / ``drac`` included) or ``ungradable`` is ``leave_out``: ``none`` is then an
    ungradable cell as above (:func:`zero_words_named`).

    ``images``: the training folder's images, when listed; a missing column's suggestion then
    knows the column of file names by its cells naming them (:func:`folder_name_test`), ids
    without extension included. One column given for two roles (``--image-column X
    --grade-column X``; the grade and the patient column) is one error
    (:func:`data_prep.labels.one_column_for_two_roles`), the table then None; the image column
    given as the patient column is allowed (each image its own patient). An image column of
    numbers that name no image is one error too (:func:`numbers_for_names`).

    ``layout_kind``: the layout the root is read as (``Layout.kind``). A per-eye CSV read
    through another grade column whose cells are not each row's own eye's is a note
    (:func:`per_eye_columns_unread`) whose fix, for the patient's grade, is to drop
    ``--grade-column`` under a layout that reads the eye columns itself
    (:data:`data_prep.layout.EYE_COLUMNS`: DeepDRiD's set folder), else to merge the two columns
    into one (a flat copy read as a plain folder); a merged column with some rows wrong is told
    to correct them, an id naming no eye to be renamed.

    ``encoding``: the codec an earlier read of this file took (an ingest's
    ``labels_csv_encoding``: GBK told by the folder's names), used when the file is still not
    UTF-8 and would otherwise be read by a guess (:data:`data_prep.labels.GUESSED_ENCODINGS`)
    without the folder's images to tell another encoding by; a file since saved as UTF-8 (or
    that no longer decodes so) is read as found.
    """
    per_eye = tuple(eye_columns)
    grade_columns = per_eye or (grade_column,)
    wanted = [c for c in (image_column, *grade_columns, patient_column) if c]
    folder = NameIndex(images) if images else None
    names_a_file = folder_name_test(folder) if folder is not None else None
    table, problems = read_table(csv_path, wanted)
    if table is None:
        return None, problems
    known = (read_table(csv_path, wanted, encoding)
             if encoding and table.encoding in GUESSED_ENCODINGS and encoding != table.encoding
             else (None, []))
    if known[0] is not None:  # the encoding an earlier read took (the ingest's, by its folder)
        table, problems = known[0], [note(csv_path, f"not UTF-8: read as {encoding}, as the ingest read it",
                                          f"nothing to do; to spare the guess, {SAVE_AS_UTF8}",
                                          "csv-dialect"), *known[1]]
    else:
        # not UTF-8, read as Windows-1252 by a guess: a GBK or Mac Roman file whose names then match
        table, problems = reread_matching(csv_path, wanted, table, problems, names_a_file)
    index: dict[str, int] = {}  # role -> position; per eye: 'grade' (left) and 'grade-right'
    roles = [(image_column, "image-name", "image-name"), (grade_columns[0], "grade", "grade"),
             *((right, "grade-right", "grade") for right in grade_columns[1:]),
             (patient_column, "patient", "patient")]
    offered: list[str] = []  # the columns suggested so far: one column is offered for one role
    for column, key, role in roles:
        if not column:
            continue
        position, found = column_index(table, column)
        problems += found
        if position is not None:
            index[key] = position
        elif not any(p.severity == "error" and repr(column) in p.what for p in found):
            # never offered: a column read for another role (the image column as the patient's)
            others = [c for c, _, r in roles if c and c != column] + offered
            missing = missing_column(table, column, role, _OPTIONS[role], others, names_a_file)
            problems.append(owned_patient_column_problem(table, column, image_column, missing)
                            if role == "patient" else
                            per_eye_grade_problem(table, missing) if key == "grade" else missing)
            if len(table.columns) == 1:
                break  # one unsplit header line: said once
            offered += [c for c in [column_suggestion(table, column, role, others, names_a_file)] if c]
    # a patient column not there (a mistyped --patient-column): its error stands, and the rows
    # are still read against the other columns, so that every problem is said in one pass (a
    # Messidor-2 trial: an out-of-range grade was said only once the patient column was fixed)
    no_patient = bool(patient_column) and "patient" not in index and len(table.columns) > 1
    if len(index) < len([c for c, k, _ in roles if c and not (no_patient and k == "patient")]):
        return None, problems
    role_of = {key: role for _, key, role in roles}
    keys = list(index)
    for i, first in enumerate(keys):  # one column given for two roles: said once, not per row
        # (the image column as the patient's is allowed: each image its own patient)
        second = next((k for k in keys[i + 1:] if index[k] == index[first]
                       and {first, k} != {"image-name", "patient"}), None)
        if second is not None:
            pair = (role_of[first], role_of[second])
            given = [c for c, k, _ in roles if c and k not in (first, second)]
            return None, problems + [one_column_for_two_roles(
                table, index[first], pair, (_OPTIONS[pair[0]], _OPTIONS[pair[1]]), given, names_a_file)]
    if not per_eye and refused_grade_column(table.columns[index["grade"]], grade_names):
        return None, problems + [not_a_grade_column(table, table.columns[index["grade"]],
                                                    [image_column, patient_column], names_a_file,
                                                    grade_names)]
    if folder is not None and (numbers := numbers_for_names(table, index["image-name"], folder,
                                                            [c for c in grade_columns if c])) is not None:
        return None, problems + [numbers]
    guess = None
    if not patient_column:
        guess = patient_column_guess(table.columns, grade_column, image_column,
                                     lambda c: _column_cells(table, c), n_folds)
        if guess:
            problems.append(warning(
                csv_path,
                f"column {guess!r} looks like {id_words(guess)} but --patient-column is not set: "
                "images of one patient may land in different folds, so the cross-validated "
                "figures can be optimistic",
                f"pass --patient-column {guess!r} to keep each patient's images in one fold",
                "patient"))
    grade_name = table.columns[index["grade"]]
    merged = "ingest" if layout_kind in EYE_COLUMNS else "ingest-merged"  # who reads the eye columns
    if not per_eye and (unread := per_eye_columns_unread(csv_path, table, grade_name,
                                                         table.columns[index["image-name"]],
                                                         merged)) is not None:
        problems.append(unread)  # --grade-column patient_DR_Level: the patient's grade for each image
    # one grade column: an empty cell beside the other eye's filled column is that eye's row
    other = other_eye_column(table.columns, grade_name) if not per_eye else None
    other_position = column_index(table, other)[0] if other else None
    # a column saying whether each image is gradable (Messidor-2's adjudicated_gradable): 0
    # marks the row ungradable whatever its grade cell holds
    gradable = gradable_column_of(table.columns, [c for c in (image_column, *grade_columns,
                                                              patient_column) if c])
    gradable_position = column_index(table, gradable)[0] if gradable else None
    if not per_eye:  # '2,5' unquoted in a comma-separated file: 5 read as the next column's
        problems += split_decimal_problems(table, index["grade"],
                                           [p for k, p in index.items() if k != "grade"]
                                           + [p for p in [gradable_position] if p is not None])
    flagged: list[LabelRow] = []  # rows the gradable column marks ungradable, refused
    rows: list[LabelRow] = []
    left_out: list[LabelRow] = []
    numbers: set[int] = set()  # the integer grades written as numbers (not names), any range
    outside: list[tuple[int, str, str, int]] = []  # rows whose grade is outside 0..K-1
    marked: list[LabelRow] = []  # rows of the layout's ungradable grade (DeepDRiD's 5), refused
    by_name: dict[int, int] = {}  # grade -> rows that wrote it as its name
    words: dict[str, str] = {}  # grade cells written as words no grade is named: key -> first spelling
    worded: list[int] = []  # where their problems are in ``problems`` (the fix is set at the end)
    word_at: dict[int, str] = {}  # index in ``problems`` -> its word's key (of ``words``)
    # a grade column of words and no number: the user's own grade names, 'none' among them a
    # grade's name (grade 0), not an ungradable image, unless a scale is given or ungradable
    # rows are left out (zero_words_named)
    grade_positions = [index["grade"], *([index["grade-right"]] if per_eye else [])]
    own_words = own_grade_words((cells[p] for _, cells in table.rows for p in grade_positions),
                                grade_names)
    zero_named = zero_words_named(own_words, scale_given=scale_given,
                                  leave_out=ungradable == "leave_out")
    zero_rows: dict[int, str] = {}  # the 'none' rows' errors in ``problems``, their cells: both readings

    def ungraded(cell: str) -> bool:  # is_ungraded, but for a grade-0 name of the column's words
        return is_ungraded(cell) and not names_zero_grade(cell, zero_named)
    header = [c.strip().casefold() for c in table.columns]
    for number, cells in table.rows:
        where = f"{csv_path}:{number}"
        if all(cells[index[role]].strip().casefold() == header[index[role]]
               for role in ("image-name", "grade")):  # two exports pasted one after the other?
            problems.append(error(where, f"line {number} repeats the header row (image name "
                                         f"{cells[index['image-name']].strip()!r}, grade "
                                         f"{cells[index['grade']].strip()!r})",
                                  "delete it (if the rows after it are another export, check that "
                                  "their columns are in the same order)", "csv"))
            continue
        cell = cells[index["image-name"]].strip().replace("\\", "/")
        name = cell_file_name(cell)
        # the folder part, '' for a plain name; a leading '/' (an absolute path, '//' of a UNC
        # path written with backslashes) is kept, so that written_file can tell it from a relative one
        in_folder = cell.rstrip("/").rpartition("/")[0]
        while in_folder == "." or in_folder.startswith("./"):  # './e00.png': no folder part
            in_folder = in_folder[2:]
        raw_grade = cells[index["grade"]]
        eye_column = ""  # per eye: the column of the image's own eye, read for its grade
        if not name:
            problems.append(error(where, "row without an image name",
                                  "fill in the file name or delete the row", "csv"))
            continue
        if gradable_position is not None:  # gradable (1) or not (0), beside the grade
            patient = cells[index["patient"]].strip() if "patient" in index else ""
            try:
                mark = gradable_mark(cells[gradable_position])
            except ValueError:
                problems.append(gradable_mark_problem(where, name, str(gradable), cells[gradable_position]))
                rows.append(LabelRow(name, None, patient, number, raw_grade.strip(), in_folder))
                continue
            if mark == 0:
                _ungradable_row(LabelRow(name, None, patient, number, raw_grade.strip(), in_folder,
                                         marked_by=f"{gradable} 0"),
                                ungradable, left_out, flagged, rows)
                continue
        if per_eye:  # the grade is the cell of the image's own eye
            own, no_eye = own_eye_cell(where, name, cells, (index["grade"], index["grade-right"]),
                                       per_eye)
            if own is None:
                problems.append(no_eye)  # type: ignore[arg-type]
                patient = cells[index["patient"]].strip() if "patient" in index else ""
                rows.append(LabelRow(name, None, patient, number, raw_grade.strip(), in_folder))
                continue
            raw_grade = own
            eye_column = table.columns[index["grade" if eye_of(name) == 0 else "grade-right"]]
        grade = parse_grade(raw_grade)
        if (marked_ungradable is not None and grade == marked_ungradable[0]
                and not 0 <= grade < len(grade_names)):
            # the layout's word for ungradable (DeepDRiD's 5), not a grade beyond the scale
            patient = cells[index["patient"]].strip() if "patient" in index else ""
            _ungradable_row(LabelRow(name, None, patient, number, raw_grade.strip(), in_folder),
                            ungradable, left_out, marked, rows)
            continue
        if grade is None and (named := grade_from_name(raw_grade, grade_names)) is not None:
            grade = named  # a configured grade name ('severe', even 'none'): its number
            by_name[named] = by_name.get(named, 0) + 1
        elif grade is not None:
            numbers.add(grade)
        if (grade is None and other_position is not None and ungraded(raw_grade)
                and not ungraded(cells[other_position])):
            # the other eye's row of a per-eye CSV: never ungradable, never left out
            problems.append(other_eye_problem(where, name, grade_name, other or ""))
            patient = cells[index["patient"]].strip() if "patient" in index else ""
            rows.append(LabelRow(name, None, patient, number, raw_grade.strip(), in_folder))
            continue
        if ungradable == "leave_out" and grade is None and ungraded(raw_grade):
            patient = cells[index["patient"]].strip() if "patient" in index else ""
            left_out.append(LabelRow(name, None, patient, number, raw_grade.strip(), in_folder))
            continue
        if grade is not None and not 0 <= grade < len(grade_names):
            outside.append((number, name, raw_grade, grade))  # said once the whole set is read
            grade = None
        elif grade is None and is_ungraded(raw_grade) and not ungraded(raw_grade):  # 'none'
            words.setdefault(_name_key(raw_grade), raw_grade.strip().strip('"'))
            worded.append(len(problems))  # its fix, the --grades of the column's words, set below
            zero_rows[len(problems)] = raw_grade  # and the ungradable reading after it
            problems.append(error(where, grade_zero_words(name, raw_grade, grade_names), "", "grade"))
        elif (bad := grade_problem(where, name, raw_grade, grade, grade_names,
                                   eye_column=eye_column)) is not None:
            if grade is None and not is_ungraded(raw_grade) and is_grade_word(raw_grade):
                words.setdefault(_name_key(raw_grade), raw_grade.strip().strip('"'))
                word_at[len(problems)] = _name_key(raw_grade)
                worded.append(len(problems))
            problems.append(bad)
            grade = None
        patient = cells[index["patient"]].strip() if "patient" in index else ""
        rows.append(LabelRow(name, grade, patient, number, raw_grade.strip(), in_folder))
    if worded:  # the fix that reads the words, shaped from the whole CSV's values
        fix = grade_words_fix(list(words.values()), numbers | set(by_name), grade_names, own_words)
        # --grades given: a word near one of its names is a misspelling, said on its own row,
        # whatever the other words are (never a template of the user's own scale instead)
        near = ({key: grade_words_fix([word], (), grade_names) for key, word in words.items()
                 if _near_grade(word, grade_names) is not None} if scale_given else {})
        if near and len(near) < len(words):  # the other words' fix, without the misspellings
            fix = grade_words_fix([w for k, w in words.items() if k not in near],
                                  numbers | set(by_name), grade_names, own_words)
        # every grade already a number, or ungradable rows left out: the words most likely mark
        # ungradable images ('k.A.', 'nicht beurteilbar'), said first
        # (not a misspelt name, nor a name of a known scale: those have their own fix)
        others = [w for w in words.values() if not names_zero_grade(w, GRADE_ZERO_WORDS)
                  and _near_grade(w, grade_names) is None
                  and not any(_scale_grade(w, names) for names in GRADE_SCALES.values())]
        lead = ungradable_words_lead(others, numbers | set(by_name), grade_names, ungradable)
        for at in worded:
            said = (zero_word_readings(zero_rows[at], fix, UNGRADABLE_WORD_WAY)
                    if at in zero_rows else near.get(word_at.get(at, ""), f"{lead}{fix}"))
            problems[at] = dataclasses.replace(problems[at], fix=said)
    if by_name:
        problems.append(grade_names_note(csv_path, by_name, grade_names,
                                         "nothing to do (the manifest holds the numbers)"))
    if outside:
        said = (None if by_name or per_eye else  # words and numbers mixed: not a 1-based column
                # of numbers; per eye, a fix rewriting one column would be wrong
                one_based_problem(csv_path, table.columns[index["grade"]], grade_names, numbers,
                                  len(outside), delimiter=table.delimiter, encoding=table.encoding,
                                  top_names=[name for _, name, _, g in outside if g == len(grade_names)]))
        if said is None:
            graded = sum(row.grade is not None for row in rows) + len(outside)
            said = outside_problem(csv_path, outside, grade_names, numbers, graded,
                                   scale_given=scale_given)
            # DeepDRiD's 5 on a flat copy: no 6th grade (never on labels read as 1-based,
            # whose 5 is the top grade, PDR on ICDR)
            if said is not None and (fix := layout_ungradable_fix(
                    table.columns, outside, grade_names, said.fix, numbers)):
                said = dataclasses.replace(said, fix=fix)
        problems += [said] if said is not None else []
    if marked and marked_ungradable is not None:
        problems.append(marked_ungradable_problem(csv_path, marked, marked_ungradable, grade_names))
    if flagged:
        problems.append(flagged_ungradable_problem(csv_path, flagged, str(gradable)))
    if (ungradable == "leave_out" and not per_eye and marked_ungradable is None and not outside
            and not by_name and not words and five_may_be_ungradable(table.columns, grade_names)
            and (none_zero := no_grade_zero_left_problem(csv_path, left_out, [r.grade for r in rows], grade_names,
                                                         table.columns[index["grade"]])) is not None):
        problems.append(none_zero)  # a 1-based PDR made NA and left out: every row a grade high
    if not rows and left_out and not any(p.severity == "error" for p in problems):
        every = ("the label CSV's one row is" if len(left_out) == 1
                 else f"all {len(left_out)} rows of the label CSV are")
        problems.append(error(csv_path, f"{every} marked ungradable "
                                        f"({ungraded_words(left_out, marked_ungradable)}), so --ungradable leave_out leaves nothing to train on",
                              "write the grades of the gradable images, or pass the label CSV "
                              "that holds them with --labels-csv FILE", "grade"))
    elif not rows and not any(p.severity == "error" for p in problems):
        problems.append(error(csv_path, "the label CSV has a header but no rows",
                              "add one row per training image", "csv"))
    # every other column's cells, to tell a row written twice from two rows that merely agree
    # on what identifies a row (drop_repeated_rows): the other eye's grade column and a gradable
    # column are among them, read as they are for other rows or other purposes
    cells_at = dict(table.rows)
    rows = [dataclasses.replace(r, others=_other_columns(table.columns, cells_at[r.line], {
        index["image-name"], index.get("patient"),
        index["grade-right"] if per_eye and eye_of(r.name) == 1 else index["grade"]}))
        for r in rows]
    zero_left_out = any(_name_key(r.written) in GRADE_ZERO_WORDS for r in left_out)
    # the note's --grades, when it can be written (no word with a comma or a quote)
    said_words = tuple(own_words) if zero_left_out and not scale_given and any(
        _name_key(w) in GRADE_ZERO_WORDS for w in own_words) and all(
        "," not in w and '"' not in w for w in own_words) else ()
    if no_patient:  # the rows were read for their problems: no table without its patients
        return None, problems
    return (LabelTable(csv_path, table.columns, rows, table.dialect, left_out, marked_ungradable,
                       n_rows=len(table.rows), own_words=said_words, encoding=table.encoding,
                       names_matched=table.names_matched, patient_guess=guess),
            problems)


def _other_columns(columns: Sequence[str], cells: Sequence[str], own: set[int | None]
                   ) -> tuple[tuple[str, str], ...]:
    """A label row's :attr:`LabelRow.others`: (column, cell stripped) of each column of
    ``columns`` but the positions ``own`` (its image name, its own grade, its patient), in
    column order. A header written more than once is told by its 1-based position (``note
    (column 3)``), so that no cell is lost where they are keyed by column."""
    repeated = {c for c in columns if columns.count(c) > 1}
    return tuple((f"{column} (column {i + 1})" if column in repeated else column,
                  cells[i].strip() if i < len(cells) else "")
                 for i, column in enumerate(columns) if i not in own)


def _ambiguous_words(name: str, paths: Sequence[Path] = ()) -> str:
    """What a CSV name that matches several images is (:func:`ambiguous_name`'s ``said``): it
    has no extension, or an image extension no file has (matched by its stem), or it spells
    none of the files exactly (``Img_1.png`` for ``IMG_1.png`` and ``img_1.png``)."""
    if paths and all(name_key(p.name) == name_key(name) for p in paths):
        return "spelled as neither file"
    if Path(name).suffix.lower() in IMAGE_SUFFIXES:
        return "no file of that extension; by its stem"
    return "no extension"


def ambiguous_name(table: LabelTable, row: LabelRow, paths: Sequence[Path],
                   said: str = "no extension") -> Problem:
    """The error for a CSV name without extension that matches several images (``x`` for
    ``x.png`` and ``x.jpg``), at its row; ``said``: what the name is, in brackets. One file
    name in two per-patient folders (``5/5_l2.jpg``, ``6/5_l2.jpg``: a duplicate name the
    folder scan reports too) is said by the paths below the folder holding them, with the fix
    that keeps one."""
    names = [p.name for p in paths]
    if len({name_key(n) for n in names}) == len(names):
        return error(f"{table.path}:{row.line}",
                     f"{row.name} ({said}) matches {len(paths)} images: {', '.join(names)}",
                     "write the full file name with its extension in the CSV, or remove one of "
                     "the files", "match")
    if len(set(names)) == len(names):  # IMG_1.png and img_1.png: one name_key, two files on Linux
        apart = different_files(paths)  # two photographs (or unread): delete neither
        return error(f"{table.path}:{row.line}",
                     f"{row.name} ({said}) matches {len(paths)} images that differ only in letter "
                     f"case or Unicode form ({contents_words(apart)}): {', '.join(names)}",
                     "write the file name in the CSV exactly as the one file spells it, and "
                     + (TWO_IMAGES_FIX if apart is not False else "remove the other file, a copy"),
                     "match")
    common = Path(os.path.commonpath([p.parent for p in paths]))
    shown = ", ".join(p.relative_to(common).as_posix() for p in paths)
    return error(f"{table.path}:{row.line}", f"{row.name} ({said}) matches {len(paths)} images: {shown}",
                 "keep one of these files (one file name is one image id)", "match")


LEFT_OUT_SHOWN = 5
"""Left-out ungradable rows named in the note (the rest are counted; all are in the summary)."""


def leave_out_ungradable(images: Sequence[Path], table: LabelTable
                         ) -> tuple[list[Path], list[tuple[LabelRow, Path | None]], list[Problem]]:
    """The training ``images`` without those the table's left-out rows name
    (:attr:`LabelTable.left_out`, ``data.ungradable=leave_out``), matched as
    :func:`match_labels` matches names (:class:`NameIndex`).

    Returns the images kept, each left-out row with its image (None when the folder does not
    hold it: the row is left out all the same, the user need not edit the CSV) and the
    problems: one note naming how many rows were left out and the first
    :data:`LEFT_OUT_SHOWN` (``labels.csv:LINE NAME``), nothing when none was; an error for a
    left-out name without extension that matches several images. The ingest and the
    preflight both call it (through ``data_prep.ingest.collect_images``), so they leave out the
    same rows and count the same images.
    """
    if not table.left_out:
        return list(images), [], []
    index = NameIndex(images)
    # an image that a graded row names too stays (a conflict said by duplicate_label_rows or
    # same_image_rows), so that the graded row is not also called a label without image
    graded = {path for row in table.rows for path in index.find(row.name)[0]}
    dropped: set[Path] = set()
    left_out: list[tuple[LabelRow, Path | None]] = []
    problems: list[Problem] = []
    for row in table.left_out:
        paths, how = index.find(row.name)
        if how == "ambiguous":
            problems.append(ambiguous_name(table, row, paths, "no extension, marked ungradable"))
            paths = []
        dropped.update(p for p in paths if p not in graded)
        left_out.append((row, paths[0] if paths else None))
    shown = ", ".join(f"{table.path.name}:{row.line} {row.name}"
                      for row, _ in left_out[:LEFT_OUT_SHOWN])
    more = len(left_out) - LEFT_OUT_SHOWN
    missing = sum(path is None for _, path in left_out)
    problems.append(note(
        table.path,
        f"{counted(len(left_out), 'row')} marked ungradable "
        f"({ungraded_words(table.left_out, table.marked_ungradable)}) "
        f"{'was left out with its image' if len(left_out) == 1 else 'were left out with their images'} "
        f"(--ungradable leave_out): {shown}"
        + (f", and {more} more" if more > 0 else "")
        + (f"; {missing} of them had no image in the folder" if missing else ""),
        "nothing to do; ingest_summary.json lists every one (left_out_ungradable)"
        + (f"; but {zero_word_reading(table.own_words)}" if table.own_words else ""), "ungradable"))
    return [p for p in images if p not in dropped], left_out, problems


def zero_word_reading(own_words: Sequence[str]) -> str:
    """The other reading of the ``none`` rows that ``--ungradable leave_out`` left out of a grade
    column of words (:attr:`LabelTable.own_words`): ``none`` may be a grade's name there, and
    the ``--grades`` that reads it so (``if 'none' in this grade column of words names a grade
    ..., pass --grades "none,NPDR,PDR" ...: its rows are then read as grade 0``). Said by the
    left-out note (:func:`leave_out_ungradable`) and by the empty grade 0's warning
    (:func:`zero_word_empty_grade`)."""
    zero = next(w for w in own_words if _name_key(w) in GRADE_ZERO_WORDS)
    ordered = severity_order(own_words)
    names = list(ordered or own_words)
    order = "" if ordered is not None else " (put them in order of severity, grade 0 first)"
    return (f"if {zero!r} in this grade column of words names a grade (no retinopathy) rather "
            f"than an image that could not be graded, pass {grades_option(names)}{order} "
            f"({config_grades(names)} for python -m drac_ssl.train): its rows are then read as "
            + (f"grade {names.index(zero)}" if ordered is not None else "the grade of its place"))


def zero_word_empty_grade(table: LabelTable | None) -> tuple[str, str] | None:
    """(what, fix) that the warning of an empty grade 0 (:func:`data_prep.grades.empty_grades`)
    adds when ``--ungradable leave_out`` left out the ``none`` rows of a grade column of words
    with no scale given (:attr:`LabelTable.own_words`): ``the 4 rows writing 'none' were left
    out as ungradable (--ungradable leave_out)``, and :func:`zero_word_reading`, so that grade
    0 without an image is tied to the rows that may be its own. None otherwise."""
    if table is None or not table.own_words:
        return None
    rows = [r for r in table.left_out if _name_key(r.written) in GRADE_ZERO_WORDS]
    if not rows:
        return None
    word = rows[0].written.strip().strip('"').strip()
    which = "the row writing" if len(rows) == 1 else f"the {len(rows)} rows writing"
    return (f"{which} {word!r} {'was' if len(rows) == 1 else 'were'} left out as ungradable "
            f"(--ungradable leave_out)", zero_word_reading(table.own_words))


def read_name_list(csv_path: Path, column: str) -> tuple[list[tuple[int, str]] | None, list[Problem]]:
    """The image names of one column of a CSV (e.g. APTOS ``test.csv``), with their lines."""
    table, problems = read_table(csv_path, [column])
    if table is None:
        return None, problems
    position, found = column_index(table, column)
    problems += found
    if position is None:
        return None, problems + [missing_column(table, column, "image-name", "--image-column")]
    names = [(line, cell_file_name(cells[position]))
             for line, cells in table.rows if cells[position].strip()]
    return names, problems


def _grade_clash(rows: Sequence[LabelRow], agreement: bool = False) -> str:
    """`` with conflicting grades ['0', '7']`` when the rows' grades differ (each cell quoted
    as the CSV writes it, in row order: an out-of-range ``7`` stays ``'7'``, a decimal comma
    ``'3,0'`` stays one cell). When they agree: ``''``, or with
    ``agreement`` (for a message that does not name each row's grade) `` with grade 3 on
    both`` (``on all 3``), with how each row writes it when the spellings differ (``1`` and
    ``1.0`` are the same grade: `` with grade 1 on both (written '1', '1.0')``); rows whose grade
    cells are all empty: `` with no grade (empty cells) on all 3``."""
    values = {r.grade if r.grade is not None else  # a grade written as its name: its number
              parse_grade(r.written) if parse_grade(r.written) is not None else r.written for r in rows}
    # each cell quoted: a decimal comma ('3,0') would read as two cells in a bare list
    written = ", ".join(repr(r.written) for r in rows)
    if len(values) > 1:
        return f" with conflicting grades [{written}]"
    if not agreement:
        return ""
    on = "both" if len(rows) == 2 else f"all {len(rows)}"
    if not rows[0].written:  # the same empty cell on every row (one value: all are empty)
        return f" with no grade (empty cells) on {on}"
    spellings = f" (written {written})" if len({r.written for r in rows}) > 1 else ""
    return f" with grade {rows[0].written} on {on}{spellings}"


def site_cell(row: LabelRow, site_column: str) -> str:
    """The cell of ``row`` in the site column ``site_column`` (``data.site_column``: among
    :attr:`LabelRow.others`, the name matched with case and surrounding spaces ignored, as the
    ingest reads it); '' without the column or the cell (a site column that is the patient
    column is :attr:`LabelRow.patient`, compared as the patient)."""
    if not site_column:
        return ""
    wanted = site_column.strip().casefold()
    return next((cell for name, cell in row.others if name.strip().casefold() == wanted), "")


def _same_row(row: LabelRow, site_column: str = "") -> tuple[object, ...]:
    """What two label rows must share to be one row written twice: the name and the grade cell
    as written, the patient, the site (``site_column``, ``data.site_column``: it decides the
    folds and the figures per site, so rows of one image naming two sites are an error, as two
    patients are) and what else marked them (every other column, :attr:`LabelRow.others`, is
    said when it differs: :func:`_other_cells`)."""
    return row.name, row.written, row.patient, row.folder, row.marked_by, site_cell(row, site_column)


def _other_cells(rows: Sequence[LabelRow]) -> str:
    """The other columns (:attr:`LabelRow.others`) in which ``rows`` (one row written again, as
    :func:`_same_row` reads it) differ, in words: ``"note 'ok' vs 'dup'"`` (per column, each row's cell in file order,
    ``"note 'ok' (line 4), 'dup' (line 26), 'dup' (line 27)"`` for three rows whose cells are not
    all different); ``''`` when they agree on every column."""
    said = []
    for i, (column, _) in enumerate(rows[0].others):
        cells = [r.others[i][1] for r in rows]
        if len(set(cells)) == 1:
            continue
        if len(set(cells)) == len(cells):
            said.append(f"{column} " + " vs ".join(repr(c) for c in cells))
        else:
            said.append(f"{column} " + ", ".join(f"{c!r} (line {r.line})" for c, r in zip(cells, rows, strict=True)))
    return "; ".join(said)


SOURCE_COLUMN_WORDS = frozenset({"site", "sites", "source", "sources", "centre", "centres",
                                  "center", "centers", "hospital", "hospitals", "clinic",
                                  "clinics", "institution", "institutions", "dataset", "datasets",
                                  "origin"})
"""Whole words (any case: :func:`data_prep.labels.name_words`) of a label-CSV column naming
where an image came from (``site``, ``Source``, ``study_centre``): rows of one image name and
grade that differ in such a column may be two sources' images under one name
(:func:`shared_name_columns`)."""

NOT_SOURCE_WORDS = frozenset({"unnamed", "index", "grader", "graders", "rater", "raters",
                              "reader", "readers", "annotator", "annotators", "date", "time",
                              "timestamp", "on", "at"})
"""Words that keep a column out of :data:`SOURCE_COLUMN_WORDS` however it is named otherwise: a
pandas index (``Unnamed: 0``, ``index``), who graded (``grader``, ``rater``, ``reader_site``)
and when (``graded_on``, ``date``, ``source_date``): such cells differ between rows of one
image without another image behind them."""

SHARED_NAME_LAYOUTS = frozenset(kind for kind in DATA_LAYOUTS
                                if kind not in ("auto", "medmnist") and kind not in NESTED_LAYOUTS)
"""The layouts whose training images lie in one flat folder, where two sources' ``7.png``
copied in overwrite each other (:func:`shared_name_columns`): every layout of
:data:`drac_ssl.config.DATA_LAYOUTS` but the per-patient folder ones
(:data:`data_prep.layout.NESTED_LAYOUTS`, DeepDRiD: both copies kept) and MedMNIST (its images
are rows of one ``.npz``, with no file names to share), so a new flat layout is in by itself."""


def source_column(name: str) -> bool:
    """Whether a label-CSV column ``name`` names the source of an image: a whole word of
    :data:`SOURCE_COLUMN_WORDS` and none of :data:`NOT_SOURCE_WORDS` (``site``, ``Source``,
    ``centre_id``; not ``grader``, ``graded_on``, ``source_date``, ``Unnamed: 0``)."""
    words = _name_words(name)
    return bool(words & SOURCE_COLUMN_WORDS) and not words & NOT_SOURCE_WORDS


def shared_name_columns(rows: Sequence[LabelRow], layout_kind: str | None) -> list[str]:
    """The columns naming a source (:func:`source_column`) whose cells differ among ``rows``
    (naming one image), when ``layout_kind`` (``None``: plain) keeps its training images in one
    flat folder (:data:`SHARED_NAME_LAYOUTS`): then the rows may be two sources' images under
    one name, one file overwriting the other. [] otherwise (a grader, a date, an index column,
    a note: rows of one image that may simply be copied or graded twice)."""
    if (layout_kind or "plain") not in SHARED_NAME_LAYOUTS:
        return []
    if any(len(r.others) != len(rows[0].others) for r in rows):
        return []
    return [column for i, (column, _) in enumerate(rows[0].others)
            if source_column(column) and len({r.others[i][1] for r in rows}) > 1]


SHARED_NAME_WHY = ("two images under one name? (two sources each with their own {name}: one "
                   "copy overwrote the other, so an image is lost and the row kept may not "
                   "describe the pixels left)")
"""Why rows naming one image with the same grade but other columns differing are an error
(:func:`drop_repeated_rows`; ``{name}``: the image name)."""

SHARED_NAME_FIX = ("two sources share a name? prefix each source's files and CSV names with "
                   "the source (A_7.png, B_7.png) and copy every file in again")
"""The fix of rows naming one image whose other columns (a site, a note) differ: they may be two
sources' images under one file name (:func:`drop_repeated_rows`, :func:`duplicate_label_rows`)."""


def drop_repeated_rows(table: LabelTable, layout_kind: str | None = None, site_column: str = ""
                       ) -> tuple[LabelTable, list[Problem]]:
    """``table`` without the repeats of a row, its :attr:`LabelTable.repeats` holding them, and a
    warning for each image so repeated (an error where a source column differs in a flat-folder
    layout: :func:`shared_name_columns`; kind ``csv``).

    A row written again (the same image name, grade cell as written and patient: a copy-paste,
    or two exports joined) says nothing new to the ingest: the first is kept and the repeats are
    left out, with a warning naming the lines (a warning, not an error: nothing the ingest reads
    is lost whichever row is deleted; ``--strict`` makes it fatal, as every warning). A repeat is
    told by the grade cell as written, never by the grade read from it, so that it is the same
    repeat on every scale: ``4`` twice is one row written twice under DRAC's 3 grades (where the
    kept row's 4 is the grade error) as under ICDR's 5 (the ingest's inference of the ICDR scale,
    ``data_prep.ingest.infer_icdr``, compares the two readings' errors). When the rows differ in
    any other column (a note, the eye, the other eye's grade, a gradable column's ``1`` and
    ``yes``, a grader, a date: :attr:`LabelRow.others`), the warning says that they are not
    identical and names those columns' cells (:func:`_other_cells`): still a warning, since the
    manifest is the same whichever row is kept. Where a differing column names the source
    (``site``, ``hospital``: :func:`source_column`) and ``layout_kind`` (``None``: plain) keeps
    its images in one flat folder (:data:`SHARED_NAME_LAYOUTS`), the rows may be two images
    under one name (two sources' ``7.png`` pooled into one folder, one file overwriting the
    other: an image lost without a word, and the kept row's site maybe not the pixels'): an
    error, whose fix is to prefix each source's files and CSV names
    (:data:`SHARED_NAME_FIX`), else to delete the copy. A repeat of a row in error (its grade cell ``x``, or ``4`` on DRAC's
    scale; a repeat's own gradable cell) is never "nothing to do": its fix is to delete the
    repeat, which leaves the error to the kept row. Rows that differ in what is read (another grade,
    even ``1.0`` for ``1``; another spelling or case of the name; another patient) or that say
    no grade (an empty or ``NA`` cell, a row marked ungradable: no grade written twice, and each
    row's own error asks to delete it) stay :func:`duplicate_label_rows`' error, each of their
    lines named; so do rows naming other sites in ``site_column`` (``data.site_column``, which
    decides the folds and the figures per site: :func:`_same_row`)."""
    by_name: dict[str, list[LabelRow]] = {}
    for row in table.rows:
        by_name.setdefault(name_key(row.name), []).append(row)
    repeats: list[tuple[LabelRow, int]] = []
    problems = []
    for rows in by_name.values():
        if len(rows) < 2 or len({_same_row(r, site_column) for r in rows}) > 1:
            continue
        if rows[0].grade is None and (is_ungraded(rows[0].written) or rows[0].marked_by):
            continue  # no grade written twice: each row's own error says to delete it
        if any(name_key(r.name) == name_key(rows[0].name) for r in table.left_out):
            continue  # an ungradable row of the same image: the error names every row
        repeats += [(r, rows[0].line) for r in rows[1:]]
        lines = ", ".join(str(r.line) for r in rows)
        them = (f"line {rows[1].line}" if len(rows) == 2
                else f"lines {', '.join(str(r.line) for r in rows[1:])}")
        differ = _other_cells(rows)
        shared = shared_name_columns(rows, layout_kind)
        read = "name, grade and patient" if rows[0].patient else "name and grade"
        same = f"the same {read} but other columns differ ({differ})" if differ else "the rows identical"
        meant = (f"if {'it' if len(rows) == 2 else 'one'} was meant for another image, write that "
                 "image's name in it; else " if differ else "")
        if rows[0].grade is None:  # the grade cell's error, said of every copy (x; 4 on DRAC's scale)
            fix = f"{meant}delete {them}; the grade error then stands for line {rows[0].line} alone"
        elif any(r.grade is None for r in rows[1:]):  # a repeat's own error (its gradable cell)
            fix = (f"{meant}delete {them}, and "
                   f"{'its error goes with it' if len(rows) == 2 else 'their errors go with them'}")
        elif shared:
            fix = f"{meant}delete {them} ({'a copy' if len(rows) == 2 else 'copies'})"
        elif differ:
            fix = (f"nothing to do if {them} {'is a copy' if len(rows) == 2 else 'are copies'}; "
                   f"{meant}delete {them} to silence this")
        else:
            fix = f"nothing to do; delete {them} to silence this"
        said = (f"{rows[0].name} is listed {len(rows)} times (lines {lines})"
                f"{_grade_clash(rows, agreement=True)}, {same}")
        if shared:  # maybe two images under one name: one source's file overwrote the other's
            problems.append(error(f"{table.path}:{rows[1].line}",
                                  f"{said}: {SHARED_NAME_WHY.format(name=rows[0].name)}",
                                  f"{SHARED_NAME_FIX}; if not: {fix}", "csv"))
        else:
            problems.append(warning(f"{table.path}:{rows[1].line}",
                                    f"{said}: the first is kept, {them} left out", fix, "csv"))
    if not repeats:
        return table, []
    dropped = {r.line for r, _ in repeats}
    return dataclasses.replace(table, rows=[r for r in table.rows if r.line not in dropped],
                               repeats=sorted(repeats, key=lambda pair: pair[0].line)), problems


def duplicate_label_rows(table: LabelTable, layout_kind: str | None = None,
                         site_column: str = "", images: Sequence[Path] = ()) -> list[Problem]:
    """A CSV naming the same image twice (case-insensitively, in any Unicode form:
    :func:`data_prep.layout.name_key`) is fatal, unless the rows are one row written again
    exactly (:func:`drop_repeated_rows`, which the ingest calls first, leaves the repeats out
    with a warning).

    The grades are said whether they differ or not (:func:`_grade_clash`): grades that differ
    as the CSV writes them, one per line in file order (an out-of-range ``7`` stays ``7``;
    its own error comes from :func:`grade_problem`); ``1`` and ``1.0`` are the same grade, no
    conflict. Rows naming one image in different
    spellings (``001.png`` and ``1``) are :func:`same_image_rows`'. ``layout_kind``: where a
    differing source column may mean two images under one name (:func:`shared_name_columns`),
    the fix says so first; ``site_column`` (``data.site_column``): rows naming other sites are
    told to keep the image's right site. ``images``: the folder's images; rows spelled as two
    of them whose contents differ (``IMG_1.png`` and ``img_1.png``, two photographs on Linux)
    are told to rename one file and its row, never to delete a row."""
    files = {p.name: p for p in images}
    by_name: dict[str, list[LabelRow]] = {}
    for row in sorted([*table.rows, *table.left_out], key=lambda r: r.line):
        by_name.setdefault(name_key(row.name), []).append(row)
    problems = []
    for rows in by_name.values():
        if len(rows) > 1:
            lines = ", ".join(str(r.line) for r in rows)
            differ, fix = _row_differences(rows, layout_kind, site_column)
            spelt = list(dict.fromkeys(r.name for r in rows))
            if (len(spelt) > 1 and all(n in files for n in spelt)
                    and (apart := different_files([files[n] for n in spelt])) is not False):
                differ += (f"; they name {len(spelt)} {'different images' if apart else 'files'} "
                           f"({contents_words(apart)})")
                fix = TWO_IMAGES_FIX
            problems.append(error(f"{table.path}:{rows[1].line}",
                                  f"{rows[0].name} is listed {len(rows)} times (lines {lines})"
                                  f"{_grade_clash(rows, agreement=True)}{differ}",
                                  fix, "csv"))
    return problems


def _row_differences(rows: Sequence[LabelRow], layout_kind: str | None = None,
                     site_column: str = "") -> tuple[str, str]:
    """(what else the rows naming one image differ in, in words, e.g. ``'; other columns differ
    (site 'A' vs 'B')'`` (the fix then starts with :data:`SHARED_NAME_FIX` where
    :func:`shared_name_columns` finds a source column, else with "keep exactly one row per
    image": a grader's or a date's cells), ``'; patient p0 on
    line 3, p9 on line 4'`` and ``'; spelt s06.png / S06.png'``, else ``''``; the fix): the reason a
    repeated row that agrees on its grade is still an error (:func:`drop_repeated_rows` drops
    only exact repeats), and which row to keep."""
    said, keep = [], "keep exactly one row per image"
    if all(len(r.others) == len(rows[0].others) for r in rows) and _other_cells(rows):
        said.append(f"other columns differ ({_other_cells(rows)})")
        if shared_name_columns(rows, layout_kind):
            keep = f"{SHARED_NAME_FIX}; else {keep}"
    if len({r.patient for r in rows}) > 1:
        said.append("patient " + ", ".join(f"{r.patient or repr('')} on line {r.line}" for r in rows))
        keep += (": the row with the image's right patient, deleting the other"
                 + ("s" if len(rows) > 2 else ""))
    elif len({site_cell(r, site_column) for r in rows}) > 1:  # the site decides folds and per-site figures
        keep += (f": the row with the image's right site ({site_column}), deleting the other"
                 + ("s" if len(rows) > 2 else ""))
    if len({r.name for r in rows}) > 1:
        said.append("spelt " + " / ".join(dict.fromkeys(r.name for r in rows)))
        if len(said) == 1:
            keep += " (the spellings name the same image: delete all but one)"
    return "".join(f"; {s}" for s in said), keep


def same_image_rows(images: Sequence[Path], table: LabelTable) -> list[Problem]:
    """Rows that name one image in different spellings are fatal: ``001.png`` and ``1`` (a
    spreadsheet ate the leading zeros) or ``001`` (no extension), matched as
    :func:`match_labels` matches (:class:`NameIndex`), whatever their grades. Without it the
    ingest would keep one row's grade and drop the other's without a word.

    ``images``: the training images, before the rows marked ungradable take theirs out
    (:func:`leave_out_ungradable`), so that those rows count too. One error per image, at its
    second row, naming every row of the image (line, spelling, grade as written) and whether
    the grades conflict. Rows spelled alike (but for case or Unicode form) are
    :func:`duplicate_label_rows`' and not said again; names matching several images are
    :func:`ambiguous_name`'s and the folder scan's."""
    index = NameIndex(images)
    by_image: dict[Path, list[LabelRow]] = {}
    for row in sorted([*table.rows, *table.left_out], key=lambda r: r.line):
        paths, how = index.find(row.name)
        if len(paths) == 1 and how != "ambiguous":
            by_image.setdefault(paths[0], []).append(row)
    problems = []
    for path, rows in by_image.items():
        if len({name_key(r.name) for r in rows}) < 2:
            continue
        named = ", ".join(f"line {r.line} '{r.name}' grade {r.written or repr('')}" for r in rows)
        lines = [str(r.line) for r in rows]
        delete = (f"delete line {lines[0]} or line {lines[1]}" if len(rows) == 2
                  else f"delete all but one of lines {', '.join(lines)}")
        problems.append(error(f"{table.path}:{rows[1].line}",
                              f"{path.name} is named by {len(rows)} rows spelled differently "
                              f"({named}){_grade_clash(rows)}",
                              f"keep exactly one row per image: {delete}", "csv"))
    return problems


class NameIndex:
    """Find the image a CSV names: by file name, else (no extension) by stem, else (digits
    only) by the number a spreadsheet left after eating leading zeros, else (a name with an
    image extension no file has: ``x.jpeg`` for ``x.jpg``) by its stem among images of another
    image extension, all case-insensitive and in any Unicode form
    (:func:`data_prep.layout.name_key`); the paths found are the files' own."""

    def __init__(self, images: Sequence[Path]) -> None:
        self.by_path = list(images)
        self.by_name: dict[str, list[Path]] = {}
        self.by_stem: dict[str, list[Path]] = {}
        self.by_number: dict[int, list[Path]] = {}
        for path in images:
            self.by_name.setdefault(name_key(path.name), []).append(path)
            self.by_stem.setdefault(name_key(path.stem), []).append(path)
            if path.stem.isdigit():
                self.by_number.setdefault(int(path.stem), []).append(path)

    def find_cell(self, cell: str) -> tuple[list[Path], str]:
        """:meth:`find` of the file name a label-CSV cell ends in (``dir\\x.png``: ``x.png``)."""
        return self.find(cell_file_name(cell))

    def find(self, name: str) -> tuple[list[Path], str]:
        """(matching images, how: 'name' | 'stem' | 'number' | 'extension' | 'ambiguous' |
        ''). 'extension': the name's image extension is not the one file of its stem's
        (``x.jpeg`` -> ``x.jpg``); several files of that stem: 'ambiguous'."""
        key = name_key(name)
        if key in self.by_name:
            paths = self.by_name[key]
            written = unicodedata.normalize("NFC", name)  # é in either form spells the file's é
            if (len({p.name for p in paths}) > 1
                    and all(unicodedata.normalize("NFC", p.name) != written for p in paths)):
                # Img_1.png for IMG_1.png and img_1.png (two files on Linux): neither is the one
                return paths, "ambiguous"
            return paths, "name"
        if Path(key).suffix.lower() in IMAGE_SUFFIXES:
            paths = self.by_stem.get(Path(key).stem, [])
            return (paths, "extension") if len(paths) == 1 else (paths, "ambiguous" if paths else "")
        for paths, how in ((self.by_stem.get(key, []), "stem"),
                           (self.by_number.get(int(key), []) if key.isdigit() else [], "number")):
            if len(paths) == 1:
                return paths, how
            if len(paths) > 1:
                return paths, "ambiguous"
        return [], ""


def numbers_for_names(table: Table, position: int, folder: NameIndex,
                      avoid: Sequence[str] = ()) -> Problem | None:
    """The one error for an image-name column (``position`` in ``table``) that holds numbers,
    not file names: no cell names one of the training images (``folder``) and
    most are integers (a grade or a patient number given as the image column), while the
    folder's images are not themselves named by numbers (``001.png``: then the rows may just
    be another set's). Its fix names the column of file names
    (:func:`data_prep.labels.column_suggestion`, never the column itself nor one of
    ``avoid``, the grade column) when there is one; when the column of file names is the one
    given as the grade column, it says the two look swapped. It replaces a 'label without image' per
    row and an 'is listed 5 times' per repeated number. None otherwise."""
    cells = [cells[position].strip() for _, cells in table.rows
             if position < len(cells) and cells[position].strip()]
    images = folder.by_path
    if not cells or 2 * sum(p.stem.isdigit() for p in images) > len(images):
        return None
    if any(folder.find_cell(c)[0] for c in cells):
        return None
    numbers = [c for c in cells if parse_grade(c) is not None]
    if 2 * len(numbers) <= len(cells):
        return None
    column = table.columns[position]
    shown = ", ".join(dict.fromkeys(numbers))
    shown = shown if len(shown) <= 40 else shown[:40].rsplit(", ", 1)[0] + " ..."
    names_a_file = folder_name_test(folder)
    other = column_suggestion(table, "", "image-name", [column, *avoid], names_a_file)
    swapped = column_suggestion(table, "", "image-name", [column], names_a_file)  # a grade column?
    fix = (f"pass {_OPTIONS['image-name']} {other!r} (the column of file names)" if other is not None
           else f"the two columns look swapped: pass {_OPTIONS['image-name']} {swapped!r} "
                f"{_OPTIONS['grade']} {column!r}" if swapped is not None
           else f"pass {_OPTIONS['image-name']} <the column of file names>")
    return error(table.path, f"the image column {column!r} holds numbers, not file names ({shown}): "
                             f"none of its {len(cells)} cells names an image of the folder", fix, "csv")


def folder_name_test(folder: NameIndex) -> Callable[[str], bool]:
    """Whether a label-CSV cell names one of the ``folder``'s images by file name or stem (as
    :meth:`NameIndex.find_cell` matches, but not by number: a grade ``2`` is not ``002.png``):
    what tells the column of file names for a missing column's suggestion
    (:func:`data_prep.labels.column_suggestion`)."""

    def names_a_file(cell: str) -> bool:
        paths, how = folder.find_cell(cell)
        return bool(paths) and how != "number"
    return names_a_file


def only_by_case(name: str, path: Path, how: str) -> bool:
    """Whether a CSV ``name`` matched the image ``path`` by its file name (``how`` ``'name'``)
    or stem (``'stem'``) only because :func:`data_prep.layout.name_key` ignores letter case
    (``PATIENT00_OS.PNG`` for ``patient00_OS.png``): the Unicode form alone is no difference."""
    own = path.name if how == "name" else path.stem
    return unicodedata.normalize("NFC", name) != unicodedata.normalize("NFC", own)


def _subfolder_images(folder: Path, nested: bool = False) -> NameIndex:
    """The images of ``folder``'s direct (non-hidden) subfolders, which the ingest does not
    search: where a label row without an image most likely points. ``nested`` (a layout
    whose images sit in per-patient subfolders, which the ingest lists): the images one
    level deeper, in the subfolders of those."""
    found: list[Path] = []
    try:
        for sub in folder.iterdir():
            if sub.is_dir() and not sub.name.startswith("."):
                if nested:
                    found += _subfolder_images(sub).by_path
                else:
                    found += [p for p in sub.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    except OSError:
        pass
    return NameIndex(found)


TYPO_PAIRS_MAX = 250_000  # rows without image x images without row compared by spelling, at most
TYPO_ROWS_MAX = (5, 0.10)  # spelling guesses only while the rows without image are at most
# 5 or 10 % of the rows, whichever is more: a typo is a few rows; a CSV of other images would
# have every row "paired" with some unrelated, similarly numbered image


def _stem_key(name: str) -> str:
    """A name as a typo-tolerant key: no folder, no extension, lower case, NFC, no leading
    zeros (``Images/017.PNG``, ``017.jpg`` and ``17`` give ``17``). An extension of a format
    the package does not read goes too (``x.webp`` gives ``x``): a row still naming the file
    the ingest said to convert pairs with the converted ``x.png``."""
    base = cell_file_name(name)
    suffix = Path(base).suffix.lower()
    stem = name_key(Path(base).stem if suffix in IMAGE_SUFFIXES or suffix in OTHER_IMAGE_SUFFIXES
                    else base)
    return stem.lstrip("0") or stem


def likely_typos(names: Sequence[str], unlabelled: Sequence[Path], rows: int = 0) -> dict[int, Path]:
    """Pair label rows without an image with images without a row whose names are close.

    ``names``: the CSV names of the rows without an image; ``unlabelled``: the images without
    a row. Returns {index in ``names``: image}, one-to-one, first by names equal but for case,
    extension or leading zeros (``005.png`` and ``5.jpg``), then by spelling
    (``difflib.get_close_matches`` at cutoff 0.8: ``0l7.png`` and ``017.png``), in row order.
    The spelling pass is skipped when it would compare more than ``TYPO_PAIRS_MAX`` pairs, or
    when ``rows`` (the CSV's row count; 0: unknown) says that more rows lack their image than
    typos would explain (:data:`TYPO_ROWS_MAX`): then it is the wrong CSV or folder, and the
    guesses would be noise.
    """
    free: dict[str, Path] = {path.name: path for path in unlabelled}
    by_key: dict[str, list[str]] = {}
    for path in unlabelled:
        by_key.setdefault(_stem_key(path.name), []).append(path.name)
    pairs: dict[int, Path] = {}
    for i, name in enumerate(names):
        candidates = [n for n in by_key.get(_stem_key(name), []) if n in free]
        if len(candidates) == 1:
            pairs[i] = free.pop(candidates[0])
    few, share = TYPO_ROWS_MAX
    if len(names) * len(unlabelled) > TYPO_PAIRS_MAX or (rows and len(names) > max(few, share * rows)):
        return pairs
    for i, name in enumerate(names):
        if i in pairs or not free:
            continue
        close = difflib.get_close_matches(cell_file_name(name), list(free), n=1,
                                          cutoff=0.8)
        if close:
            pairs[i] = free.pop(close[0])
    return pairs


def written_file(row: LabelRow, matched: Path, bases: Sequence[Path],
                 folder: Path) -> tuple[str, Path | None]:
    """What a label row's name cell points at with its folder part (``visit2/e05.jpg``), looked
    for under each of ``bases`` (the image folder, the CSV's folder), against ``matched``, the
    image of the row's file name that the ingest pairs the row with (``folder``'s own
    ``e05.jpg``, the folder part dropped). A name without extension (``visit2/e05``) is also
    looked for with ``matched``'s suffix. Returns (verdict, file):

    * ``('same', path)``: the written path is ``matched`` itself (Messidor-2's
      ``IMAGES/e00.png`` read from the CSV's folder, ``./e00.png``), found under any base;
    * ``('inside', path)``: another picture (other bytes) inside ``folder`` (``visit2/``):
      the row would silently get the wrong image;
    * ``('outside', path)``: another picture outside ``folder`` (the CSV of ``original/``
      read with a resized copy of the set as the image folder): said in one note, no error;
    * ``('', None)``: no folder part, an absolute one (``C:/PACS/export``: nothing to
      compare), no such file, or a byte-identical copy of ``matched``."""
    if not row.folder or row.folder.startswith("/") or re.match(r"[A-Za-z]:", row.folder):
        return "", None
    written = f"{row.folder}/{row.name}"
    tails = [written] + ([written + matched.suffix] if not row.name.endswith(matched.suffix) else [])
    others: list[Path] = []
    for base in dict.fromkeys(bases):
        for tail in tails:
            candidate = base / tail
            try:
                if not candidate.is_file():
                    continue
                if os.path.samefile(candidate, matched):
                    return "same", candidate
                if not filecmp.cmp(candidate, matched, shallow=False):
                    others.append(candidate)
            except OSError:
                continue
    root = folder.resolve()
    inside = [p for p in others if p.resolve().is_relative_to(root)]
    if inside:
        return "inside", inside[0]
    return ("outside", others[0]) if others else ("", None)


def folder_part_problem(table: LabelTable, row: LabelRow, matched: Path, other: Path,
                        folder: Path) -> Problem:
    """The error of a label row whose name cell's folder part names another picture inside
    ``folder`` (:func:`written_file`) than the file of that name in ``folder``, which the ingest
    (it reads the image folder's own level only) would pair the row with: silently the wrong
    image (another visit's) if the folder part were dropped."""
    return error(f"{table.path}:{row.line}",
                 f"the row names {row.folder}/{row.name}, but only the files of {folder} itself "
                 f"are read, and its {matched.name} is another picture than {other}: the row "
                 f"would be paired with the wrong image",
                 f"give each picture a name of its own in {folder} (e.g. move {other} up as "
                 f"{row.folder.replace('/', '_')}_{row.name}, or move {matched.name} out if "
                 f"the row is its), and write that plain file name in the row", "match")


def label_named_encoding(undecodable: Sequence[Path], table: LabelTable) -> str:
    """The encoding (a codec of :data:`data_prep.layout.NAME_ENCODINGS`) in which the names of
    ``undecodable`` (a folder's files whose names are not valid UTF-8) read as the names its
    label rows give, file name or stem, ignoring case (``M\\xfcller_00.png`` read as
    Windows-1252 is the row's ``Müller_00.png``; ``Gr\\x94\\xe1e.png`` read as DOS cp437, the
    row's ``Größe.png``): the one naming the most; ``''`` when no row names any. What the
    folder scan's ``convmv -f`` then says (:func:`data_prep.layout.undecodable_problems`)."""
    rows = {name_key(cell_file_name(row.name)) for row in table.rows}
    found: Counter[str] = Counter()
    for path in undecodable:
        for codec, _, reading in name_readings(path.name):
            if name_key(reading) in rows or name_key(Path(reading).stem) in rows:
                found[codec] += 1
    return found.most_common(1)[0][0] if found else ""


def match_labels(images: Sequence[Path], table: LabelTable, folder: Path,
                 test_dir_name: str = "test", not_read: Sequence[Path] = (), missing: str = "error",
                 nested: bool = False, stem_ids: bool = False
                 ) -> tuple[dict[Path, LabelRow], list[Problem], list[LabelRow]]:
    """Pair each training image with its CSV row (see :class:`NameIndex`).

    A row without an image whose file sits in a subfolder of ``folder`` says so (the
    subfolder ``test_dir_name`` is the layout's test split: those images are unlabelled).
    ``not_read``: files of ``folder`` the folder scan already reported as not read (an image
    of a format the package does not read, ``x.webp``; another file), each with its fix
    (:func:`data_prep.layout.scan_image_folder`): a row naming one is not also called a
    label without image, which would say the file is missing.

    Fatal: an image without a row (kind ``no-label``), a row without an image (``no-image``),
    a name without extension that matches several images (``x`` for ``x.png`` and ``x.jpg``:
    one error; those images are the row's, so neither is also an image without a row nor the
    near miss offered to another row).
    The first two carry a summary (``608 of the 611 label rows have no image in FOLDER``),
    printed when their lines are cut short. A note says how many names were matched by stem
    (unless ``stem_ids``: the layout's own CSV writes ids without extension, APTOS's,
    DeepDRiD's, :data:`data_prep.layout.STEM_ID_LAYOUTS`, so that is no news) or by number, and
    one how many only by ignoring letter case (:func:`only_by_case`), each with an example pair.
    A name cell with a folder part (``visit2/e05.jpg``, ``C:\\PACS\\e05.jpg``) is matched by
    its file name, in one note counting them (not those whose path is the file matched:
    ``IMAGES/e00.png`` read from the CSV's folder); unless that path, read from ``folder`` or
    the CSV's folder, names another picture inside ``folder`` than the file matched
    (:func:`written_file`): then an error (kind ``match``), as the row would silently get
    another visit's image. Another picture outside ``folder`` (the CSV of ``original/`` read
    with a resized copy as the image folder) is said in one note. Not for
    ``nested`` layouts (DeepDRiD's ``image_path`` writes its folders by convention).

    ``missing="leave_out"`` (``data.missing``): a row whose image is nowhere (not in a
    subfolder, not a near miss of an image without a row: those stay errors) is left out
    instead, in one note naming the first :data:`LEFT_OUT_SHOWN` (asking, when more than
    half the rows go, whether the training set is fully unzipped). Returns the matched images with
    their rows, the problems, and the rows left out (file order; [] under ``error``).

    ``nested``: ``images`` were listed from ``folder``'s per-patient subfolders
    (``Images/<patient_id>/``, a layout of :data:`data_prep.layout.NESTED_LAYOUTS`); a row
    without an image is then looked for one level deeper (``Images/1/extra/1_l1.jpg``).
    """
    index = NameIndex(images)
    reported = NameIndex(not_read)  # their own error says what to do with them
    # files whose name is not valid UTF-8 (M\udcfcller_00.png), by what their bytes read as in
    # another encoding (Müller_00.png): a row naming one is the file's error, renamed in UTF-8
    undecodable = {name_key(text): path for path in not_read if not valid_utf8_name(path.name)
                   for reading in [*(r for _, _, r in name_readings(path.name)),
                                   *filter(None, [locale_only_name(path.name)])]  # LC_ALL=C
                   for text in (reading, Path(reading).stem)}
    nested_index: NameIndex | None = None  # listed on the first row without an image
    matched: dict[Path, LabelRow] = {}
    problems: list[Problem] = []
    no_image: list[tuple[str, str, str]] = []  # (where, what, fix) of the rows without an image
    no_image_lines: list[int] = []  # their lines, in the same order
    plain_missing: dict[int, LabelRow] = {}  # index in no_image: a row whose image is nowhere
    by_how: dict[str, list[str]] = {"stem": [], "number": [], "extension": []}
    by_case: list[str] = []  # 'ROW NAME -> file name' of the names matched only by ignoring case
    claimed: set[Path] = set()  # the candidates of an ambiguous row: that row's, though unpaired
    dropped: list[str] = []  # 'visit2/e05.jpg -> e05.jpg': the matched names whose folder went
    elsewhere: list[str] = []  # 'original/e00.png: /d/original/e00.png': other files outside
    for row in table.rows:
        paths, how = index.find(row.name)
        if paths and row.folder and how != "ambiguous" and not nested:
            verdict, other = written_file(row, paths[0], (folder, table.path.parent), folder)
            if verdict == "inside":  # the row names another picture than the one it would get
                problems.append(folder_part_problem(table, row, paths[0], other, folder))  # type: ignore[arg-type]
                claimed.update(paths)  # the row's, though refused: not also 'without label'
                continue
            if verdict == "outside":
                elsewhere.append(f"{row.folder}/{row.name} -> {paths[0].name}, not {other}")
            elif verdict != "same":  # the written path is the file read: nothing dropped
                dropped.append(f"{row.folder}/{row.name} -> {paths[0].name}")
        if how == "ambiguous":
            problems.append(ambiguous_name(table, row, paths, _ambiguous_words(row.name, paths)))
            if len({p.name for p in paths}) == 1:  # one name in two patient folders:
                for path in paths:  # a duplicate name, not also an image without label
                    matched.setdefault(path, row)
            else:  # x.png and x.jpg for the row 'x': its one error says so; neither file is
                claimed.update(paths)  # also 'without label', nor another row's near miss
            continue
        if not paths and (reported.find(row.name)[0] or name_key(cell_file_name(row.name)) in undecodable):
            continue  # e.g. x.webp: "a format this package does not read -> convert it"
        if not paths:
            if nested_index is None:
                nested_index = _subfolder_images(folder, nested)
            nested_paths, _ = nested_index.find(cell_file_name(row.name))
            deeper = nested_paths[0] if nested_paths else None
            if deeper is not None and nested:
                inside = deeper.parent.relative_to(folder).as_posix()
                what = (f"label without image: {row.name} is not in a patient folder of {folder} "
                        f"but in {inside}/, and images are searched one folder deep "
                        f"({folder.name}/<patient>/)")
                fix = f"move it up into {deeper.parent.parent}"
            elif deeper is not None and deeper.parent.name == test_dir_name:
                what = (f"label without image: {row.name} is not in {folder} but in its test "
                        f"folder {test_dir_name}/, whose images are graded unlabelled")
                fix = (f"delete the row if it is a test image, or move it up into {folder} if it "
                       f"is a training image")
            elif deeper is not None:
                what = (f"label without image: {row.name} is not in {folder} but in its subfolder "
                        f"{deeper.parent.name}/, and images are not searched in subfolders")
                fix = (f"move the images of {deeper.parent.name}/ up into {folder}"
                       + (" (and write the plain file names in the CSV)" if row.folder else ""))
            elif (table.encoding in GUESSED_ENCODINGS and not row.name.isascii()
                  and not table.names_matched):
                # 'ÕÅÈý_01.png': the GBK name 张三_01.png read as Windows-1252 (reread_matching
                # found no encoding whose names match): the file's encoding, not the image, is
                # amiss. Not when other non-ASCII names matched files in this reading: the
                # encoding is right, those images are missing
                what = (f"label without image: {row.name} is not in {folder}; "
                        f"{not_utf8_words(table.encoding)}")
                fix = f"{SAVE_AS_UTF8}; if the name is right as shown, add the image or delete the row"
                plain_missing[len(no_image)] = row
            elif total_row(row.name):  # 'Gesamt;30' under the grades: Excel's total row
                what = f"label without image: {row.name} is not in {folder} (a spreadsheet total row?)"
                fix = "delete the row (a total row is no image's label)"
            else:
                what, fix = f"label without image: {row.name} is not in {folder}", "add the image or delete the row"
                plain_missing[len(no_image)] = row
            no_image.append((f"{table.path}:{row.line}", what, fix))
            no_image_lines.append(row.line)
        if how in by_how:
            by_how[how].append(f"{row.name} -> {paths[0].name}")
        if how in ("name", "stem") and all(only_by_case(row.name, path, how) for path in paths):
            # a row that spells one of two case variants exactly (eye01.png beside EYE01.png, a
            # duplicate name the folder scan refuses) matched that one, not the other by case
            by_case.append(f"{row.name} -> {paths[0].name}")
        for path in paths:  # several paths: a duplicate name, reported by the folder scan
            # a row repeated, or in another spelling, is reported by duplicate_label_rows or
            # same_image_rows (fatal): the first row's grade is only kept for the other checks
            matched.setdefault(path, row)
    if dropped:  # DeepDRiD's image_path (nested) is its layout's convention: no news
        problems.append(note(table.path, f"{len(dropped)} name(s) had a folder part, dropped (e.g. "
                                         f"{dropped[0]}): only the file names of {folder} are read",
                             "nothing to do if each row's image is the file of that name in "
                             f"{folder}; else move or rename the images there so that each "
                             "name is one picture, and write the plain file names", "match"))
    if elsewhere:  # another copy of the set (resized, original) read with its CSV: no error
        problems.append(note(table.path, f"{counted(len(elsewhere), 'name')} with a folder part "
                                         f"outside {folder} name other files than the ones read "
                                         f"(e.g. {elsewhere[0]}): the images of {folder} are used",
                             f"nothing to do if {folder} is a copy of those images (resized, "
                             "converted); else point --root at the folder the CSV names", "match"))
    if by_how["stem"] and not stem_ids:
        problems.append(note(table.path, f"{len(by_how['stem'])} name(s) without extension, each "
                                         f"matched to the one image with that stem (e.g. "
                                         f"{by_how['stem'][0]})", "nothing to do", "match"))
    if by_how["extension"]:
        problems.append(note(table.path, f"{counted(len(by_how['extension']), 'name')} with another "
                                         f"image extension than the file's, each matched to the one "
                                         f"image with that stem (e.g. {by_how['extension'][0]})",
                             "nothing to do (the manifest keeps the file's own name); write the "
                             "file names as they are on disk to match exactly", "match"))
    if by_case:  # on Linux PATIENT00_OS.PNG and patient00_OS.png are two names: said, not refused
        problems.append(note(table.path, f"{counted(len(by_case), 'CSV name')} matched a file only by "
                                         f"ignoring letter case (e.g. {by_case[0]})",
                             "nothing to do (the manifest keeps the file's own name); write the "
                             "names as the files spell them to match exactly", "match"))
    if by_how["number"]:
        problems.append(note(table.path, f"{len(by_how['number'])} name(s) lost their leading "
                                         f"zeros (a spreadsheet read them as numbers), matched by "
                                         f"number (e.g. {by_how['number'][0]})",
                             "format the name column as text in the spreadsheet", "match"))
    unlabelled = [path for path in images if path not in matched and path not in claimed]
    typo_rows = list(plain_missing)
    typos = likely_typos([plain_missing[k].name for k in typo_rows], unlabelled, len(table.rows))
    row_of: dict[Path, LabelRow] = {}
    for i, path in typos.items():
        where, what, _ = no_image[typo_rows[i]]
        no_image[typo_rows[i]] = (where, what, f"did you mean {path.name}? (the image {path.name} "
                                               f"has no row): write {path.name} in the row, or "
                                               f"add the image or delete the row")
        row_of[path] = plain_missing[typo_rows[i]]
    left_out: list[LabelRow] = []
    # the rows whose image is nowhere (not a typo's near miss): what --missing leave_out takes
    guessed = {typo_rows[i] for i in typos}
    gone = {k for k in plain_missing if k not in guessed}
    if missing == "leave_out":  # a partial download
        left_out = [plain_missing[k] for k in sorted(gone)]
        no_image = [item for k, item in enumerate(no_image) if k not in gone]
        no_image_lines = [line for k, line in enumerate(no_image_lines) if k not in gone]
        if left_out:
            problems.append(_left_out_missing_problem(table, left_out, folder, len(images)))
    elif gone and images:  # each such row's fix names the option, said when lines are not cut
        no_image = [(where, what, f"{fix}, or rerun with --missing leave_out") if k in gone
                    else (where, what, fix) for k, (where, what, fix) in enumerate(no_image)]
    if no_image:
        rows = table.rows_written  # as written: repeats and ungradable rows too
        # the rows as written without an image: a repeat of one of them too (drop_repeated_rows)
        without = len(no_image) + sum(len(table.repeat_lines(line)) for line in no_image_lines)
        nowhere = len(gone) if missing != "leave_out" and images else 0  # leave_out would take them
        them = ("them" if nowhere == len(no_image)
                else f"the {nowhere} whose image is nowhere")
        summary = (f"{without} of the {rows} label rows have no image in {folder} "
                   f"({counted(len(images), 'image')} there)"
                   + (": is the training set fully unzipped there? To train on the images that "
                      f"are there, {MISSING_LEAVE_OUT_FIX}" if 2 * without > rows
                      and nowhere == len(no_image) else
                      f": is the training set fully unzipped there? To leave out {them}, "
                      f"{MISSING_LEAVE_OUT_FIX}" if 2 * without > rows and nowhere else
                      f"; to {'train without' if nowhere == len(no_image) else 'leave out'} "
                      f"{them}, {MISSING_LEAVE_OUT_FIX}" if nowhere else ""))
        problems += [Problem(where, what, fix, "error", "no-image", summary)
                     for where, what, fix in no_image]
    summary = (f"{len(unlabelled)} of the {len(images)} images in {folder} have no row in "
               f"{table.path.name}" + (f": is {table.path.name} the label CSV of these images?"
                                       if 2 * len(unlabelled) > len(images) else ""))
    for path in unlabelled:
        what = f"image without label: no row for {path.name} in {table.path.name}"
        fix = ("add a row with its grade or move the image out of the folder; to keep it for the "
               "self-supervised pretraining only, without a grade, move it into a folder passed "
               "as --unlabelled")
        if path in row_of:
            what += f"; line {row_of[path].line} names {row_of[path].name}: a typo?"
            fix = (f"write {path.name} at {table.path.name}:{row_of[path].line} if that row is "
                   f"its, else {fix}")
        problems.append(Problem(str(path), what, fix, "error", "no-label", summary))
    return matched, problems, left_out


MISSING_LEAVE_OUT_FIX = ("rerun with --missing leave_out (the rows without an image are then left "
                         "out, listed in ingest_summary.json)")
"""How the rows of a partial download are left out without editing the label CSV: the
ingest's flag, which ``python -m drac_ssl.train`` says as ``data.missing=leave_out``."""


def _left_out_missing_problem(table: LabelTable, left_out: Sequence[LabelRow], folder: Path,
                              n_images: int) -> Problem:
    """The note of the rows ``data.missing=leave_out`` left out: how many of the table's rows as
    written (a repeat of a row left out, :attr:`LabelTable.repeats`, has no image either and is
    counted), the first :data:`LEFT_OUT_SHOWN` (``labels.csv:LINE NAME``, with ``(line 28
    repeats it)`` for such a repeat), where the full list is; when
    more than half the rows go, whether the set is fully unzipped. A note even then: a
    leave-out the user asked for is no conversion, and ``--strict`` (which makes every
    warning fatal) does not stop on it, as on ``--ungradable leave_out``'s note."""
    rows = table.rows_written
    n = len(left_out) + sum(len(table.repeat_lines(row.line)) for row in left_out)  # as written
    shown = ", ".join(f"{table.path.name}:{row.line} {row.name}{_repeated_by(table, row.line)}"
                      for row in left_out[:LEFT_OUT_SHOWN])
    more = len(left_out) - LEFT_OUT_SHOWN
    most = 2 * n > rows
    what = (f"{n} of the {rows} label rows {'has' if n == 1 else 'have'} no image in {folder} and "
            f"{'was' if n == 1 else 'were'} left out (--missing leave_out): {shown}"
            + (f", and {more} more" if more > 0 else "")
            + (f"; {counted(n_images, 'image')} there: is the training set fully unzipped there?"
               if most else ""))
    fix = "nothing to do if they are not downloaded; ingest_summary.json lists every one (left_out_missing)"
    return Problem(str(table.path), what, fix, "note", "missing")


def _repeated_by(table: LabelTable, line: int) -> str:
    """`` (line 28 repeats it)`` (``lines 28, 29 repeat it``) for the row at ``line`` when
    :func:`drop_repeated_rows` left repeats of it out, else ``''``."""
    lines = table.repeat_lines(line)
    if not lines:
        return ""
    return (f" (line {lines[0]} repeats it)" if len(lines) == 1
            else f" (lines {', '.join(map(str, lines))} repeat it)")


def check_test_list(images: Sequence[Path], names: Sequence[tuple[int, str]], csv_path: Path,
                    folder: Path) -> list[Problem]:
    """The test images against the list a layout ships (APTOS ``test.csv``): both ways."""
    index = NameIndex(images)
    listed: set[Path] = set()
    problems: list[Problem] = []
    for line, name in names:
        paths, how = index.find(name)
        if not paths or how == "ambiguous":
            problems.append(error(f"{csv_path}:{line}", f"test image {name} is listed but "
                                  f"{'ambiguous' if paths else 'not'} in {folder}",
                                  "add the image or delete the row",
                                  "match" if paths else "no-image"))
        listed.update(paths if how != "ambiguous" else [])
    for path in images:
        if path not in listed:
            problems.append(error(path, f"test image not listed in {csv_path.name}",
                                  "add its id to the list or move it out of the test folder",
                                  "no-label"))
    return problems


KEEP_TEST_WHOLE = ("remove it from the training set (the image and its label row); keep the test "
                   "set whole: a submission needs a row for every test image")
"""The fix of the same image in both sets (DRAC trial s57 F4: "remove it from one of the two
sets" could drop a test image the challenge's submission must grade). Renaming it is no fix:
a renamed copy is still byte-identical (:func:`identical_content`)."""

SHARED_NAME_KIND = "shared-name"
"""The :class:`Problem` kind of a training and a test image of one name (:func:`names_in_both`)."""

KEEP_TEST_NAME = ("keep the test file's name: the submission names each test case by its file "
                  "name, and a challenge (DRAC 2022) accepts only its official test names")
"""Why a shared name is fixed on the training side (a trial user, F3: the fix said to remove
a training image whose contents differed; renaming the test file would rename its case)."""


EYE_NAME = re.compile(r"^(?P<patient>.+)_(?P<eye>left|right)$", re.IGNORECASE)
"""EyePACS / Kaggle DR 2015 image ids: ``<patient>_left`` and ``<patient>_right`` (the
patient of :func:`data_prep.ingest.pair_eyes`, which keeps a patient's two eyes in one fold)."""

EYE_PAIR_WORDS = "<patient>_left / _right"
""":data:`EYE_NAME`'s ids in words, as the ingest's notes, its summary's ``patients.source``,
the preflight and ``export --score`` print them (one wording)."""


def eye_pair_patient(name: str) -> str | None:
    """The patient of an EyePACS image id (:data:`EYE_NAME`: ``10_left`` and ``10_right.jpeg``
    are patient ``10``), None for a name of another form. The one rule of the ingest's eye
    pairs (:func:`data_prep.ingest.pair_eyes`) and of ``export --score``'s with EyePACS-layout
    labels (:func:`drac_ssl.scoring.read_grade_labels`). Only a known image extension is
    stripped (:func:`image_stem`): ``1.2_left`` is patient ``1.2``."""
    match = EYE_NAME.match(image_stem(name))
    return match["patient"] if match else None


def image_stem(name: str) -> str:
    """``name`` without its extension when that is an image's (:data:`IMAGE_SUFFIXES` or
    :data:`drac_ssl.grading.image_notes.OTHER_IMAGE_SUFFIXES`, any case): ``10_left.jpeg`` ->
    ``10_left``; an id with a dot of its own is kept whole (``1.2_left``, whose
    ``Path.stem`` would be ``1``)."""
    path = Path(str(name))
    suffix = path.suffix.lower()
    return path.stem if suffix in IMAGE_SUFFIXES or suffix in OTHER_IMAGE_SUFFIXES else str(name)


EYE_SUFFIX_NAME = re.compile(r"^(?P<patient>.+?)[_-](?P<eye>left|right|od|os|l|r)$", re.IGNORECASE)
"""Image ids that name an eye after the patient: ``<id>_left`` / ``<id>_right``,
``<id>_OD`` / ``<id>_OS`` and ``<id>_L`` / ``<id>_R`` (also with ``-``): :func:`eye_suffix_share`
counts them in a plain CSV layout, which pairs no eyes by itself."""


def eye_suffix_share(names: Sequence[str]) -> tuple[int, str]:
    """How many of ``names`` (image ids, extension or not) match :data:`EYE_SUFFIX_NAME`, and
    the suffixes seen (``_left/_right``, ``_OD/_OS``), for the ingest's warning that such images
    are not paired into patients unless ``data.patient_column`` names them."""
    hits = [m for n in names if (m := EYE_SUFFIX_NAME.match(image_stem(n)))]
    kinds = sorted({_EYE_KINDS[m["eye"].lower()] for m in hits})
    return len(hits), " and ".join(kinds)


_EYE_KINDS = {"left": "_left/_right", "right": "_left/_right", "od": "_OD/_OS", "os": "_OD/_OS",
              "l": "_L/_R", "r": "_L/_R"}


EYE_NAMES_SHARE = 0.5
"""The share of image ids named ``<id>_left`` / ``_right``, ``_OD`` / ``_OS`` or ``_L`` / ``_R``
above which a layout that pairs no eyes is warned (:func:`eye_names_words`)."""


def eye_names_words(image_ids: Sequence[str], what: str = "training image ids") -> str:
    """``'120 of 150 training image ids are named <id>_left/_right'`` when more than
    :data:`EYE_NAMES_SHARE` of ``image_ids`` name an eye after an id
    (:func:`eye_suffix_share`), else ``''``; ``what``: the ids' name in the sentence. The
    ingest's warning and ``export --score``'s (labels naming no patients) say it alike."""
    hits, kinds = eye_suffix_share(image_ids)
    if not image_ids or hits <= EYE_NAMES_SHARE * len(image_ids):
        return ""
    return f"{hits} of {len(image_ids)} {what} are named <id>{kinds.replace(' and ', ' or <id>')}"


def unpaired_eyes_words(said: str, consequences: str, setting: bool = False,
                        column: str | None = None) -> tuple[str, str]:
    """The message and fix of the warning that images named after an eye (``said``:
    :func:`eye_names_words`) are not paired into patients, no patient column given: "each
    image is its own unit, so ``consequences``". ``setting``: the fix names
    ``data.patient_column`` too (the ingest's; ``export --score`` has no such setting).
    ``column``: the label CSV's column that looks like a patient id
    (:func:`patient_column_guess`, the ingest's "pass --patient-column" warning), which the fix
    then names, as that warning does (a trial user's CSV had 'Patient ID': the fix said to add
    such a column); None: add one. The ingest's (:func:`data_prep.ingest.own_patients`) and
    ``export --score``'s one wording."""
    flag = " (data.patient_column)" if setting else ""
    if column:
        return (f"{said}, but no patient column is given: each image is its own unit, so {consequences}",
                f"pass --patient-column {column!r}{flag}: the label CSV's column {column!r} looks like "
                f"{id_words(column)} (the warning on it above), and keeps each patient's images in one fold")
    return (f"{said}, but no patient column is given: each image is its own unit, so {consequences}",
            "add a column naming each image's patient (the part before the eye, e.g. 10 for 10_left) to the "
            f"label CSV and pass --patient-column <that column>{flag}")


class TakenNames:
    """The names a training image's new name must not take (:func:`training_rename`), as
    :func:`data_prep.layout.name_key` keys of each name and of each name without its extension
    (a label row of APTOS, EyePACS or IDRiD names an image by its stem,
    :data:`data_prep.layout.STEM_ID_LAYOUTS`). Built once per check and grown with each new
    name said (:meth:`add`), so renaming every training image of an EyePACS-size set sharing
    its names with the test set reads each taken name once, not once per image renamed."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        self._keys: set[str] = set()
        for name in names:
            self.add(name)

    def add(self, name: str) -> None:
        """Take ``name`` (a file name, or a label row's name with or without extension)."""
        self._keys.add(name_key(name))
        self._keys.add(name_key(os.path.splitext(name)[0]))

    def rename(self, name: str, eye_pairs: bool = False) -> str:
        """:func:`training_rename` of ``name`` among these names; the name returned is not
        taken (:meth:`add` it once said)."""
        stem, suffix = os.path.splitext(name)
        eye = EYE_NAME.match(stem) if eye_pairs else None
        for n in range(1, len(self._keys) + 2):
            marker = f"train{n if n > 1 else ''}"
            if eye:
                stems = [f"{eye['patient']}{marker}_{side}" for side in ("left", "right")]
                candidate = f"{eye['patient']}{marker}_{eye['eye']}{suffix}"
            else:
                candidate = f"{stem}_{marker}{suffix}"
                stems = [os.path.splitext(candidate)[0]]
            if not any(name_key(s) in self._keys for s in stems):
                return candidate
        raise AssertionError("unreachable: more candidates than names taken")


def training_rename(name: str, taken: Collection[str], eye_pairs: bool = False) -> str:
    """A new name for the training image ``name`` that no name of ``taken`` has
    (:func:`data_prep.layout.name_key` compares them: letter case and Unicode form ignored),
    also without its extension (a label row of APTOS, EyePACS or IDRiD names an image by its
    stem, :data:`data_prep.layout.STEM_ID_LAYOUTS`): ``042.png`` -> ``042_train.png``, then
    ``042_train2.png`` ... (the suffix kept).

    ``eye_pairs`` (EyePACS, whose patient is the id before ``_left`` / ``_right``,
    :data:`EYE_NAME`): the marker goes before the eye, ``10_left.jpeg`` -> ``10train_left.jpeg``,
    so the renamed image still names a patient, one whose both eyes' names are free (the other
    eye is renamed alike: ``10train_right``). ``10_left_train.jpeg`` would name no patient, and
    the two eyes of patient 10 could land in two folds.

    One name; :class:`TakenNames` renames many against one set of taken names (as
    :func:`names_in_both` does), building the set once."""
    return TakenNames(taken).rename(name, eye_pairs)


def label_row_names(table: LabelTable | None) -> list[str]:
    """The image names a label CSV's rows write (as written: ``10_left`` without extension in
    EyePACS), the rows left out as ungradable and the exact repeats included: names a
    training image's new name must not take (:func:`names_in_both`)."""
    if table is None:
        return []
    return ([row.name for row in table.rows] + [row.name for row in table.left_out]
            + [row.name for row, _ in table.repeats])


def _folder_names(folder: Path) -> list[str]:
    """The names in ``folder`` (images or not); [] when it cannot be listed."""
    try:
        return [entry.name for entry in os.scandir(folder)]
    except OSError:
        return []


def _spelled(train_path: Path, test_path: Path) -> str:
    """``002.PNG in the training set, letter case ignored; `` when the two names match only
    as :func:`data_prep.layout.name_key` compares them, else ''."""
    if train_path.name == test_path.name:
        return ""
    nfc = [unicodedata.normalize("NFC", p.name) for p in (train_path, test_path)]
    ignored = ("Unicode form ignored" if nfc[0] == nfc[1] else "letter case ignored"
               if train_path.name.lower() == test_path.name.lower() else
               "letter case and Unicode form ignored")
    return f"{train_path.name} in the training set, {ignored}; "


def names_in_both(train: Sequence[Path], test: Sequence[Path], allowed: bool = False,
                  digests: Mapping[Path, str | Collection[str]] | None = None, *, row_names: Collection[str] = (),
                  eye_pairs: bool = False) -> list[Problem]:
    """An image name in both the training and the test set (:func:`data_prep.layout.name_key`)
    is fatal: the manifest and the submission name each image by its file name, so a name
    must mean one image. ``digests`` (path -> sha256, or the image's copy keys,
    :func:`data_prep.copies.copy_keys`, the ingest's, once it has read the files: the same
    when two share one; None for the preflight's listing) tells the two cases apart:

    - the same contents (the same bytes, or with copy keys the same decoded pixels): the same
      image in both sets, left to :func:`identical_content`,
      which says it with :data:`KEEP_TEST_WHOLE` (one error, not two);
    - other contents: two images sharing a name (kind :data:`SHARED_NAME_KIND`, at the
      training file), fixed by renaming the training file and its label row
      (:func:`training_rename`), never the test file (:data:`KEEP_TEST_NAME`);
    - not read (no digest, or ``digests`` None): that fix, and removing it from the training
      set should it be the same image.

    The new name said is free among the names in the two files' folders (images left out,
    other files), the listed images and ``row_names`` (the label CSV's,
    :func:`label_row_names`); a row written without extension (APTOS, EyePACS, IDRiD) is said
    renamed without one. ``eye_pairs`` (EyePACS without a patient column): the new name keeps
    the patient form (:func:`training_rename`) and the fix names the patient's other eye, to be
    renamed alike or kept together with ``--patient-column``. Names matching only as
    ``name_key`` does (``002.PNG`` and ``002.png``) are both said.

    ``allowed``: the layout's official names restart in the test set (IDRiD): one note
    instead, of the pairs not known identical (identical content is still an error of
    :func:`identical_content`).
    """
    train_by_name = {name_key(p.name): p for p in train}
    pairs = [(train_by_name[name_key(p.name)], p) for p in test if name_key(p.name) in train_by_name]

    def contents(pair: tuple[Path, Path]) -> str:  # "same", "different" or "" (not read)
        if digests is None or not digests.get(pair[0]) or not digests.get(pair[1]):
            return ""
        train_keys, test_keys = ({d} if isinstance(d, str) else set(d) for d in (digests[pair[0]], digests[pair[1]]))
        return "same" if train_keys & test_keys else "different"

    pairs = [(pair, contents(pair)) for pair in pairs]
    pairs = [(pair, said) for pair, said in pairs if said != "same"]  # identical_content's
    if allowed:
        differ = "; their contents differ" if pairs and all(said for _, said in pairs) else ""
        return [note(pairs[0][0][1].parent, f"{len(pairs)} test image name(s) also name training "
                                            f"images (the official names restart in the test set)"
                                            f"{differ}", "nothing to do", SHARED_NAME_KIND)] if pairs else []
    if not pairs:
        return []
    folders = {path.parent for pair, _ in pairs for path in pair}
    taken = TakenNames([p.name for p in train] + [p.name for p in test] + list(row_names)
                       + [name for folder in sorted(folders) for name in _folder_names(folder)])
    row_keys = {name_key(name) for name in row_names}
    stem_by_key = {name_key(p.stem): p for p in train}
    advised: dict[Path, str] = {}  # training file -> the new name said (an eye renamed with its pair)

    def renamed(path: Path, new_name: str) -> str:  # 'the file to X.png and its row to X'
        if name_key(path.name) not in row_keys and name_key(path.stem) in row_keys:
            return f"the file to {new_name} and its row to {os.path.splitext(new_name)[0]}"
        return f"to {new_name}"

    problems = []
    for (train_path, test_path), said in pairs:
        new_name = advised.get(train_path) or taken.rename(train_path.name, eye_pairs)
        advised[train_path] = new_name
        taken.add(new_name)
        rename = f"rename the training file and its label row, e.g. {renamed(train_path, new_name)}"
        eye = EYE_NAME.match(train_path.stem) if eye_pairs else None
        if eye is not None:
            side = "right" if eye["eye"].lower() == "left" else "left"
            other = stem_by_key.get(name_key(f"{eye['patient']}_{side}"))
            new_eye = EYE_NAME.match(os.path.splitext(new_name)[0])
            other_eye = EYE_NAME.match(other.stem) if other is not None else None
            if other is not None and new_eye is not None and other_eye is not None:
                other_new = (advised.get(other)
                             or f"{new_eye['patient']}_{other_eye['eye']}{other.suffix}")
                advised[other] = other_new
                taken.add(other_new)
                rename += (f", and patient {eye['patient']}'s other eye {other.name} with it, "
                           f"{renamed(other, other_new)} (EyePACS names the patient before _left "
                           f"/ _right: an eye renamed alone is another patient's, and the two "
                           f"eyes could land in two folds, a patient leak; a label column naming "
                           f"each image's patient, given as --patient-column, also keeps them "
                           f"together)")
        rename += f", so each image name is unique; {KEEP_TEST_NAME}"
        spelled = _spelled(train_path, test_path)
        if said == "different":
            what = (f"a training and a test image share the name {test_path.name} ({spelled}"
                    f"different contents; the test image is {test_path})")
            fix = rename
        else:
            what = (f"a training and a test image share the name {test_path.name} ({spelled}"
                    f"the test image is {test_path}; contents not compared)")
            fix = (f"{rename}; if the two are the same image, remove it from the training set "
                   "(the image and its label row) instead")
        problems.append(error(train_path, what, fix, SHARED_NAME_KIND))
    return problems


def identical_content(files: Sequence[tuple[str, str, str] | tuple[str, str, str, str]
                                     | tuple[str, str, str, str, str]],
                      blank: Collection[str] = ()) -> list[Problem]:
    """Copies of one image: byte-identical files (the same ``sha256``) or files whose decoded
    pixels are identical (the same ``pixels_sha256``, :func:`pixels_sha256`: a PNG re-saved
    at another compression, a grey picture stored in three equal channels), one rule
    (:func:`data_prep.copies.copy_keys`) for both, so that a re-saved copy is no way past the
    check (a leakage audit: a re-saved test image among the training images, and two copies of
    one training image in two folds, went unnoticed). ``files`` holds (display path, split,
    sha256) and, optionally, the image's grade in words (``'3 (line 2 of labels.csv)'``, ''
    for none) and its ``pixels_sha256`` ('' or None: not known, e.g. a file that did not
    decode; only its bytes are then compared). ``blank`` holds the display paths of blank or
    near-constant images (:func:`blank_problem`'s): copies in both sets that are all blank are
    said as blank images, with the blank warning's fix (not scans: move them out), since
    "the same image" made a placeholder look like a leaked scan. Two training copies with different grades are
    named with their grades (a careless-user review: "delete the duplicate copies" said nothing
    of which grade was right). Copies linked through either key form one group (one problem,
    at its first file); the words say "byte-identical" when all its files are, else
    "identical pixels (the files differ: re-saved copies)" with the pixel digest.

    Returns: an error for a copy in both the training and the test set (fix
    :data:`KEEP_TEST_WHOLE`; with two or more training copies, the fix names each of them) and for copies among the training images (one grade: delete the
    copies; two grades: keep the right one), a warning for copies among the test images (each
    keeps its row in a submission)."""
    keys_of: list[list[str]] = []
    members_of: list[tuple[str, str, str, str]] = []  # path, split, grade, sha256
    pixels_of: list[str] = []
    for path, split, digest, *rest in files:
        grade = rest[0] if rest else ""
        pixels = (rest[1] if len(rest) > 1 else "") or ""
        keys_of.append(copy_keys(digest, pixels))
        members_of.append((path, split, grade or "", digest))
        pixels_of.append(pixels)
    problems = []
    for indices in copy_groups(keys_of):
        members = [members_of[i] for i in indices]
        paths = [p for p, _, _, _ in members]
        splits = {s for _, s, _, _ in members}
        grades = {g.split(" ", 1)[0] for _, _, g, _ in members if g}
        byte_digests = {d for _, _, _, d in members}
        others = ", ".join(paths[1:])
        if len(byte_digests) == 1 and all(byte_digests):
            copies, digest = f"byte-identical to {others}", f"sha256 {next(iter(byte_digests))[:12]}"
        else:
            pixels = next(pixels_of[i] for i in indices if pixels_of[i])
            differ = "the files differ" if len(byte_digests) == len(members) else "some files differ"
            copies = f"identical pixels to {others}"
            digest = f"{differ}: re-saved copies; pixels sha256 {pixels[:12]}"
        if len(splits) > 1:
            what = f"the same image is in both the training and the test set ({copies}; {digest})"
            training = [p for p, s, _, _ in members if s == "train"]
            fix = KEEP_TEST_WHOLE if len(training) < 2 else (  # each training copy is a leak
                f"remove {', '.join(training)} (and their label rows) from the training set; "
                f"keep the test set whole: a submission needs a row for every test image")
            if all(p in blank for p in paths):  # a placeholder, not a scan (blank_problem's)
                what = (f"blank images (identical blank or near-constant pixels) in both the training "
                        f"and the test set ({copies}; {digest})")
                fix = (f"they are not scans (see their blank warning): move {', '.join(training)} out of "
                       f"the folder and delete their label rows; keep the test set whole: a "
                       f"submission needs a row for every test image")
        elif splits == {"test"}:
            # test images are graded, not trained on: both keep their rows in a submission
            problems.append(warning(
                paths[0], f"{copies.replace(' to ', ' to the test image(s) ', 1)} ({digest}): "
                          f"each is graded and keeps its row",
                "nothing to do for a challenge's test set (every test image needs its row); "
                "otherwise check that the copies are meant", "identical"))
            continue
        elif len(grades) > 1:  # one image, two grades: which is right is the user's to say
            said = "; ".join(f"{Path(p).name} grade {g}" for p, _, g, _ in members if g)
            what = f"{copies} ({digest}), and the copies have conflicting grades: {said}"
            fix = ("one image cannot have two grades: check which grade is right, then keep one copy "
                   "with that grade and delete the others (and their label rows)")
        else:
            what = f"{copies} ({digest})"
            fix = "delete the duplicate copies so each image is counted once"
        problems.append(error(paths[0], what, fix, "identical"))
    return problems
