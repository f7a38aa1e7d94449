"""Phantom UW-OCTA images of diabetic retinopathy in the official DRAC 2022 Task 3 layout.

Real DRAC images cannot be shipped, so the package draws procedural stand-ins that show what
a grader looks for (see docs/data.md, "The phantom data"):

* anatomy in every grade: vessel trees with tapering radius that leave a dark optic disc near
  one side and arch around the fovea; a dense fine capillary mesh modulated by a perfusion
  map; a round dark foveal avascular zone (FAZ) near the centre;
* acquisition artefacts in every grade (so a model cannot learn them as disease): speckle,
  vignetting, per-image contrast, horizontal motion lines and occasional montage seams;
* grade 1 (NPDR): capillary dropout (non-perfusion), an enlarged irregular FAZ,
  microaneurysms and IRMA at the borders of non-perfusion;
* grade 2 (PDR): more extensive non-perfusion plus neovascular tufts.

Disease severity is a latent continuous score per image (grade plus noise), so neighbouring
grades overlap and the grading problem is ordinal rather than trivially separable.

:func:`render_phantom` draws one image; :func:`generate` writes a whole data set in the DRAC
folder layout (``python -m data_prep phantom --out DIR``). Every PNG it writes carries a
text chunk saying it is a synthetic phantom (:func:`encode_phantom_png`), besides the set's
``phantom.json``: the ingest counts a run on such images as phantom wherever they were copied.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import os
import struct
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from data_prep.decode import PHANTOM_TEXT, PHANTOM_TEXT_KEY
from data_prep.pool import refuse_top_level_rerun, spawn_pool
from drac_ssl.config import (  # PyYAML, no torch: data.phantom_n_train / _n_test
    PHANTOM_MAX_IMAGES,
    PHANTOM_PNG_MIB_ESTIMATE,
    DataConfig,
)
from drac_ssl.console import ProgressLines, progress_bar  # stdlib only
from drac_ssl.cpu_threads import usable_cores  # stdlib only
from drac_ssl.io import atomic_write_bytes, atomic_write_json, atomic_write_text, read_json_dict
from drac_ssl.starting import (  # stdlib only
    hold_signals_if_command,
    interrupt_exit_code,
    whole_number,
)

__all__ = [
    "CSV_COLUMNS",
    "GENERATOR_VERSION",
    "LABELS_CSV",
    "MANIFEST_NAME",
    "N_TEST",
    "N_TRAIN",
    "TEST_IMAGE_DIR",
    "TRAIN_GRADE_COUNTS",
    "TRAIN_IMAGE_DIR",
    "PhantomCase",
    "PhantomPlan",
    "add_arguments",
    "balanced_grade_counts",
    "cli",
    "draw_severity",
    "encode_phantom_png",
    "generate",
    "holds_set",
    "image_name",
    "nonperfusion_fraction",
    "phantom_image",
    "plan_phantom",
    "render_phantom",
]

#: Bump whenever the rendered pixels or the plan change, so stale phantom sets are redone.
GENERATOR_VERSION = 1
GRADES = (0, 1, 2)
#: Grade counts (Normal, NPDR, PDR) of the real DRAC 2022 Task 3 training set.
TRAIN_GRADE_COUNTS = (329, 212, 70)
#: Training and test images of the default phantom set: the data settings' defaults,
#: ``data.phantom_n_train`` / ``data.phantom_n_test`` (DRAC 2022 Task 3's 611 / 386), typed once
#: in :mod:`drac_ssl.config`.
N_TRAIN: int = DataConfig.phantom_n_train
N_TEST: int = DataConfig.phantom_n_test

TASK_DIR = "C. Diabetic Retinopathy Grading"
TRAIN_IMAGE_DIR = Path(TASK_DIR, "1. Original Images", "a. Training Set")
LABELS_CSV = Path(
    TASK_DIR, "2. Groundtruths", "a. DRAC2022_ Diabetic Retinopathy Grading_Training Labels.csv"
)
TEST_IMAGE_DIR = Path("DRAC2022_Testing_Set", TASK_DIR, "1. Original Images", "b. Testing Set")
CSV_COLUMNS = ("image name", "DR grade")
MANIFEST_NAME = "phantom.json"
_PARTIAL_NAME = ".phantom.partial.json"
#: Mixed into every per-image seed so phantom streams never collide with other uses of a seed.
_SEED_SALT = 0xD7AC2022


# --------------------------------------------------------------------------------------
# Severity model
# --------------------------------------------------------------------------------------


def draw_severity(grade: int, rng: np.random.Generator) -> float:
    """Draw the latent continuous disease severity of one image of ``grade``.

    Severity is ``grade + noise``, clipped per grade so that neighbouring grades overlap:
    grade 0 in [0, 0.5] (no capillary dropout, which starts at 0.5); grade 1 in [0.35, 1.8],
    so a mild NPDR eye looks near-normal (no dropout, few or no microaneurysms) and a severe
    one matches PDR in dropout and FAZ size; grade 2 in [1.25, 2.7], told apart from severe
    NPDR only by neovascular tufts, which some PDR images barely show.
    """
    if grade == 0:
        return float(min(abs(0.25 * rng.standard_normal()), 0.5))
    low, high = (0.35, 1.8) if grade == 1 else (1.25, 2.7)
    return float(np.clip(grade + 0.42 * rng.standard_normal(), low, high))


def nonperfusion_fraction(severity: float) -> float:
    """Fraction of the field with capillary dropout for a latent ``severity``."""
    x = max(severity - 0.5, 0.0)
    return float(min(0.05 * x + 0.07 * x * x, 0.45))


# --------------------------------------------------------------------------------------
# Low-level helpers
# --------------------------------------------------------------------------------------


def _smooth_noise(rng: np.random.Generator, grid: int, sigma: float) -> np.ndarray:
    """Zero-mean, unit-std smooth random field on a ``grid`` x ``grid`` array.

    Features have the scale of a Gaussian blur of width ``sigma`` grid cells; the field is
    drawn on a coarse grid and upsampled (cheap for any ``sigma``).
    """
    coarse = max(4, int(math.ceil(2.0 * grid / max(sigma, 1e-3))))
    noise = rng.standard_normal((coarse, coarse), dtype=np.float32)
    noise = cv2.GaussianBlur(noise, (0, 0), 1.0, borderType=cv2.BORDER_REFLECT)
    noise = cv2.resize(noise, (grid, grid), interpolation=cv2.INTER_CUBIC)
    noise -= noise.mean()
    noise /= noise.std() + 1e-6
    return noise


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _irregular_blob(
    rng: np.random.Generator,
    xx: np.ndarray,
    yy: np.ndarray,
    centre: tuple[float, float],
    radius: float,
    irregularity: float,
    edge: float,
) -> np.ndarray:
    """Soft mask (1 inside) of a round blob whose rim is wobbled by low angular harmonics."""
    dx, dy = xx - centre[0], yy - centre[1]
    rho = np.sqrt(dx * dx + dy * dy)
    theta = np.arctan2(dy, dx)
    rim = np.ones_like(theta)
    for k in range(2, 6):
        amp = irregularity * rng.uniform(0.3, 1.0) / (k - 1) ** 0.5
        rim += amp * np.cos(k * theta + rng.uniform(0, 2 * math.pi))
    rim *= radius
    return _smoothstep((rim - rho) / max(edge, 1e-3) + 0.5)


# --------------------------------------------------------------------------------------
# Vessel tree
# --------------------------------------------------------------------------------------


@dataclass
class _Geometry:
    """Where the anatomy of one eye sits, in pixels of the output image."""

    size: int
    fovea: tuple[float, float]
    disc: tuple[float, float]
    disc_radius: float
    faz_radius: float


def _grow_vessel_tree(rng: np.random.Generator, geo: _Geometry) -> tuple[np.ndarray, np.ndarray]:
    """Grow vessel trees from the optic disc; return polylines ``(K, 5, 2)`` and radii ``(K,)``.

    All growing tips advance together, vectorised over tips, in macro steps of a few short
    segments. Each tip steers by (a) a pull towards the temporal direction for large vessels,
    which bends the arcades around the macula, (b) a repulsion from the horizontal raphe and
    from the fovea, (c) a push away from regions already dense with vessels (space filling);
    it wiggles randomly (more for small vessels), tapers, and branches with Murray's law for
    the radii. A few smaller roots enter from the image border, as in a cropped field.
    """
    size = geo.size
    sc = size / 1024.0
    step = max(5.0 * sc, 0.8)
    n_sub = 4
    macro = step * n_sub
    r_min = 0.45 * sc
    fx, fy = geo.fovea
    dx0, dy0 = geo.disc
    t_ang = math.atan2(fy - dy0, fx - dx0)
    tx, ty = math.cos(t_ang), math.sin(t_ang)  # temporal direction, disc -> fovea
    nx, ny = -ty, tx  # normal to the raphe

    # Trunks from the disc: two temporal arcades, nasal and vertical trunks, a few random ones.
    rel = [
        rng.uniform(0.6, 1.0),
        -rng.uniform(0.6, 1.0),
        rng.uniform(1.5, 2.1),
        -rng.uniform(1.5, 2.1),
        rng.uniform(2.4, 3.0),
        -rng.uniform(2.4, 3.0),
    ]
    rel += list(rng.uniform(-math.pi, math.pi, size=int(rng.integers(0, 3))))
    ang = t_ang + np.asarray(rel, dtype=np.float64)
    n0 = ang.size
    radius = np.where(np.arange(n0) < 2, rng.uniform(5.0, 6.5, n0), rng.uniform(2.8, 4.8, n0))
    x = dx0 + 0.45 * geo.disc_radius * np.cos(ang)
    y = dy0 + 0.45 * geo.disc_radius * np.sin(ang)
    # Smaller roots entering from the border on the temporal half.
    n_edge = int(rng.integers(3, 7))
    edge_t = rng.uniform(0.0, 1.0, n_edge)
    side = rng.integers(0, 3, n_edge)  # 0 top, 1 bottom, 2 temporal edge
    far_x = size * (1.0 if tx > 0 else 0.0)
    ex = np.where(side == 2, far_x, (0.5 * edge_t + (0.5 if tx > 0 else 0.0)) * size)
    ey = np.where(side == 0, 0.0, np.where(side == 1, float(size), edge_t * size))
    e_ang = np.arctan2(fy - ey, fx - ex) + rng.uniform(-0.6, 0.6, n_edge)
    x = np.concatenate([x, ex])
    y = np.concatenate([y, ey])
    ang = np.concatenate([ang, e_ang])
    radius = np.concatenate([radius, rng.uniform(2.0, 3.6, n_edge)]) * sc
    since = np.zeros(x.size, dtype=np.int32)

    occ_grid = 64
    occ_cell = size / occ_grid
    occupancy = np.zeros(occ_grid * occ_grid, dtype=np.float32)
    crowd_level = 6.0

    polylines: list[np.ndarray] = []
    radii: list[np.ndarray] = []
    n_segments = 0
    max_segments = int(40000 * max(sc, 0.35))
    faz_kill = 1.25 * geo.faz_radius
    margin = 2 * macro
    sub_frac = np.arange(1, n_sub + 1) / n_sub
    wiggle_big, wiggle_small = 0.05, 0.13
    for _ in range(int(1.8 * size / macro)):
        if x.size == 0 or n_segments > max_segments:
            break
        n = x.size
        cx, cy = np.cos(ang), np.sin(ang)
        big = np.minimum(np.maximum((radius - 1.5 * sc) / (2.5 * sc), 0.0), 1.0)
        # (a) temporal pull for large vessels heading away from the disc side
        pull = 0.3 * big * ((cx * tx + cy * ty) > -0.25)
        sx = pull * tx
        sy = pull * ty
        # (b) raphe and fovea repulsion
        along = (x - dx0) * tx + (y - dy0) * ty
        side_d = (x - dx0) * nx + (y - dy0) * ny
        raphe = 0.6 * big * np.exp(-np.abs(side_d) / (0.07 * size)) * np.sign(side_d) * (along > 0)
        sx += raphe * nx
        sy += raphe * ny
        vx, vy = x - fx, y - fy
        dist_f = np.sqrt(vx * vx + vy * vy) + 1e-3
        rep = (0.15 + big) * np.minimum((2.5 * geo.faz_radius / dist_f) ** 2, 3.0) / dist_f
        sx += rep * vx
        sy += rep * vy
        # (c) space filling: away from where vessels already are
        dense = cv2.GaussianBlur(occupancy.reshape(occ_grid, occ_grid), (0, 0), 1.5)
        gi = np.minimum(np.maximum((x / occ_cell).astype(np.int32), 1), occ_grid - 2)
        gj = np.minimum(np.maximum((y / occ_cell).astype(np.int32), 1), occ_grid - 2)
        gx = dense[gj, gi + 1] - dense[gj, gi - 1]
        gy = dense[gj + 1, gi] - dense[gj - 1, gi]
        crowd = np.minimum(dense[gj, gi] / crowd_level, 1.5)
        w = 0.8 * crowd * (1.0 - 0.7 * big) / (np.sqrt(gx * gx + gy * gy) + 1e-3)
        sx -= w * gx
        sy -= w * gy
        turn = np.minimum(np.maximum(0.35 * (cx * sy - cy * sx), -0.4), 0.4)

        wiggle = np.where(big > 0.5, wiggle_big, wiggle_small)[:, None] * rng.standard_normal(
            (n, n_sub)
        )
        angs = ang[:, None] + turn[:, None] * sub_frac + np.cumsum(wiggle, axis=1)
        pts = np.empty((n, n_sub + 1, 2))
        pts[:, 0, 0] = x
        pts[:, 0, 1] = y
        pts[:, 1:, 0] = x[:, None] + np.cumsum(step * np.cos(angs), axis=1)
        pts[:, 1:, 1] = y[:, None] + np.cumsum(step * np.sin(angs), axis=1)
        polylines.append(pts)
        radii.append(radius)
        n_segments += n * n_sub
        x, y, ang = pts[:, -1, 0], pts[:, -1, 1], angs[:, -1]
        cells = np.minimum(np.maximum((pts[:, 1:, 1] / occ_cell).astype(np.int32), 0), occ_grid - 1)
        cells = cells * occ_grid + np.minimum(
            np.maximum((pts[:, 1:, 0] / occ_cell).astype(np.int32), 0), occ_grid - 1
        )
        occupancy += np.bincount(
            cells.ravel(),
            weights=np.repeat(radius / sc + 0.5, n_sub),
            minlength=occ_grid * occ_grid,
        ).astype(np.float32)

        # taper: slow and proportional for large vessels, fast for capillary-sized ones but
        # slower where tissue is still empty (as angiogenesis follows hypoxic tissue)
        radius = radius * math.exp(-0.0006 * macro / sc) - 0.0035 * macro * np.exp(
            -radius / (1.5 * sc)
        ) * rng.uniform(0.6, 1.4, n) * (0.3 + 0.7 * np.minimum(crowd, 1.0))
        since += 1
        spacing = np.where(big > 0.5, 65.0, 32.0) * sc
        p_branch = np.minimum(macro / spacing, 1.0) * np.maximum(1.2 - crowd, 0.0)
        branch = (rng.random(n) < p_branch) & (since >= 2)
        if branch.any():
            idx = np.flatnonzero(branch)
            ratio = np.where(
                big[idx] > 0.5, rng.uniform(0.25, 0.7, idx.size), rng.uniform(0.55, 0.85, idx.size)
            )
            ratio = np.where(rng.random(idx.size) < 0.12, rng.uniform(0.75, 0.9, idx.size), ratio)
            child_r = radius[idx] * ratio
            keep = child_r >= r_min
            idx, child_r = idx[keep], child_r[keep]
            if idx.size:
                # branch towards the emptier side most of the time
                emptier = np.where(cx[idx] * gy[idx] - cy[idx] * gx[idx] < 0, 1.0, -1.0)
                side_sign = np.where(rng.random(idx.size) < 0.75, emptier, -emptier)
                child_ang = ang[idx] + side_sign * rng.uniform(0.5, 1.3, idx.size)
                # macular branches: large vessels near the macula send children to the fovea
                to_fovea = np.arctan2(fy - y[idx], fx - x[idx])
                macular = (
                    (big[idx] > 0.5) & (dist_f[idx] < 0.45 * size) & (rng.random(idx.size) < 0.5)
                )
                child_ang = np.where(macular, to_fovea + rng.normal(0.0, 0.3, idx.size), child_ang)
                ang[idx] -= side_sign * 0.2
                parent_r = radius[idx]
                radius[idx] = np.cbrt(np.maximum(parent_r**3 - child_r**3, (0.6 * parent_r) ** 3))
                since[idx] = 0
                x = np.concatenate([x, x[idx]])
                y = np.concatenate([y, y[idx]])
                ang = np.concatenate([ang, child_ang])
                radius = np.concatenate([radius, child_r])
                since = np.concatenate([since, np.zeros(idx.size, dtype=np.int32)])
                crowd = np.concatenate([crowd, crowd[idx]])
        alive = (
            (radius >= r_min)
            & (x > -margin)
            & (x < size + margin)
            & (y > -margin)
            & (y < size + margin)
            & ((x - fx) ** 2 + (y - fy) ** 2 > faz_kill**2)
            & ((crowd < 1.25) | (radius >= 1.5 * sc))
        )
        if not alive.all():
            x, y, ang, radius, since = x[alive], y[alive], ang[alive], radius[alive], since[alive]
    if not polylines:
        return np.zeros((0, n_sub + 1, 2), np.float32), np.zeros(0, np.float32)
    return np.concatenate(polylines).astype(np.float32), np.concatenate(radii).astype(np.float32)


def _draw_polylines(
    canvas: np.ndarray, polylines: np.ndarray, thickness: np.ndarray, value: np.ndarray
) -> None:
    """Draw open polylines ``(K, P, 2)`` grouped by (thickness, value), one call per group.

    Thin lines are anti-aliased; thick ones are drawn 8-connected (much faster) and rely on
    the later blur of the vessel layer to hide the jaggies.
    """
    if polylines.size == 0:
        return
    pts = np.round(polylines * 4.0).astype(np.int32)  # 2 bits of sub-pixel precision
    keys = thickness.astype(np.int64) * 256 + value.astype(np.int64)
    for key in np.unique(keys):  # ascending thickness: large vessels end up on top
        th = int(key // 256)
        cv2.polylines(
            canvas,
            pts[keys == key],
            False,
            int(key % 256),
            th,
            cv2.LINE_AA if th <= 2 else cv2.LINE_8,
            2,
        )


def _random_walks(
    rng: np.random.Generator,
    starts: np.ndarray,
    n_steps: int,
    step: float,
    tortuosity: float,
    centre_pull: np.ndarray | None = None,
    pull_radius: np.ndarray | None = None,
) -> np.ndarray:
    """Tortuous random walks from ``starts`` (K, 2); returns polylines ``(K, n_steps+1, 2)``.

    With ``centre_pull`` (K, 2) the walkers turn back towards it once further than
    ``pull_radius`` (K,), which tangles them into a tuft.
    """
    k = starts.shape[0]
    pos = np.empty((k, n_steps + 1, 2), dtype=np.float64)
    pos[:, 0] = starts
    ang = rng.uniform(0, 2 * math.pi, k)
    spin = rng.normal(0.0, tortuosity * 0.5, k)
    for i in range(n_steps):
        ang = ang + spin + rng.normal(0.0, tortuosity, k)
        if centre_pull is not None and pull_radius is not None:
            v = centre_pull - pos[:, i]
            dist = np.hypot(v[:, 0], v[:, 1]) + 1e-6
            outside = dist > pull_radius
            cross = np.cos(ang) * v[:, 1] - np.sin(ang) * v[:, 0]
            ang = ang + np.where(outside, 0.9 * np.sign(cross), 0.0)
        pos[:, i + 1, 0] = pos[:, i, 0] + step * np.cos(ang)
        pos[:, i + 1, 1] = pos[:, i, 1] + step * np.sin(ang)
    return pos


# --------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------


def render_phantom(
    grade: int,
    rng: np.random.Generator,
    size: int = 1024,
    *,
    severity: float | None = None,
) -> np.ndarray:
    """Render one phantom UW-OCTA en-face image of DR ``grade`` (0, 1, 2).

    Args:
        grade: DR grade, 0 Normal, 1 NPDR, 2 PDR.
        rng: the only source of randomness; the same generator state gives the same image.
        size: output width and height in pixels (1024 like DRAC; smaller for quick tests).
        severity: latent disease severity; drawn with :func:`draw_severity` when ``None``.

    Returns:
        ``uint8`` array of shape ``(size, size)`` with roughly the intensity statistics of
        real DRAC images (mean ~90, median ~78, 1st/99th percentile ~0/243).
    """
    if grade not in GRADES:
        raise ValueError(f"grade must be one of {GRADES}, got {grade!r}")
    if size < 64:
        raise ValueError(f"size must be at least 64, got {size}")
    sc = size / 1024.0
    sev = draw_severity(grade, rng) if severity is None else float(severity)

    # ---- anatomy ------------------------------------------------------------------
    fovea = (size * (0.5 + rng.normal(0, 0.035)), size * (0.5 + rng.normal(0, 0.035)))
    disc_side = 1.0 if rng.random() < 0.5 else -1.0
    disc = (
        fovea[0] + disc_side * size * rng.uniform(0.36, 0.46),
        fovea[1] + size * rng.normal(0, 0.03),
    )
    faz_radius = size * rng.uniform(0.018, 0.03) * (1.0 + 0.45 * max(sev - 0.3, 0.0))
    geo = _Geometry(size, fovea, disc, size * rng.uniform(0.028, 0.042), faz_radius)

    # ---- low-resolution maps (perfusion, FAZ, disc, gain) ---------------------------
    grid = min(256, size)
    cell = size / grid
    coords = (np.arange(grid, dtype=np.float32) + 0.5) * cell
    xx, yy = np.meshgrid(coords, coords)
    faz_mask = _irregular_blob(
        rng, xx, yy, fovea, faz_radius, 0.04 + 0.09 * sev, max(0.35 * faz_radius, 2 * cell)
    )
    disc_mask = _irregular_blob(rng, xx, yy, disc, geo.disc_radius, 0.2, 3 * cell)
    dist_f = np.hypot(xx - fovea[0], yy - fovea[1])
    perifoveal = 1.0 - 0.35 * np.exp(-(((dist_f - faz_radius) / (1.6 * faz_radius)) ** 2))

    heterogeneity = _smooth_noise(rng, grid, grid / 14)
    perfusion_map = (1.0 - 0.1 * np.abs(heterogeneity)) * perifoveal
    np_fraction = nonperfusion_fraction(sev)
    dropout = np.zeros((grid, grid), np.float32)
    if np_fraction > 0.002:
        field = 0.45 * _smooth_noise(rng, grid, grid / 20) + 0.55 * _smooth_noise(
            rng, grid, grid / 8
        )
        # dropout favours the mid-periphery and the perifoveal ring over the disc region
        field += 0.5 * np.exp(-(((dist_f - 2.2 * faz_radius) / (2.0 * faz_radius)) ** 2))
        field += 0.6 * np.clip(dist_f / size - 0.2, 0, 0.4)
        threshold = np.quantile(field[::2, ::2], 1.0 - np_fraction)
        dropout = _smoothstep((field - threshold) / 0.6 + 0.5)
    perfusion_map = perfusion_map * (1.0 - 0.88 * dropout) * (1.0 - faz_mask) * (1.0 - disc_mask)

    # vignetting and slow illumination drift, applied to everything
    corner = math.hypot(size / 2, size / 2)
    r_norm = np.hypot(xx - size / 2, yy - size / 2) / corner
    vignette = 1.0 - rng.uniform(0.15, 0.45) * r_norm ** rng.uniform(2.0, 3.5)
    gain_map = vignette * (1.0 + 0.08 * _smooth_noise(rng, grid, grid / 6))
    gain_map *= 1.0 - 0.6 * faz_mask  # dark FAZ (the disc is dark through perfusion_map)

    # ---- vessels ----------------------------------------------------------------------
    vessel_lines, vessel_r = _grow_vessel_tree(rng, geo)
    thickness = np.maximum(1, np.round(2.0 * vessel_r)).astype(np.int32)
    brightness = 0.8 + 0.2 * np.clip((vessel_r - 0.5 * sc) / (2.0 * sc), 0.0, 1.0)
    value = (np.round(255 * brightness).astype(np.int32) // 16) * 16 + 15  # few draw calls
    small = vessel_r < 1.3 * sc
    large_layer = np.zeros((size, size), np.uint8)
    small_layer = np.zeros((size, size), np.uint8)
    _draw_polylines(large_layer, vessel_lines[~small], thickness[~small], value[~small])
    _draw_polylines(small_layer, vessel_lines[small], thickness[small], value[small])

    # ---- lesions --------------------------------------------------------------------
    lesion_layer = np.zeros((size, size), np.uint8)
    border_mask = cv2.GaussianBlur(dropout, (0, 0), 2.0)
    outside_faz = dist_f > 1.6 * faz_radius  # lesions grow in the retina, not in the FAZ
    border_idx = np.flatnonzero(
        ((border_mask > 0.2) & (border_mask < 0.7) & outside_faz & (disc_mask < 0.1)).ravel()
    )
    perfused_idx = np.flatnonzero((outside_faz & (disc_mask < 0.1) & (dropout < 0.3)).ravel())
    if perfused_idx.size == 0:  # pathological geometry: fall back to anywhere
        perfused_idx = np.arange(grid * grid)

    def pick(n: int, near_border: float) -> np.ndarray:
        """``n`` lesion sites in pixels, a share ``near_border`` at non-perfusion borders."""
        n_border = int(rng.binomial(n, near_border)) if border_idx.size else 0
        idx = np.concatenate(
            [
                rng.choice(border_idx, n_border) if n_border else np.zeros(0, np.int64),
                rng.choice(perfused_idx, n - n_border),
            ]
        )
        return (np.stack([idx % grid, idx // grid], axis=1) + rng.random((n, 2))) * cell

    if grade >= 1:
        n_ma = int(rng.poisson(max(sev - 0.4, 0.0) * 14.0))
        for cx_, cy_ in pick(n_ma, 0.7):
            cv2.circle(
                lesion_layer,
                (int(cx_ * 4), int(cy_ * 4)),
                int(4 * rng.uniform(2.0, 4.2) * sc),
                int(rng.integers(215, 256)),
                -1,
                cv2.LINE_AA,
                2,
            )
        n_irma = int(rng.poisson(max(sev - 0.6, 0.0) * 3.0))
        if n_irma:
            walks = _random_walks(rng, pick(n_irma, 0.9), int(rng.integers(10, 22)), 3.0 * sc, 0.55)
            for walk in walks:
                cv2.polylines(
                    lesion_layer,
                    [np.round(walk * 4).astype(np.int32)],
                    False,
                    int(rng.integers(200, 250)),
                    max(1, int(round(rng.uniform(2.0, 3.4) * sc))),
                    cv2.LINE_AA,
                    2,
                )
    if grade == 2:
        tuft_strength = float(rng.uniform(0.1, 1.0))
        n_tufts = 1 + int(rng.poisson(1.2 * tuft_strength))
        centres = pick(n_tufts, 0.85)
        if rng.random() < 0.3:  # neovascularisation of the disc
            centres[0] = np.asarray(disc) + rng.normal(0, geo.disc_radius, 2)
        for centre in centres:
            tuft_r = (10.0 + 22.0 * tuft_strength) * sc * rng.uniform(0.8, 1.2)
            n_strands = int(8 + 28 * tuft_strength)
            starts = centre + rng.normal(0, 0.4 * tuft_r, (n_strands, 2))
            walks = _random_walks(
                rng,
                starts,
                int(rng.integers(10, 24)),
                max(2.2 * sc, 0.8),
                0.6,
                centre_pull=np.broadcast_to(centre, (n_strands, 2)),
                pull_radius=np.full(n_strands, tuft_r),
            )
            walks = np.round(walks * 4).astype(np.int32)
            thick = rng.random(n_strands) < 0.25 * tuft_strength  # a few dilated loops
            for strands, width in ((walks[~thick], 1), (walks[thick], 2 if sc > 0.6 else 1)):
                if len(strands) == 0:
                    continue
                cv2.polylines(
                    lesion_layer,
                    list(strands),
                    False,
                    int(175 + 80 * tuft_strength),
                    width,
                    cv2.LINE_AA,
                    2,
                )

    # ---- compose ----------------------------------------------------------------------
    # Capillaries: zero crossings of band-limited noise, a labyrinth of fine bright lines.
    # Everything full-resolution is done with uint8 noise, look-up tables and in-place ops.
    white = np.frombuffer(rng.bytes(size * size), np.uint8).reshape(size, size)
    offsets = iter([(0, 0), (size // 2, size // 3), (size // 3, size // 2), (size // 5, 0)])

    def noise_u8() -> np.ndarray:
        """Uniform white noise; one draw, cyclically shifted so the fields never coincide."""
        dy, dx = next(offsets)
        return np.roll(white, (dy, dx), axis=(0, 1)) if dy or dx else white

    def blurred_z(sigma: float) -> tuple[np.ndarray, np.ndarray]:
        """Blurred uint8 noise and, per grey level, its z-score (for look-up tables)."""
        sigma = max(sigma, 0.5)
        field = cv2.GaussianBlur(noise_u8(), (0, 0), sigma)
        std = 73.9 / (2.0 * math.sqrt(math.pi) * sigma)  # std of blurred uniform bytes
        return field, (np.arange(256, dtype=np.float32) - 127.5) / std

    cap_noise, z = blurred_z(1.25 * sc)
    ridge = np.clip(1.0 - np.abs(z) / 1.5, 0.0, 1.0) ** 1.2
    img = cv2.LUT(cap_noise, (0.6 * ridge).astype(np.float32))
    grain, z = blurred_z(0.9 * sc)
    img *= cv2.LUT(grain, np.clip(1.0 + 0.6 * z, 0.1, 2.2).astype(np.float32))
    img += cv2.LUT(grain, np.clip(0.08 + 0.03 * z, 0.0, 1.0).astype(np.float32))
    img = cv2.GaussianBlur(img, (0, 0), max(0.6 * sc, 0.4))  # optical blur of the bed
    img *= cv2.resize(perfusion_map, (size, size), interpolation=cv2.INTER_LINEAR)
    img += 0.03  # signal floor: non-perfused retina is dark but not black

    small_gate = np.clip(255 * (1.25 * perfusion_map + 0.15), 0, 255).astype(np.uint8)
    small_gate = cv2.resize(small_gate, (size, size), interpolation=cv2.INTER_LINEAR)
    vessels = cv2.max(large_layer, cv2.multiply(small_layer, small_gate, scale=1.0 / 255))
    vessels = cv2.max(vessels, lesion_layer)
    vessels = cv2.GaussianBlur(vessels, (0, 0), max(0.6 * sc, 0.4)).astype(np.float32)
    vessels *= 1.0 / 255.0
    over = 1.05 - img
    over *= vessels
    img += over  # vessels painted over the capillary bed
    grain, z = blurred_z(0.6 * sc)
    img *= cv2.LUT(grain, np.clip(1.0 + 0.15 * z, 0.3, 2.0).astype(np.float32))  # speckle
    img *= cv2.resize(gain_map, (size, size), interpolation=cv2.INTER_LINEAR)

    _add_motion_artefacts(img, rng)
    if rng.random() < 0.4:
        _add_montage_seam(img, rng)
    return _to_uint8(img, rng)


def _add_motion_artefacts(img: np.ndarray, rng: np.random.Generator) -> None:
    """Horizontal motion lines in place: bright/dark bands, smeared bands, row shifts."""
    size = img.shape[0]
    sc = size / 1024.0
    for _ in range(int(rng.integers(1, 7))):
        y0 = int(rng.integers(0, size))
        h = max(1, int(rng.integers(1, 10) * sc))
        x0 = int(rng.integers(0, size // 2)) if rng.random() < 0.5 else 0
        x1 = size if rng.random() < 0.6 else int(rng.integers(x0 + size // 4, size + 1))
        band = img[y0 : y0 + h, x0:x1]
        kind = rng.random()
        if kind < 0.35:  # dark line (blink or signal loss)
            band *= rng.uniform(0.25, 0.75)
        elif kind < 0.6:  # bright line
            band *= rng.uniform(1.3, 1.8)
        elif kind < 0.8:  # smeared band of horizontal streaks
            k = int(rng.integers(9, 41) * max(sc, 0.3)) | 1
            band[:] = cv2.blur(band, (k, 1)) * rng.uniform(0.7, 1.3, (band.shape[0], 1))
        else:  # jittery band: each scan line shifted and re-gained
            y1 = min(size, y0 + int(rng.integers(15, 90) * sc) + 1)
            gains = rng.normal(1.0, 0.15, y1 - y0).clip(0.5, 1.5)
            shifts = rng.integers(-3, 4, y1 - y0)
            for row, (g, s) in enumerate(zip(gains, shifts, strict=True), start=y0):
                img[row] = np.roll(img[row], int(s)) * g
    for _ in range(int(rng.integers(0, 3))):  # eye jumped: rows below a line are shifted
        y0 = int(rng.integers(size // 8, size))
        shift = int(rng.integers(-12, 13) * sc)
        if shift:
            img[y0:] = np.roll(img[y0:], shift, axis=1)


def _add_montage_seam(img: np.ndarray, rng: np.random.Generator) -> None:
    """A straight seam where two montaged tiles meet: a gain step, an offset and a line."""
    size = img.shape[0]
    pos = int(size * rng.uniform(0.25, 0.75))
    view = img if rng.random() < 0.5 else img.T  # vertical or horizontal seam
    tile = view[:, pos:]
    tile *= rng.uniform(0.8, 1.2)
    tile[:] = np.roll(tile, int(rng.integers(-6, 7) * size / 1024), axis=0)
    view[:, max(pos - 1, 0) : pos + 1] *= rng.uniform(0.3, 0.7)


def _to_uint8(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Stretch to 8 bit with a per-image contrast drawn around the real DRAC statistics.

    Percentiles of a subsample set the black and white points; a gamma puts the median at a
    random target in the range of real images (one 12-bit pass and a table look-up).
    """
    lo, hi, med = np.percentile(img[::4, ::4], [1.0, 99.0, 50.0])
    scale = rng.uniform(0.92, 0.97) / max(hi - lo, 1e-6)  # the brightest 1 % near 240-250
    med_n = float(np.clip((med - lo) * scale, 1e-3, 0.999))
    gamma = math.log(rng.uniform(70.0, 88.0) / 255.0) / math.log(med_n)
    levels = 4096
    table = np.round(255.0 * np.linspace(0.0, 1.0, levels) ** gamma).astype(np.uint8)
    alpha = scale * (levels - 1)
    # saturating conversion: values below lo -> 0, above hi -> 65535, clipped by the table
    idx = cv2.addWeighted(img, alpha, img, 0.0, -lo * alpha, dtype=cv2.CV_16U)
    np.minimum(idx, levels - 1, out=idx)
    return table[idx]


def phantom_image(seed: int, image_id: int, grade: int, size: int = 1024) -> np.ndarray:
    """The phantom for ``image_id`` of a data set made with ``seed``: depends on nothing else."""
    rng = np.random.default_rng([_SEED_SALT, int(seed), int(image_id)])
    return render_phantom(grade, rng, size)


# --------------------------------------------------------------------------------------
# Data set plan and layout
# --------------------------------------------------------------------------------------


def image_name(image_id: int) -> str:
    """DRAC file name of an image id: zero padded to three digits (``001.png``, ``1000.png``)."""
    return f"{int(image_id):03d}.png"


def balanced_grade_counts(
    n: int, reference: tuple[int, ...] = TRAIN_GRADE_COUNTS
) -> tuple[int, ...]:
    """Split ``n`` images over grades in the proportions of ``reference``.

    Largest-remainder rounding; when ``n >= len(reference)`` every grade gets at least one
    image (taken from the largest class).
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    total = sum(reference)
    quotas = [n * c / total for c in reference]
    counts = [math.floor(q) for q in quotas]
    order = sorted(range(len(reference)), key=lambda k: (-(quotas[k] - counts[k]), k))
    for k in order[: n - sum(counts)]:
        counts[k] += 1
    if n >= len(reference):
        for k in range(len(counts)):
            if counts[k] == 0:
                counts[counts.index(max(counts))] -= 1
                counts[k] = 1
    return tuple(counts)


@dataclass(frozen=True)
class PhantomCase:
    """One phantom image: its id, file name and (for test images hidden) grade."""

    image_id: int
    grade: int

    @property
    def name(self) -> str:
        return image_name(self.image_id)


@dataclass(frozen=True)
class PhantomPlan:
    """Which ids go to training and testing, and every image's grade."""

    train: tuple[PhantomCase, ...]
    test: tuple[PhantomCase, ...]


def plan_phantom(n_train: int = N_TRAIN, n_test: int = N_TEST, seed: int = 0) -> PhantomPlan:
    """Draw the ids and grades of a phantom data set (deterministic in its arguments).

    Ids are a random, non-contiguous subset of ``1 .. ~1.12 * (n_train + n_test)``; train and
    test ids are disjoint. Training grades follow :data:`TRAIN_GRADE_COUNTS` scaled to
    ``n_train``; the test set's hidden grades follow the same balance. The test grades are not
    written anywhere, but this function recovers them for evaluation.
    """
    if n_train < 0 or n_test < 0:
        raise ValueError("n_train and n_test must be >= 0")
    rng = np.random.default_rng([_SEED_SALT, int(seed), n_train, n_test])
    n = n_train + n_test
    pool = int(math.ceil(1.12 * n)) + 2
    ids = rng.choice(np.arange(1, pool + 1), size=n, replace=False)
    train_ids, test_ids = np.sort(ids[:n_train]), np.sort(ids[n_train:])

    def assign(case_ids: np.ndarray) -> tuple[PhantomCase, ...]:
        counts = balanced_grade_counts(case_ids.size)
        grades = rng.permutation(np.repeat(np.arange(len(counts)), counts))
        return tuple(PhantomCase(int(i), int(g)) for i, g in zip(case_ids, grades, strict=True))

    return PhantomPlan(train=assign(train_ids), test=assign(test_ids))


def _params(n_train: int, n_test: int, seed: int, size: int) -> dict[str, Any]:
    return {
        "generator": "drac_ssl phantom",
        "version": GENERATOR_VERSION,
        "n_train": int(n_train),
        "n_test": int(n_test),
        "seed": int(seed),
        "size": int(size),
    }


def _is_complete(root: Path, params: dict[str, Any], plan: PhantomPlan) -> bool:
    manifest = read_json_dict(root / MANIFEST_NAME)
    if manifest is None or manifest.get("params") != params:
        return False
    if not (root / LABELS_CSV).is_file():
        return False
    for folder, cases in ((TRAIN_IMAGE_DIR, plan.train), (TEST_IMAGE_DIR, plan.test)):
        present = (
            {p.name for p in (root / folder).glob("*.png")} if (root / folder).is_dir() else set()
        )
        if present != {c.name for c in cases}:
            return False
    return True


def holds_set(out_dir: str | os.PathLike[str], n_train: int = N_TRAIN, n_test: int = N_TEST, seed: int = 0,
              size: int = 1024) -> bool:
    """Whether ``out_dir`` holds a complete phantom set of these parameters, as :func:`generate`
    would return at once (reading only: nothing is written)."""
    return _is_complete(Path(out_dir), _params(n_train, n_test, seed, size), plan_phantom(n_train, n_test, seed))


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    """One PNG chunk (PNG 1.2 section 5.3): length, type, data, CRC-32 of type and data."""
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


PNG_MIB_ESTIMATE = PHANTOM_PNG_MIB_ESTIMATE  # drac_ssl.config's: train --help says it, no numpy loaded
"""About how many MiB one 1024-pixel phantom PNG (:func:`encode_phantom_png`) takes: an
estimate, measured as 0.83 to 0.86 MiB over images of each grade (their vessel trees differ, so
no two files are the same size); the default set's 997 images take about 842 MiB. What the run
says it will write before generating it (:func:`drac_ssl.train.phantom_start_line`); a test
keeps it within 5% of a rendered image's file."""


def encode_phantom_png(img: np.ndarray) -> bytes:
    """The PNG file of a phantom ``img`` (uint8 ``(S, S)`` grey) with drac_ssl's phantom marker.

    The marker is a ``tEXt`` chunk, keyword :data:`data_prep.decode.PHANTOM_TEXT_KEY`, text
    :data:`data_prep.decode.PHANTOM_TEXT`, placed right after ``IHDR`` (before the image data,
    where a header read finds it), so an image copied out of the phantom set, away from its
    ``phantom.json``, still makes an ingest count the run as phantom. The pixels are OpenCV's
    encoding, unchanged. Raises RuntimeError when OpenCV cannot encode ``img``."""
    # RLE strategy: half the encoding time of the default, and slightly smaller files
    png_flags = [
        cv2.IMWRITE_PNG_COMPRESSION,
        1,
        cv2.IMWRITE_PNG_STRATEGY,
        cv2.IMWRITE_PNG_STRATEGY_RLE,
    ]
    ok, buf = cv2.imencode(".png", img, png_flags)
    if not ok:
        raise RuntimeError("PNG encoding failed")
    data = buf.tobytes()
    after_ihdr = 8 + 12 + 13  # signature, then IHDR: length, type, 13 bytes, CRC
    marker = _png_chunk(b"tEXt", PHANTOM_TEXT_KEY.encode("latin-1") + b"\x00"
                        + PHANTOM_TEXT.encode("latin-1"))
    return data[:after_ihdr] + marker + data[after_ihdr:]


def _render_and_write(task: tuple[int, int, int, int, str]) -> str:
    """Worker: render one phantom and write it atomically as PNG, marked as a phantom
    (:func:`encode_phantom_png`)."""
    seed, image_id, grade, size, path = task
    try:
        data = encode_phantom_png(phantom_image(seed, image_id, grade, size))
    except RuntimeError:
        raise RuntimeError(f"PNG encoding failed for {path}") from None
    atomic_write_bytes(path, data)
    return path


def _init_worker() -> None:
    cv2.setNumThreads(1)


def generate(
    out_dir: str | os.PathLike[str],
    n_train: int = N_TRAIN,
    n_test: int = N_TEST,
    seed: int = 0,
    workers: int = 0,
    *,
    size: int = 1024,
    progress: bool = True,
) -> Path:
    """Write a phantom DRAC Task 3 data set under ``out_dir`` in the official layout.

    ``out_dir/C. Diabetic Retinopathy Grading/1. Original Images/a. Training Set/*.png``, the
    label CSV (``image name``, ``DR grade``) under ``2. Groundtruths``, and the unlabelled
    ``out_dir/DRAC2022_Testing_Set/.../b. Testing Set/*.png``. Each image depends only on
    ``(seed, image id)``, so the result does not depend on ``workers`` (0 = the usable cores,
    :func:`drac_ssl.cpu_threads.usable_cores`: affinity mask, cgroup CPU quota).

    Returns immediately when ``out_dir`` already holds a complete set made with the same
    parameters (recorded in ``phantom.json``, written last). An interrupted run is resumed:
    images already written for the same parameters are kept. Refuses to write into a folder
    that holds DRAC-layout images it did not make, so real data is never overwritten.

    ``progress``: a bar on a terminal; off one (a log, nohup, CI) a line on stderr at most a
    minute (:class:`drac_ssl.console.ProgressLines`: ``[phantom] 300 of 997 images (3.5 img/s,
    about 3 min left)``); False: neither.

    Returns:
        ``out_dir`` as a :class:`~pathlib.Path`.

    Raises:
        SystemExit: called in a worker process importing a script that makes the call at its
            top level, not under ``if __name__ == "__main__":`` (one line on stderr:
            :func:`data_prep.pool.refuse_top_level_rerun`), where the call would render into the
            same folder as the script's own: the guard or ``workers=1`` is the fix.
        data_prep.pool.UnguardedScriptPool: (a ``BrokenProcessPool``) in the script's own
            process then: its workers stopped so.
    """
    refuse_top_level_rerun("data_prep.phantom.generate", "workers=1")  # a worker importing a script that calls it unguarded
    root = Path(out_dir)
    params = _params(n_train, n_test, seed, size)
    plan = plan_phantom(n_train, n_test, seed)
    if _is_complete(root, params, plan):
        return root

    manifest = read_json_dict(root / MANIFEST_NAME)
    partial = read_json_dict(root / _PARTIAL_NAME)
    ours = manifest is not None or partial is not None
    folders = ((TRAIN_IMAGE_DIR, plan.train), (TEST_IMAGE_DIR, plan.test))
    existing = [
        p
        for folder, _ in folders
        if (root / folder).is_dir()
        for p in (root / folder).glob("*.png")
    ]
    if existing and not ours:
        raise FileExistsError(
            f"{root} already holds DRAC images that are not a phantom set; refusing to overwrite.\n"
            f"  fix: give --out a new or empty folder, e.g. --out {root.with_name(root.name + '-phantom')}"
        )
    # images already on disk are valid when they were made with the same parameters
    resume = any(m is not None and m.get("params") == params for m in (manifest, partial))
    (root / MANIFEST_NAME).unlink(missing_ok=True)
    atomic_write_json(root / _PARTIAL_NAME, {"params": params})

    tasks: list[tuple[int, int, int, int, str]] = []
    for folder, cases in folders:
        (root / folder).mkdir(parents=True, exist_ok=True)
        wanted = {c.name for c in cases}
        for stale in (root / folder).glob(".*.tmp-*"):  # left by a killed run
            stale.unlink()
        for stale in (root / folder).glob("*.png"):
            if stale.name not in wanted or not resume:
                stale.unlink()
        for case in cases:
            path = root / folder / case.name
            if not path.exists():
                tasks.append((int(seed), case.image_id, case.grade, int(size), str(path)))

    n_workers = usable_cores() if workers <= 0 else int(workers)  # not the machine's CPUs
    n_workers = max(1, min(n_workers, len(tasks)))
    bar = _progress(len(tasks), enabled=progress)
    # off a terminal (a log, nohup, CI), where the bar is off: a line at most a minute
    lines = ProgressLines(sys.stderr, "phantom", enabled=progress)
    if n_workers == 1:
        for done, task in enumerate(tasks, 1):
            _render_and_write(task)
            bar.update(1)
            lines.count(done, len(tasks))
    else:
        with spawn_pool(n_workers, initializer=_init_worker) as pool:  # spawn: see data_prep.pool
            # one image per task: Ctrl-C waits only for the images in progress and the one queued
            # (chunks of up to 8 held it ~30 s; 60 images took the same time either way)
            for done, _ in enumerate(pool.map(_render_and_write, tasks, chunksize=1), 1):
                bar.update(1)
                lines.count(done, len(tasks))
    bar.close()

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for case in plan.train:
        writer.writerow((case.name, case.grade))
    atomic_write_text(root / LABELS_CSV, buf.getvalue())
    atomic_write_json(
        root / MANIFEST_NAME,
        {
            "params": params,
            "train_grade_counts": list(balanced_grade_counts(n_train)),
            "note": "phantom UW-OCTA data, not real patients; test grades: data_prep.phantom.plan_phantom",
        },
    )
    (root / _PARTIAL_NAME).unlink(missing_ok=True)
    return root


def _progress(total: int, enabled: bool) -> Any:
    # no tqdm at all when off: even a disabled one fixes a host's multiprocessing start method
    return progress_bar(total, "phantom images", "img", enabled=enabled)


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``phantom`` sub-command's options to ``parser``."""
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    # ranges checked here (a CLI review: --n-train -3 was a ValueError traceback, 0 an empty set)
    grades = len(TRAIN_GRADE_COUNTS)
    parser.add_argument("--n-train", type=whole_number(grades, N_TRAIN, f"one image of each of the {grades} grades; "
                                                     "at most data.phantom_n_train's bound", PHANTOM_MAX_IMAGES,
                                                     option="--n-train"),
                        default=N_TRAIN, metavar="N", help=f"training images (default {N_TRAIN})")
    parser.add_argument("--n-test", type=whole_number(0, N_TEST, most=PHANTOM_MAX_IMAGES, option="--n-test"), default=N_TEST, metavar="N",
                        help=f"test images (default {N_TEST})")
    parser.add_argument("--seed", type=whole_number(0, 0, option="--seed"), default=0, help="data set seed (default 0)")
    parser.add_argument("--workers", type=whole_number(0, 0, option="--workers"), default=0, metavar="N",
                        help="processes, 0 = the usable cores (affinity mask, cgroup CPU quota) "
                             "(default: 0)")
    parser.set_defaults(func=cli)


def cli(args: argparse.Namespace) -> int:
    """Run :func:`generate` from parsed arguments and print a one-line summary.

    Returns the exit code: 0 done, 130 interrupted (Ctrl-C, or SIGTERM under
    ``python -m data_prep``), with one line saying that a rerun resumes."""
    from drac_ssl.out_paths import folder_under_file_problem  # stdlib only

    # under a file (good.csv/ph): a NotADirectoryError traceback before (a CLI review)
    if problem := folder_under_file_problem(args.out, "--out", "phantom_data"):
        print(f"error: {problem}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    try:
        root = generate(args.out, args.n_train, args.n_test, args.seed, args.workers)
    except FileExistsError as exc:  # DRAC images of its own in --out: never overwritten
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        hold_signals_if_command()  # a second SIGTERM cannot cut the line nor kill by signal
        print(f"interrupted: the phantom images written so far are kept in {args.out}; rerun the "
              "same command to finish the set", file=sys.stderr)
        return interrupt_exit_code()  # 130 Ctrl-C, 143 SIGTERM (python -m data_prep)
    counts = balanced_grade_counts(args.n_train)
    print(
        f"phantom DRAC set at {root}: {args.n_train} train (grades 0/1/2 = "
        f"{'/'.join(map(str, counts))}), {args.n_test} test, seed {args.seed}, "
        f"{time.perf_counter() - start:.1f} s"
    )
    return 0
