"""Render ``docs/img/phantom_vs_real.png``: phantom UW-OCTA images beside real DRAC samples.

One row per DR grade (0, 1, 2): several phantoms of that grade, downscaled, then the real
sample of that grade, each labelled. Used to check by eye that the phantom generator
(``data_prep/phantom.py``) draws what a grader looks for.

    python scripts/make_phantom_montage.py [--samples DIR] [--out PNG] [--per-grade 4]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from data_prep.phantom import draw_severity, render_phantom  # noqa: E402

GRADE_NAMES = {0: "0 Normal", 1: "1 NPDR", 2: "2 PDR"}
DEFAULT_SAMPLES = next(
    (
        p
        for p in (REPO / "shared/data/drac_samples", Path("/work/shared/data/drac_samples"))
        if p.is_dir()
    ),
    REPO / "shared/data/drac_samples",
)


def _label(tile: np.ndarray, text: str) -> np.ndarray:
    """Write ``text`` in the top-left corner of a grayscale tile on a dark box."""
    out = tile.copy()
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1)
    cv2.rectangle(out, (0, 0), (w + 8, h + base + 6), 0, -1)
    cv2.putText(out, text, (4, h + 3), cv2.FONT_HERSHEY_SIMPLEX, 0.45, 255, 1, cv2.LINE_AA)
    return out


def build_montage(samples: Path, per_grade: int = 4, tile: int = 256, seed: int = 0) -> np.ndarray:
    """Grid of labelled tiles: per grade row, ``per_grade`` phantoms then the real sample."""
    gap = 4
    rows = []
    for grade in (0, 1, 2):
        tiles = []
        for k in range(per_grade):
            rng = np.random.default_rng([seed, grade, k])
            severity = draw_severity(grade, rng)
            img = render_phantom(grade, rng, 1024, severity=severity)
            small = cv2.resize(img, (tile, tile), interpolation=cv2.INTER_AREA)
            tiles.append(_label(small, f"phantom g{grade} sev {severity:.2f}"))
        real_path = samples / f"sample_{grade}.png"
        real = cv2.imread(str(real_path), cv2.IMREAD_GRAYSCALE)
        if real is None:
            real = np.zeros((tile, tile), np.uint8)
            text = f"(no {real_path.name})"
        else:
            real = cv2.resize(real, (tile, tile), interpolation=cv2.INTER_AREA)
            text = f"REAL grade {GRADE_NAMES[grade]}"
        tiles.append(np.full((tile, 3 * gap), 255, np.uint8))
        tiles.append(_label(real, text))
        row = tiles[0]
        for t in tiles[1:]:
            row = np.hstack([row, np.full((tile, gap), 255, np.uint8), t])
        rows.append(row)
    sep = np.full((gap, rows[0].shape[1]), 255, np.uint8)
    return np.vstack([rows[0], sep, rows[1], sep, rows[2]])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.splitlines()[0])
    parser.add_argument(
        "--samples", type=Path, default=DEFAULT_SAMPLES, help="folder of sample_{0,1,2}.png"
    )
    parser.add_argument("--out", type=Path, default=REPO / "docs/img/phantom_vs_real.png")
    parser.add_argument("--per-grade", type=int, default=4, help="phantoms per grade row")
    parser.add_argument("--tile", type=int, default=256, help="tile size in pixels")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    montage = build_montage(args.samples, args.per_grade, args.tile, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(".png", montage, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:
        raise RuntimeError("PNG encoding failed")
    args.out.write_bytes(buf.tobytes())
    print(f"wrote {args.out} ({montage.shape[1]}x{montage.shape[0]}, {len(buf) / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
