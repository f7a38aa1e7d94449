"""When a picture's pixel is coloured, and when an RGB picture is a grey one with a coloured
overlay: the one rule of the ingest (:mod:`data_prep.decode`), the app and the export, and the
Grad-CAM overlay's colour test (:func:`app.gradcam.is_colour_image`). numpy only, so that the
app imports nothing heavy for it."""

from __future__ import annotations

import numpy as np

GREY_SPREAD_LEVELS = 8
"""A pixel whose first three channels differ by more than this many levels (of 255) is coloured
(:func:`colour_share`); within it, JPEG's chroma noise on a grey picture (chroma subsampling
and ringing around a coloured overlay: a DRAC scan with 6 lines of yellow text had colour in
0.7 % of its pixels as PNG, 2.6 % as a quality-95 JPEG counting any 1-level difference, 1.8 %
with this rule; the lowest share of a real photograph stays 39 % (APTOS), 40 % (RetinaMNIST))."""

OVERLAY_SHARE = 0.02
"""The share of an image's pixels that are coloured (:func:`colour_share`) below which a colour
file is a grey picture with a coloured overlay (a scale bar, text or a device logo burnt into a
grey UW-OCTA export: a 72 px square bar on a 1024 px DRAC scan is 0.5 %), not a colour picture:
a colour fundus photograph's channels differ over its whole disc (the 30 APTOS samples: 39 % at
the least, their black corners being grey). 2 % leaves room for a larger logo or caption while
staying far below any photograph."""


def colour_share(pixels: np.ndarray) -> float:
    """The share (0..1) of the pixels of ``pixels`` (uint8 ``(H, W)`` grey or ``(H, W, C)``,
    C >= 3) whose first three channels differ by more than :data:`GREY_SPREAD_LEVELS` levels;
    0.0 for a grey picture, or a grey JPEG's chroma noise (see :data:`OVERLAY_SHARE`)."""
    if pixels.ndim < 3 or pixels.shape[2] < 3 or pixels.size == 0:
        return 0.0
    # elementwise over the three channel planes: a reduction over a length-3 last axis walks
    # strided memory per pixel, ~30x slower (42 ms against 1.5 ms on a 1024 px RGB)
    red, green, blue = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    high = np.maximum(np.maximum(red, green), blue)
    low = np.minimum(np.minimum(red, green), blue)
    if pixels.dtype.kind == "u":  # unsigned: high >= low, so the difference cannot wrap
        spread = np.subtract(high, low, out=high)
    else:  # as it always was for any other dtype: the high channel as int32, less the low
        spread = high.astype(np.int32) - low
    return float(np.count_nonzero(spread > GREY_SPREAD_LEVELS)) / spread.size


def is_overlay(colour: bool, share: float | None) -> bool:
    """Whether a file of ``colour`` channels (True: its channels differ) with colour in
    ``share`` (0..1, :func:`colour_share`; None: not measured) of its pixels is a grey picture
    with a coloured overlay: 0 < ``share`` < :data:`OVERLAY_SHARE`. A share of 0 (channels that
    differ only by a tint or by JPEG's chroma noise, within :data:`GREY_SPREAD_LEVELS`) has no
    overlay to speak of; an unmeasured share (an older cache's record) is a colour picture. The
    one test of the ingest, the grading (export) and the app."""
    return bool(colour) and share is not None and 0.0 < share < OVERLAY_SHARE
