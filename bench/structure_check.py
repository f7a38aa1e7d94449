"""The app's structure check on real, dithered, phantom and noise images -> ``bench/results/structure_check.json``.

    python -m bench.structure_check [--phantom-dir data/phantom/seed0-train611-test386] [--name structure_check]

:func:`data_prep.validate.structure_correlations` of each upload read as the app reads it
(:func:`app.inputs.load_bytes`, :attr:`app.inputs.LoadedImage.structures`): the larger of the
horizontal and vertical correlation between adjacent pixels of the grey image block-averaged
to at most 256 px a side (the first scale, :func:`data_prep.validate.neighbour_correlation`),
and the same on 2 x 2 and 4 x 4 means of those blocks where they leave at least 32 a side
(from 64 and 128 px). The app refuses an upload as noise when the largest of the scales it
measured is at or below :data:`data_prep.validate.NOISE_CORRELATION`
(:func:`data_prep.validate.looks_like_noise`; the export command grades it and names it in a
warning). For each set this records, under ``sets``, the first scale (the figures of the
records before the coarser scales were added, same keys), under ``largest_scale`` the largest
of the scales (the figure compared with the threshold), and under ``refused_as_noise`` how
many the app refuses as noise; the same keys and shapes in each (``n``, ``min``, ``median``,
``max``; the DRAC samples by name; noise per side as lists), counts where ``sets`` has a
summary.

The sets: the 3 real DRAC UW-OCTA samples and the 30 real APTOS colour fundus photographs of
``../shared/data`` (grey and colour models), the APTOS photographs downscaled to 128, 64 and
32 px (the lowest real figures), the same 30 photographs saved as dithered palette PNGs
(``convert('P')``: Pillow's web palette, Floyd-Steinberg dithered, what "save as 8-bit PNG"
gives; the case the coarser scales were added for) and as 1-bit dithered PNGs
(``convert('1')``), each at 224 px as they are and resized first to :data:`DITHERED_SIDES`,
the RetinaMNIST photographs (28 px), the phantom UW-OCTA images of a generated set
(``--phantom-dir``: every PNG under it; else ``--phantoms`` drawn by
:func:`data_prep.phantom.phantom_image`), and uniform iid noise of 16 to 2048 px a side (5
images per size, 50 below 64 px): the margin on both sides of the threshold. Sets whose files
are missing are left out (named in ``missing``).
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import SHARED_DATA, write_result
from drac_ssl.starting import python_command

NOISE_SIDES = (16, 28, 32, 64, 96, 128, 224, 256, 300, 512, 700, 1000, 1024, 1400, 2048)
SMALL_NOISE_REPEATS = 50
"""Noise images per side below 64 px (5 per larger side): fewer pixel pairs, a wider spread."""
DOWNSCALED_SIDES = (128, 64, 32)
"""The APTOS photographs are also measured resized (``cv2.INTER_AREA``) to these long sides:
a downscaled photograph correlates less than the original, the lowest real figures."""
DITHERED_SIDES = (512, 300, 128, 64, 32)
"""The dithered copies are also made of the photographs resized first to these long sides
(``cv2.INTER_CUBIC`` up from their 224 px, ``cv2.INTER_AREA`` down): above 256 px the first
scale already averages 2 x 2 pixels, which hides part of the dither; below, fewer blocks."""

Structures = tuple[float, ...]
"""One image's :func:`data_prep.validate.structure_correlations` (NaN for a scale not measured)."""


def _summary(values: list[float]) -> dict[str, Any]:
    v = np.asarray(values, dtype=np.float64)
    return {"n": int(v.size), "min": round(float(v.min()), 3), "median": round(float(np.median(v)), 3),
            "max": round(float(v.max()), 3)}


def _largest(found: Structures) -> float:
    """The largest scale measured (NaN scales left out; NaN when none is defined): the figure
    :func:`data_prep.validate.looks_like_noise` compares with the threshold."""
    defined = [v for v in found if not np.isnan(v)]
    return max(defined) if defined else float("nan")


def set_figures(found: list[Structures] | dict[str, Any]) -> tuple[Any, Any, Any]:
    """``(first scale, largest scale, refused)`` of one set's measurements: a list of
    :data:`Structures` gives two :func:`_summary` dicts and the number
    :func:`data_prep.validate.looks_like_noise` calls noise (what the app refuses); a dict of
    :data:`Structures` by name (the DRAC samples) gives the two figures by name, rounded to 3
    places, and the number refused; a dict of such lists (by side) gives each of the three by
    key."""
    from data_prep.validate import looks_like_noise

    if isinstance(found, dict) and all(isinstance(v, tuple) for v in found.values()):
        return ({k: round(v[0], 3) for k, v in found.items()},
                {k: round(_largest(v), 3) for k, v in found.items()},
                sum(looks_like_noise(v) for v in found.values()))
    if isinstance(found, dict):
        views = {k: set_figures(v) for k, v in found.items()}
        return tuple({k: view[i] for k, view in views.items()} for i in range(3))  # type: ignore[return-value]
    return (_summary([v[0] for v in found]), _summary([_largest(v) for v in found]),
            sum(looks_like_noise(v) for v in found))


def _upload(data: bytes, name: str, channels: int = 1) -> Structures:
    """:attr:`app.inputs.LoadedImage.structures` of the file ``data`` read as the app reads an upload."""
    from app.inputs import load_bytes

    return load_bytes(data, name, channels=channels).structures


def _resized_png(path: Path, side: int | None = None, mode: str | None = None) -> bytes:
    """The photograph ``path`` as a PNG: resized first to ``side`` px on its long side
    (``cv2.INTER_AREA`` down, ``cv2.INTER_CUBIC`` up; None: as it is), then converted to
    ``mode`` (``"P"``: Pillow's dithered web palette; ``"1"``: 1-bit, dithered; None: RGB)."""
    import cv2
    from PIL import Image

    rgb = np.asarray(Image.open(path).convert("RGB"))
    if side is not None:
        h, w = rgb.shape[:2]
        scale = side / max(h, w)
        rgb = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))),
                         interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    image = Image.fromarray(rgb)
    buf = io.BytesIO()
    (image.convert(mode) if mode else image).save(buf, format="PNG")
    return buf.getvalue()


def measure(phantom_dir: Path | None, phantoms: int, seed: int) -> dict[str, Any]:
    """Per set (:func:`set_figures`): ``sets`` the first scale, ``largest_scale`` the largest of
    the scales, ``refused_as_noise`` how many the app refuses as noise."""
    from PIL import Image

    from data_prep.phantom import phantom_image
    from data_prep.validate import (
        NOISE_CORRELATION,
        STRUCTURE_MIN_SIDE,
        STRUCTURE_SCALES,
        structure_correlations,
    )

    def upload(path: Path, channels: int = 1) -> Structures:
        return _upload(path.read_bytes(), path.name, channels)

    data = SHARED_DATA
    found: dict[str, Any] = {}
    extra: dict[str, dict[str, Any]] = {}  # words beside a set's summaries (the phantom folder)
    missing: list[str] = []
    drac = sorted((data / "drac_samples").glob("sample_*.png"))
    if drac:
        found["drac_samples"] = {p.name: upload(p) for p in drac}
    else:
        missing.append("drac_samples")
    aptos = sorted((data / "aptos_samples" / "train_images").glob("*.png"))
    if aptos:
        found["aptos_grey_model"] = [upload(p) for p in aptos]
        found["aptos_colour_model"] = [upload(p, 3) for p in aptos]
        found["aptos_downscaled"] = {str(side): [_upload(_resized_png(p, side), f"{p.stem}_{side}.png", 3)
                                                 for p in aptos] for side in DOWNSCALED_SIDES}
        for mode, key in (("P", "aptos_palette"), ("1", "aptos_1bit")):
            found[key] = [_upload(_resized_png(p, None, mode), p.name, 3) for p in aptos]
            found[f"{key}_resized"] = {
                str(side): [_upload(_resized_png(p, side, mode), f"{p.stem}_{side}.png", 3) for p in aptos]
                for side in DITHERED_SIDES}
    else:
        missing.append("aptos_samples")
    npz = data / "retinamnist" / "retinamnist_public.npz"
    if npz.is_file():
        with np.load(npz) as archive:
            found["retinamnist"] = [structure_correlations(im) for key in
                                    ("train_images", "val_images", "test_images") for im in archive[key]]
    else:
        missing.append("retinamnist")
    if phantom_dir is not None:
        found["phantom_files"] = [upload(p) for p in sorted(phantom_dir.rglob("*.png"))]
        extra["phantom_files"] = {"folder": phantom_dir.name}
    else:
        found["phantom_drawn"] = [structure_correlations(phantom_image(seed, i, i % 3)) for i in range(phantoms)]
    rng = np.random.default_rng(seed)
    per_side: dict[str, list[Structures]] = {}
    for side in NOISE_SIDES:
        values = []
        for _ in range(SMALL_NOISE_REPEATS if side < 64 else 5):
            buf = io.BytesIO()
            Image.fromarray(rng.integers(0, 256, (side, side), dtype=np.uint8)).save(buf, format="PNG")
            values.append(_upload(buf.getvalue(), "noise.png"))
        per_side[str(side)] = values
    found["noise_64_px_and_up"] = [v for s, vs in per_side.items() if int(s) >= 64 for v in vs]
    found["noise_below_64_px"] = [v for s, vs in per_side.items() if int(s) < 64 for v in vs]

    sets: dict[str, Any] = {}
    largest: dict[str, Any] = {}
    refused: dict[str, Any] = {}
    for key, measured in found.items():
        if key == "noise_64_px_and_up":  # the noise images one by one, in the records' place
            sets["noise_by_side"] = {s: [round(v[0], 3) for v in vs] for s, vs in per_side.items()}
            largest["noise_by_side"] = {s: [round(_largest(v), 3) for v in vs] for s, vs in per_side.items()}
            refused["noise_by_side"] = set_figures(per_side)[2]
        first, top, count = set_figures(measured)
        words = extra.get(key, {})
        sets[key], largest[key], refused[key] = {**words, **first}, ({**words, **top} if words else top), count
    return {"threshold": NOISE_CORRELATION, "scales": list(STRUCTURE_SCALES), "min_side": STRUCTURE_MIN_SIDE,
            "sets": sets, "largest_scale": largest, "refused_as_noise": refused, "missing": missing}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=python_command("bench.structure_check"), allow_abbrev=False, description=__doc__.split("\n")[0])
    parser.add_argument("--phantom-dir", type=Path, default=None,
                        help="a generated phantom set (every PNG under it); default: draw --phantoms")
    parser.add_argument("--phantoms", type=int, default=12, help="phantoms to draw without --phantom-dir")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--name", default="structure_check", help="bench/results/NAME.json")
    args = parser.parse_args(argv)
    figures = measure(args.phantom_dir, args.phantoms, args.seed)
    for name, values in figures["sets"].items():
        if name != "noise_by_side":
            print(f"[structure_check] {name}: first scale {values}; largest scale {figures['largest_scale'][name]}; "
                  f"refused as noise {figures['refused_as_noise'][name]}")
    write_result(args.name, figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
