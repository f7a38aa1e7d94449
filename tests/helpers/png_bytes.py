"""PNG bytes for the decoder tests (tests/helpers is on the test path: ``from png_bytes import
png_chunk``): a chunk with its CRC, cv2's PNG of an array, and a smooth random picture (a
coarse random grid resized: libpng compresses it, and it is not noise to the package's checks),
and a smoother grey one (a 2-D random walk: many grey levels, neither blank nor noise)."""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np


def png_chunk(kind: bytes, body: bytes) -> bytes:
    """One PNG chunk: length (big-endian), type, body, CRC-32 of type + body."""
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def cv2_png(pixels: np.ndarray) -> bytes:
    """``pixels`` encoded by OpenCV as PNG (8- or 16-bit, grey or BGR)."""
    ok, buf = cv2.imencode(".png", pixels)
    assert ok
    return buf.tobytes()


def smooth_scan(shape: tuple[int, ...] = (128, 128), dtype: type = np.uint8, seed: int = 0,
                grid: int = 16) -> np.ndarray:
    """A ``shape`` picture of ``dtype`` (full range): a ``grid`` x ``grid`` random grid, resized."""
    top = np.iinfo(dtype).max
    coarse = np.random.default_rng(seed).integers(0, top, (grid, grid, *shape[2:]), dtype=np.int64).astype(dtype)
    return cv2.resize(coarse, shape[1::-1], interpolation=cv2.INTER_LINEAR)


def walk_scan(side: int = 64, seed: int = 0, height: int | None = None) -> np.ndarray:
    """A ``side`` x ``side`` uint8 grey picture (``height`` x ``side`` when ``height`` is given),
    0..255: the cumulative sum of Gaussian noise over both axes, stretched to the full range
    (many grey levels, structure: neither blank nor noise)."""
    rng = np.random.default_rng(seed)
    smooth = np.cumsum(np.cumsum(rng.normal(size=(height or side, side)), axis=0), axis=1)
    smooth -= smooth.min()
    return (255 * smooth / smooth.max()).astype(np.uint8)
