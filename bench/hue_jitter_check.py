"""How far the GPU path's hue jitter is from torchvision's ``adjust_hue`` (HSV hue shift).

    python -m bench.hue_jitter_check [--colours 65536] [--shifts 0.02,0.05,0.1] [--seed 0]
                                     [--name hue_jitter_check]

:class:`drac_ssl.augment.GpuTwoViewAugment` jitters hue (the ``cifar`` recipe: ``jitter_hue``
0.1, a shift ``h`` uniform in -0.1..0.1 of a turn) by rotating the chroma plane of YIQ by
``2 pi h``, where torchvision's ``ColorJitter`` (and the CPU path's albumentations
``ColorJitter``) shift the HSV hue by ``h`` turns. This measures how different the two are,
on ``--colours`` random RGB colours (uniform in [0, 1]^3, seeded), with the package's own
code: its ``_jitter`` step with every factor but hue at identity and the hue draw set to
``+h`` or ``-h`` (:func:`yiq_hue`), against ``torchvision.transforms.v2.functional.adjust_hue``
by ``+h``. For each ``h`` of ``--shifts``:

- ``same_sign``: the largest and the mean absolute difference per channel (in [0, 1] units,
  x 255 for grey levels) between the package's ``+h`` and torchvision's ``+h``;
- ``opposite_sign``: the same with the package's ``-h`` (its rotation runs the other way
  round the colour wheel from HSV's);
- ``no_shift``: the same for the colours left as they are, the yardstick: a hue jitter that
  is no closer than this to ``adjust_hue`` is not an approximation of it;
- ``hsv_hue_change``: the median change of HSV hue (turns, signed, on colours of saturation
  and value above 0.2) that the package's ``+h`` makes, beside torchvision's (``h`` itself).

Runs on the CPU in seconds. Writes ``bench/results/<name>.json`` with the command, device,
versions and date (:func:`bench.common.write_result`).
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

import torch

from bench.common import RESULTS, write_result
from drac_ssl.augment import GpuTwoViewAugment, RandomDraws, recipe_for
from drac_ssl.config import AugmentConfig
from drac_ssl.starting import python_command

HUE_ROW = 4
"""The row of :class:`RandomDraws` that ``GpuTwoViewAugment._jitter`` draws its hue from
(after the on/off coin and brightness, contrast, saturation); a test checks it."""


def yiq_hue(x: torch.Tensor, h: float) -> torch.Tensor:
    """``x`` ``(N, 3, H, W)`` in [0, 1] after the package's GPU hue jitter with the draw set to
    ``h`` turns exactly (``GpuTwoViewAugment._jitter``, brightness, contrast and saturation at
    identity)."""
    cfg = AugmentConfig(recipe="cifar", image_size=x.shape[-1], crop_scale=[0.2, 1.0])
    recipe = dataclasses.replace(recipe_for(cfg).without_randomness(), jitter_p=1.0,
                                 jitter_hue=max(abs(h), 1e-12))
    aug = GpuTwoViewAugment(cfg, 3, recipe)
    n = x.shape[0]
    draws = RandomDraws(n, None, x.device)
    draws.u = torch.full((RandomDraws.ROWS, n), 0.5)
    draws.u[0] = 0.0  # jitter on
    draws.u[HUE_ROW] = 1.0 if h >= 0 else 0.0  # -s + 2 s u: +s or -s, s = |h|
    return aug._jitter(x.clone(), draws)


def hsv_hue(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """HSV hue (turns, 0..1), saturation and value of ``x`` ``(N, 3, H, W)`` in [0, 1]."""
    r, g, b = x.unbind(1)
    value, _ = x.max(1)
    low, _ = x.min(1)
    spread = value - low
    safe = torch.where(spread > 0, spread, torch.ones_like(spread))
    hue = torch.where(value == r, (g - b) / safe,
                      torch.where(value == g, 2 + (b - r) / safe, 4 + (r - g) / safe))
    saturation = torch.where(value > 0, spread / torch.where(value > 0, value, torch.ones_like(value)), 0)
    return (hue / 6) % 1.0, saturation, value


def _distance(a: torch.Tensor, b: torch.Tensor) -> dict[str, float]:
    d = (a - b).abs()
    return {"max": round(float(d.max()), 4), "mean": round(float(d.mean()), 4)}


def _turns(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The signed hue change from ``a`` to ``b`` (turns), wrapped to -0.5..0.5."""
    return (b - a + 0.5) % 1.0 - 0.5


def measure(colours: int, shifts: list[float], seed: int) -> dict[str, Any]:
    """The figures of the module docstring for ``colours`` random colours per shift."""
    import torchvision.transforms.v2.functional as TF

    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(1, 3, 1, colours, generator=gen)
    hue0, sat0, val0 = hsv_hue(x)
    coloured = (sat0 > 0.2) & (val0 > 0.2)
    rows = {}
    for h in shifts:
        ref = TF.adjust_hue(x, h)
        ours = yiq_hue(x, h)
        rows[f"{h:g}"] = {
            "same_sign": _distance(ours, ref),
            "opposite_sign": _distance(yiq_hue(x, -h), ref),
            "no_shift": _distance(x, ref),
            "hsv_hue_change": {
                "package_plus_h": round(float(_turns(hue0, hsv_hue(ours)[0])[coloured].median()), 4),
                "torchvision_plus_h": round(float(_turns(hue0, hsv_hue(ref)[0])[coloured].median()), 4),
            },
        }
    return {"colours": colours, "coloured_for_hue_change": int(coloured.sum()), "seed": seed, "shifts": rows}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=python_command("bench.hue_jitter_check"), allow_abbrev=False,
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--colours", type=int, default=65536, help="random RGB colours (default 65536)")
    parser.add_argument("--shifts", default="0.02,0.05,0.1",
                        help="comma-separated hue shifts h, turns (default 0.02,0.05,0.1; cifar's range is +-0.1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default="hue_jitter_check")
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    shifts = [float(s) for s in args.shifts.split(",") if s.strip()]
    figures = measure(args.colours, shifts, args.seed)
    for h, row in figures["shifts"].items():
        print(f"[bench] h={h}: package +h vs adjust_hue +h: max {row['same_sign']['max']}, mean "
              f"{row['same_sign']['mean']}; package -h: max {row['opposite_sign']['max']}, mean "
              f"{row['opposite_sign']['mean']}; no shift at all: mean {row['no_shift']['mean']}; "
              f"median HSV hue change of +h: package {row['hsv_hue_change']['package_plus_h']}, "
              f"torchvision {row['hsv_hue_change']['torchvision_plus_h']} turns")
    write_result(args.name, {
        "what": "GpuTwoViewAugment's hue jitter (a rotation of the YIQ chroma plane by 2 pi h, the package's "
                "_jitter with the hue draw set to h) against torchvision.transforms.v2.functional.adjust_hue "
                "(HSV hue shift by h turns) on random RGB colours in [0, 1]: absolute difference per "
                "channel in [0, 1] units; no_shift = the colours unchanged, the yardstick",
        **figures,
    }, args.out_dir)


if __name__ == "__main__":
    main()
