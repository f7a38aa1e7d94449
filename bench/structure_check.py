"""The app's structure check on real, phantom and noise images -> ``bench/results/structure_check.json``.

    python -m bench.structure_check [--phantom-dir data/phantom/seed0-train611-test386] [--name structure_check]

:func:`data_prep.validate.neighbour_correlation` (the larger of the horizontal and vertical
correlation between adjacent pixels of the grey image block-averaged to at most 256 px a
side) of each upload read as the app reads it (:func:`app.inputs.load_bytes`): the 3 real
DRAC UW-OCTA samples and the 30 real APTOS colour fundus photographs of ``../shared/data``
(grey and colour models), the RetinaMNIST photographs there (28 px), the phantom UW-OCTA
images of a generated set (``--phantom-dir``: every PNG under it; else ``--phantoms`` drawn
by :func:`data_prep.phantom.phantom_image`), the APTOS photographs downscaled to 128, 64 and
32 px (the lowest real figures), and uniform iid noise of 16 to 2048 px a side (5 images per
size, 50 below 64 px). The app refuses an upload at or below
:data:`data_prep.validate.NOISE_CORRELATION` as noise (the export command grades it and names
it in a warning); this records the margin on both sides. Sets
whose files are missing are left out (named in ``missing``).
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import SHARED, write_result

NOISE_SIDES = (16, 28, 32, 64, 96, 128, 224, 256, 300, 512, 700, 1000, 1024, 1400, 2048)
SMALL_NOISE_REPEATS = 50
"""Noise images per side below 64 px (5 per larger side): fewer pixel pairs, a wider spread."""
DOWNSCALED_SIDES = (128, 64, 32)
"""The APTOS photographs are also measured resized (``cv2.INTER_AREA``) to these long sides:
a downscaled photograph correlates less than the original, the lowest real figures."""


def _summary(values: list[float]) -> dict[str, Any]:
    v = np.asarray(values, dtype=np.float64)
    return {"n": int(v.size), "min": round(float(v.min()), 3), "median": round(float(np.median(v)), 3),
            "max": round(float(v.max()), 3)}


def _downscaled(path: Path, side: int) -> float:
    """The statistic of the photograph ``path`` resized (``cv2.INTER_AREA``) to ``side`` px on
    its long side, saved as a PNG and read as the app reads an upload (colour model)."""
    import cv2
    from PIL import Image

    from app.inputs import load_bytes

    rgb = np.asarray(Image.open(path).convert("RGB"))
    h, w = rgb.shape[:2]
    scale = side / max(h, w)
    small = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    buf = io.BytesIO()
    Image.fromarray(small).save(buf, format="PNG")
    return load_bytes(buf.getvalue(), f"{path.stem}_{side}.png", channels=3).structure


def measure(phantom_dir: Path | None, phantoms: int, seed: int) -> dict[str, Any]:
    """The statistic per set (``n``, ``min``, ``median``, ``max``; the DRAC samples by name)."""
    from PIL import Image

    from app.inputs import load_bytes
    from data_prep.phantom import phantom_image
    from data_prep.validate import NOISE_CORRELATION, neighbour_correlation

    def upload(path: Path, channels: int = 1) -> float:
        return load_bytes(path.read_bytes(), path.name, channels=channels).structure

    data = SHARED / "data"
    sets: dict[str, Any] = {}
    missing: list[str] = []
    drac = sorted((data / "drac_samples").glob("sample_*.png"))
    if drac:
        sets["drac_samples"] = {p.name: round(upload(p), 3) for p in drac}
    else:
        missing.append("drac_samples")
    aptos = sorted((data / "aptos_samples" / "train_images").glob("*.png"))
    if aptos:
        sets["aptos_grey_model"] = _summary([upload(p) for p in aptos])
        sets["aptos_colour_model"] = _summary([upload(p, 3) for p in aptos])
        sets["aptos_downscaled"] = {str(side): _summary([_downscaled(p, side) for p in aptos])
                                    for side in DOWNSCALED_SIDES}
    else:
        missing.append("aptos_samples")
    npz = data / "retinamnist" / "retinamnist_public.npz"
    if npz.is_file():
        with np.load(npz) as archive:
            sets["retinamnist"] = _summary([neighbour_correlation(im) for key in
                                            ("train_images", "val_images", "test_images")
                                            for im in archive[key]])
    else:
        missing.append("retinamnist")
    if phantom_dir is not None:
        files = sorted(phantom_dir.rglob("*.png"))
        sets["phantom_files"] = {"folder": phantom_dir.name, **_summary([upload(p) for p in files])}
    else:
        sets["phantom_drawn"] = _summary([neighbour_correlation(phantom_image(seed, i, i % 3))
                                          for i in range(phantoms)])
    rng = np.random.default_rng(seed)
    per_side: dict[str, list[float]] = {}
    for side in NOISE_SIDES:
        values = []
        for _ in range(SMALL_NOISE_REPEATS if side < 64 else 5):
            buf = io.BytesIO()
            Image.fromarray(rng.integers(0, 256, (side, side), dtype=np.uint8)).save(buf, format="PNG")
            values.append(load_bytes(buf.getvalue(), "noise.png").structure)
        per_side[str(side)] = [round(v, 3) for v in values]
    sets["noise_by_side"] = per_side
    sets["noise_64_px_and_up"] = _summary([v for s, vs in per_side.items() if int(s) >= 64 for v in vs])
    sets["noise_below_64_px"] = _summary([v for s, vs in per_side.items() if int(s) < 64 for v in vs])
    return {"threshold": NOISE_CORRELATION, "sets": sets, "missing": missing}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.structure_check", description=__doc__.split("\n")[0])
    parser.add_argument("--phantom-dir", type=Path, default=None,
                        help="a generated phantom set (every PNG under it); default: draw --phantoms")
    parser.add_argument("--phantoms", type=int, default=12, help="phantoms to draw without --phantom-dir")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--name", default="structure_check", help="bench/results/NAME.json")
    args = parser.parse_args(argv)
    figures = measure(args.phantom_dir, args.phantoms, args.seed)
    for name, values in figures["sets"].items():
        if name != "noise_by_side":
            print(f"[structure_check] {name}: {values}")
    write_result(args.name, figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
