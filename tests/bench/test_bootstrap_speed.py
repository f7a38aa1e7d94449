"""bench/bootstrap_speed.py: the counted bootstrap against the earlier loop, on the same draws."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import bootstrap_speed


def test_both_methods_are_timed_and_give_the_same_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import bench.common

    monkeypatch.setattr(bench.common, "RESULTS", tmp_path)
    assert bootstrap_speed.main(["--n-boot", "20", "--repeats", "1"]) == 0
    record = json.loads((tmp_path / "bootstrap_speed.json").read_text())
    assert set(record["cases"]) == {"drac_611_images_k3", "drac_611_images_306_patients_k3",
                                    "retinamnist_1200_images_k5"}
    for name, figures in record["cases"].items():
        for what in ("scores", "qwk_ci"):
            cell = figures[what]
            assert cell["loop_seconds"] > 0 and cell["counted_seconds"] > 0, (name, what)
            assert cell["max_abs_difference"] <= 1e-12, (name, what)  # the same values, resample by resample
    assert record["n_boot"] == 20 and record["command"]


def test_a_difference_in_where_a_metric_is_undefined_is_not_hidden() -> None:
    assert bootstrap_speed._max_difference([0.5, float("nan")], [0.5, 0.7]) == float("inf")
    assert bootstrap_speed._max_difference([0.5, float("nan")], [0.5 + 1e-15, float("nan")]) < 1e-14


def test_the_readme_row_shows_both_methods_and_the_difference() -> None:
    from bench.summarize import bootstrap_speed_rows

    record = {"n_boot": 1000, "command": "python -m bench.bootstrap_speed", "date_utc": "2026-12-01T00:00:00",
              "device": "cpu", "cases": {"drac_611_images_k3": {
                  "scores": {"loop_seconds": 9.0, "counted_seconds": 0.14, "speedup": 64.3,
                             "max_abs_difference": 3.3e-16}}}}
    (row,) = bootstrap_speed_rows(record)
    assert "drac 611 images k3" in row and "scores: 9.0 s -> 0.14 s (x64.3, largest difference 3e-16)" in row
