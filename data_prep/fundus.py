"""Standard colour-fundus preprocessing (off by default): crop to the disc, Graham's local mean.

Both follow B. Graham's winning entry of the Kaggle Diabetic Retinopathy Detection
competition (2015; competition report "Kaggle Diabetic Retinopathy Detection competition
report", and his ``preprocessImages.py``): the disc's radius is estimated from the middle
row, where it is brighter than a tenth of that row's mean, the image is scaled so the disc
has a fixed radius ``r``, and ``4 * img - 4 * GaussianBlur(img, sigma = r / 30) + 128`` (saturated to 0..255,
as ``cv2.addWeighted`` does) removes the slowly varying illumination and keeps vessels and
lesions; everything outside ``0.9 r`` is set to 128.

Here the disc is the largest region of the whole image brighter than a tenth of the image's
mean (at least 7, the common APTOS kernels' tolerance: :func:`disc_box`), a 2-D version of that
estimate that also finds discs cut by the frame; it is cropped (:func:`disc_crop`) and padded to a square at full resolution
(:func:`pad_to_square`), each cached copy is resized to ``S x S`` and then filtered
(:func:`graham`) with ``r = S/2``, i.e. ``sigma = S / 60``, so every cache size sees the same
filter relative to the disc (:func:`data_prep.cache.cache_rows` does the steps).

Two departures from a plain "crop, pad black, filter" and why:

* A crop that is not square (a disc cut off by the photograph's edge; or, by a few pixels,
  the rounding of the box, found on a copy at most 512 px wide) is padded to a square. Black
  padding would enter the blur of the rows next to it and, along a cut, leave a saturated
  band; Graham's own script blurs the unpadded image (OpenCV's reflected border). So with the
  filter on, the padding reflects the image (:func:`pad_to_square` ``reflect=True``) and is set
  to 128 after filtering, as Graham sets everything outside the disc (:func:`square_margins`
  gives where it lies). Ingests before this padded black; their models record no
  ``graham_reflect_padding`` and are replayed as they were trained
  (:class:`data_prep.cache.CacheOptions`).
* A disc is looked for as a bright region on a dark surround. Photographs already cropped to
  a square around the disc with a grey (not black) surround, e.g. copies that were already
  Graham-filtered, have none: the bright region is the whole frame, corners included
  (:func:`has_dark_surround` is False), and the crop leaves them as they are; the ingest
  says so when the crop is indeed the whole frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

MIN_THRESHOLD = 7
"""Grey level the disc must exceed at least (the ``tol=7`` of the common APTOS kernels)."""
MIN_DISC_SHARE = 0.05
"""Below this share of the image the bright region is not taken for a fundus disc."""
MASK_SIZE = 512
"""The disc mask is computed on a copy at most this many pixels wide (speed)."""
DARK_SHARE = 2.0
"""A photograph is dark for :func:`find_disc` when the floor :data:`MIN_THRESHOLD` is at least this
many times a tenth of its mean (a mean grey below 35): the floor, not Graham's tenth, then
decides where its disc ends. Not at the floor alone: an ordinary photograph on a wide black
surround has a mean near 50 (a tenth below 7), and its rim is far above 7."""


def _grey(image: np.ndarray) -> np.ndarray:
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


@dataclass(frozen=True)
class DiscSearch:
    """What :func:`find_disc` found: ``box`` ``(x0, y0, x1, y1)`` in pixels of the image (None: no
    disc), ``threshold`` (the grey level the disc exceeds, ``max(mean / 10, 7)``; the ingest's
    dark-photograph note says it) and ``floored``
    (the floor :data:`MIN_THRESHOLD` set it, at least :data:`DARK_SHARE` times a tenth of the
    mean: a dark photograph, whose disc's dim rim may fall below 7 and be cut off the crop)."""

    box: tuple[int, int, int, int] | None
    threshold: float
    floored: bool


def disc_box(image: np.ndarray) -> tuple[int, int, int, int] | None:
    """``(x0, y0, x1, y1)`` of the fundus disc in uint8 ``image`` ``(H, W[, 3])``, or None.

    The largest 8-connected region brighter than ``max(mean / 10, 7)`` (Graham's radius
    estimate), so text or a stray bright pixel in the black border does not widen the box;
    None when that region covers less than :data:`MIN_DISC_SHARE` of the image
    (:func:`find_disc`, which also says whether the floor 7 set the threshold).
    """
    return find_disc(image).box


def find_disc(image: np.ndarray) -> DiscSearch:
    """:func:`disc_box` with its threshold. An image larger than :data:`MASK_SIZE` is searched on
    a copy at most that wide (INTER_AREA) and the box found there is scaled back with the one
    factor ``max(H, W) / MASK_SIZE`` (floor at the start, ceiling at the end, clipped to the
    image). Known limitation: the copy's sides are rounded separately and its edge pixels (part
    disc, part surround) may average below the threshold, so up to about 3 px of disc may be
    lost, or of border kept, at an edge. Kept as is so bundles trained with
    ``data.fundus_crop`` grade photographs as before (docs/upgrading.md)."""
    grey = _grey(image)
    height, width = grey.shape
    scale = min(1.0, MASK_SIZE / max(height, width))
    small = cv2.resize(grey, (max(1, round(width * scale)), max(1, round(height * scale))),
                       interpolation=cv2.INTER_AREA) if scale < 1 else grey
    tenth = float(small.mean()) / 10.0
    threshold = max(tenth, MIN_THRESHOLD)
    floored = tenth < MIN_THRESHOLD / DARK_SHARE
    mask = (small > threshold).astype(np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count < 2:
        return DiscSearch(None, threshold, floored)
    best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    x, y, w, h, area = (int(v) for v in stats[best])
    if area < MIN_DISC_SHARE * small.size:
        return DiscSearch(None, threshold, floored)
    box = (max(0, int(x / scale)), max(0, int(y / scale)),
           min(width, int(np.ceil((x + w) / scale))), min(height, int(np.ceil((y + h) / scale))))
    return DiscSearch(box, threshold, floored)


def square_margins(height: int, width: int) -> tuple[int, int, int, int]:
    """``(top, bottom, left, right)`` margins that centre an ``H x W`` image on a square of side
    ``max(H, W)`` (:func:`pad_to_square`)."""
    side = max(height, width)
    top, left = (side - height) // 2, (side - width) // 2
    return top, side - height - top, left, side - width - left


def pad_to_square(image: np.ndarray, reflect: bool = False) -> np.ndarray:
    """Centre ``image`` ``(H, W[, C])`` on a square of side ``max(H, W)``: black margins, or with
    ``reflect`` the image mirrored into them (``cv2.BORDER_REFLECT_101``, the border OpenCV's
    blur uses; for :func:`graham`, which then sets them to 128)."""
    height, width = image.shape[:2]
    top, bottom, left, right = square_margins(height, width)
    if reflect:  # OpenCV mirrors as often as a margin needs, also past the image's own size
        return cv2.copyMakeBorder(image, top, bottom, left, right, cv2.BORDER_REFLECT_101)
    side = max(height, width)
    out = np.zeros((side, side, *image.shape[2:]), dtype=image.dtype)
    out[top:top + height, left:left + width] = image
    return out


CORNER_SHARE = 0.04
"""Side of the corner patches :func:`has_dark_surround` looks at, as a share of the image's."""


def has_dark_surround(image: np.ndarray) -> bool:
    """Whether uint8 ``image`` ``(H, W[, 3])`` has the dark surround a fundus disc is found on:
    False when, in each of the four corner patches (:data:`CORNER_SHARE` of each side), even
    the darkest tenth of the pixels is brighter than :func:`disc_box`'s threshold
    (``max(mean / 10, 7)``): an image already cropped to the disc on a grey or bright
    background (e.g. a Graham-filtered copy), or whose surround is not dark."""
    grey = _grey(image)
    height, width = grey.shape
    threshold = max(float(grey.mean()) / 10.0, MIN_THRESHOLD)
    ph, pw = max(1, round(height * CORNER_SHARE)), max(1, round(width * CORNER_SHARE))
    corners = (grey[:ph, :pw], grey[:ph, -pw:], grey[-ph:, :pw], grey[-ph:, -pw:])
    return any(float(np.percentile(c, 10)) <= threshold for c in corners)


def disc_crop(image: np.ndarray) -> tuple[np.ndarray, bool]:
    """The fundus disc's bounding box cut out of ``image`` (not padded), and whether a disc
    was found (:func:`disc_box`; without one, the whole image)."""
    crop, search = disc_crop_search(image)
    return crop, search.box is not None


def disc_crop_search(image: np.ndarray) -> tuple[np.ndarray, DiscSearch]:
    """:func:`disc_crop` with the whole :class:`DiscSearch`: the box it cut, ``(x0, y0, x1,
    y1)`` in pixels of ``image`` (None: no disc found, the whole image kept), and whether the
    threshold's floor was what set it (:func:`data_prep.cache.cache_rows` notes such a dark
    photograph)."""
    search = find_disc(image)
    if search.box is not None:
        x0, y0, x1, y1 = search.box
        image = image[y0:y1, x0:x1]
    return np.ascontiguousarray(image), search


def crop_to_disc(image: np.ndarray) -> tuple[np.ndarray, bool]:
    """The fundus disc of ``image`` cropped and padded to a black square, and whether a disc was
    found: what :func:`data_prep.cache.cache_rows` does before resizing when the Graham filter is
    off, or for a model recorded before the mirrored padding. The package calls
    :func:`disc_crop_search` and :func:`pad_to_square` itself; this one function is the reference
    the tests hold the cache to (and a one-call crop for a user's own script).

    Without a disc (see :func:`disc_box`) the whole image is padded to a square.
    """
    crop, found = disc_crop(image)
    return pad_to_square(crop), found


def graham(image: np.ndarray, mask: bool = True,
           margins: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """Graham's local-mean subtraction of a square uint8 image ``(S, S[, 3])`` whose disc fills it.

    ``4 * image - 4 * GaussianBlur(image, sigma = S / 60) + 128``, saturated to uint8 (the
    disc radius is taken as ``S / 2``); with ``mask``, pixels farther than ``0.9 * S / 2`` from
    the centre are set to 128. ``margins`` ``(top, bottom, left, right)`` in pixels of this
    image: padding that is not photograph (mirrored by :func:`pad_to_square`), set to 128 too.
    """
    side = image.shape[0]
    blurred = cv2.GaussianBlur(image, (0, 0), side / 60.0)
    out = cv2.addWeighted(image, 4.0, blurred, -4.0, 128.0)
    if mask:
        yy, xx = np.ogrid[:side, :image.shape[1]]
        centre_y, centre_x = (side - 1) / 2.0, (image.shape[1] - 1) / 2.0
        outside = (yy - centre_y) ** 2 + (xx - centre_x) ** 2 > (0.9 * side / 2.0) ** 2
        out[outside] = 128
    if margins is not None:
        top, bottom, left, right = margins
        out[:top] = 128
        out[out.shape[0] - bottom:] = 128
        out[:, :left] = 128
        out[:, out.shape[1] - right:] = 128
    return out


def scaled_margins(margins: tuple[int, int, int, int], side: int, size: int) -> tuple[int, int, int, int]:
    """``margins`` of a square of ``side`` pixels in a copy resized to ``size``: rounded down to
    whole pixels of padding. Shrinking (``size <= side``, the usual case), a pixel partly
    photograph stays photograph; enlarging a crop smaller than the cache size, the edge pixel
    of a margin may hold some photograph (OpenCV interpolates) and is set to 128 with it."""
    return tuple(int(m * size // side) for m in margins)  # type: ignore[return-value]


GRAHAM_LOOK_SIDE = 64
"""The side (px) of the grey copy :func:`looks_graham_filtered` measures."""
GRAHAM_LOOK_TOLERANCE = 16
"""How far from mid-grey 128 a large-scale level may lie to count as it (:func:`looks_graham_filtered`)."""
GRAHAM_LOOK_CHANNEL_TOLERANCE = 25
"""How far from 128 each channel's mean may lie (:func:`looks_graham_filtered`)."""
GRAHAM_LOOK_SHARE = 0.8
"""The share of the image whose large-scale level must lie near 128 (:func:`looks_graham_filtered`)."""


def looks_graham_filtered(image: np.ndarray) -> bool:
    """Whether a uint8 image ``(H, W)`` or ``(H, W, 3)`` looks already Graham-filtered (local
    mean subtracted, :func:`graham`): its large-scale level sits at mid-grey 128 nearly
    everywhere. The rule: the image's grey copy resized (INTER_AREA) to
    :data:`GRAHAM_LOOK_SIDE` px a side and blurred with a Gaussian of sigma a 8th of that side
    lies within :data:`GRAHAM_LOOK_TOLERANCE` of 128 on at least :data:`GRAHAM_LOOK_SHARE` of
    its pixels, and every channel's mean lies within :data:`GRAHAM_LOOK_CHANNEL_TOLERANCE` of
    128. A photograph
    (a black surround, a bright disc, an illumination gradient) or an OCTA scan (a dark
    background) is far from it.

    Measured (2026-12, on the shared samples; the share near 128, then the farthest channel
    mean from 128): the 30 APTOS samples (Kaggle copies already Graham-filtered) 0.91..1.00,
    6.8..19.5; the 1,600 RetinaMNIST photographs 0.00..0.61 (median 0.09), 32.2 and more, and
    every one of them filtered by :func:`graham` looks filtered; the 3 DRAC UW-OCTA samples
    0.01..0.13, 33.8..41.1 (filtered: all three look it); 30 phantom UW-OCTA scans (512 px)
    0.00..0.32; 500 MNIST digits 0.00..0.27. So 30 of 30 and 0 of 2,133 unfiltered; each
    measure alone separates them with a margin, and only these sets were tried (APTOS Kaggle
    copies, RetinaMNIST, DRAC UW-OCTA, phantom UW-OCTA scans, MNIST): no EyePACS, IDRiD, Messidor
    or DeepDRiD photograph, and no image normalised by another method. An image whose
    brightness was normalised otherwise (a local mean or contrast normalisation, a high-pass
    filter) can sit near 128 as well and be taken for a
    Graham-filtered copy: the callers (:func:`data_prep.cache.cache_rows`, kind
    ``graham-twice``) only warn, leaving every image in and unchanged. About 3-8 ms for
    a 1024 px RGB image (the resize to the 64 px grey copy), measured only with the Graham filter on."""
    array = np.asarray(image)
    grey = _grey(array)
    small = cv2.resize(grey, (GRAHAM_LOOK_SIDE, GRAHAM_LOOK_SIDE), interpolation=cv2.INTER_AREA).astype(np.float32)
    level = cv2.GaussianBlur(small, (0, 0), GRAHAM_LOOK_SIDE / 8)
    if float(np.mean(np.abs(level - 128) < GRAHAM_LOOK_TOLERANCE)) < GRAHAM_LOOK_SHARE:
        return False
    channels = array.shape[2] if array.ndim == 3 else 1
    means = cv2.mean(array)[:channels]
    return all(abs(m - 128) < GRAHAM_LOOK_CHANNEL_TOLERANCE for m in means)
