"""bench.structure_check: what it records of each set (first scale, largest scale, refused)."""

from __future__ import annotations

import math

NAN = math.nan


def test_each_set_records_the_first_scale_the_largest_scale_and_how_many_the_app_refuses() -> None:
    """The app refuses an image only when every scale of data_prep.validate.structure_correlations
    is at or below the threshold (looks_like_noise), so the bench records the largest of the
    scales (NaN scales, too small to measure, left out) and the number refused beside the first
    scale, whose figures the earlier records hold under the same keys."""
    from bench.structure_check import set_figures

    found = [(0.01, 0.32, 0.40), (0.05, NAN, NAN), (0.10, 0.12, NAN)]
    first, largest, refused = set_figures(found)
    assert first == {"n": 3, "min": 0.01, "median": 0.05, "max": 0.1}
    assert largest == {"n": 3, "min": 0.05, "median": 0.12, "max": 0.4}
    assert refused == 2  # 0.01 at the first scale but 0.40 at 4 x 4: graded
    first, largest, refused = set_figures({"a.png": (0.661, 0.7, 0.7204), "b.png": (0.01, 0.02, 0.03)})
    assert first == {"a.png": 0.661, "b.png": 0.01} and largest == {"a.png": 0.72, "b.png": 0.03}
    assert refused == 1
    first, largest, refused = set_figures({"128": found, "32": [(0.2, NAN, NAN)]})
    assert first["128"]["max"] == 0.1 and largest["32"] == {"n": 1, "min": 0.2, "median": 0.2, "max": 0.2}
    assert refused == {"128": 2, "32": 0}
