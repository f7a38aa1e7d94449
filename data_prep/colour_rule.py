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
    rgb = pixels[..., :3]
    spread = rgb.max(axis=-1).astype(np.int32) - rgb.min(axis=-1)
    return float(np.count_nonzero(spread > GREY_SPREAD_LEVELS)) / spread.size
