"""bench/cpu_precision.py: bf16 and fp32 steps of the package's VICReg step, side by side."""

from __future__ import annotations

from bench import cpu_precision
from bench.summarize import cpu_precision_rows


def test_measure_times_every_variant_and_bf16_computes_the_same_loss() -> None:
    row = cpu_precision.measure("retinamnist.yaml", 3, 28, 4, steps=1, repeats=1)  # 4 pairs: 25 -> 14 s
    assert set(row["seconds_per_step_median"]) == {"fp32_nchw", "bf16_nchw", "fp32_channels_last",
                                                    "bf16_channels_last"}
    assert all(t > 0 for t in row["seconds_per_step_median"].values())
    assert row["first_step_loss"]["relative_difference"] < 0.01  # the same loss, in bf16
    (line,) = cpu_precision_rows({"cpu_bf16_flags": ["amx_bf16"], "settings": {"retinamnist_28px": row}})
    assert "amx_bf16" in line and "bf16 speed-up" in line
