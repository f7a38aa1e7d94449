"""bench/stem_pool.py: the frozen backbone's forward with the stem's pool through the
channels-last kernel against the plain pool, on the same images."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import stem_pool


def test_both_paths_are_timed_and_give_the_same_bits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import bench.common

    monkeypatch.setattr(bench.common, "RESULTS", tmp_path)
    assert stem_pool.main(["--cases", "33:2", "--repeats", "2"]) == 0
    record = json.loads((tmp_path / "stem_pool.json").read_text())
    (case,) = record["cases"].values()
    assert case["image_px"] == 33 and case["batch"] == 2 and case["stem_map_shape"] == [2, 64, 17, 17]
    for what in ("forward", "pool"):
        cell = case[what]
        assert cell["bitwise_equal"] is True, what
        assert cell["plain_ms"] > 0 and cell["channels_last_pool_ms"] > 0, what
        assert len(cell["plain_ms_each"]) == len(cell["channels_last_pool_ms_each"]) == 2
        assert cell["speedup"] > 0 and cell["speedup_paired_median"] > 0, what
    assert 0 < case["plain_pool_share_of_plain_forward"]
    assert record["repeats"] == 2 and record["command"]


def test_a_malformed_case_is_refused_naming_the_form() -> None:
    assert stem_pool.parse_case("224:32") == (224, 32)
    for bad in ("224", "224x32", "4:2", "64:0"):
        with pytest.raises(ValueError, match="64:64|>= 8 px"):
            stem_pool.parse_case(bad)


def test_the_results_row_shows_both_paths_and_whether_they_agree() -> None:
    from bench.summarize import stem_pool_rows

    cell = {"plain_ms": 80.0, "channels_last_pool_ms": 32.0, "speedup": 2.5, "speedup_paired_median": 2.4,
            "bitwise_equal": True}
    record = {"repeats": 7, "command": "python -m bench.stem_pool", "date_utc": "2026-12-09T00:00:00",
              "device": "cpu", "cases": {"64px_batch64": {
                  "image_px": 64, "batch": 64, "plain_pool_share_of_plain_forward": 0.15,
                  "forward": {**cell, "plain_ms": 530.0, "channels_last_pool_ms": 460.0, "speedup": 1.15},
                  "pool": cell}}}
    (row,) = stem_pool_rows(record)
    assert "64 px x 64 images" in row and "forward: 530.0 ms -> 460.0 ms (x1.15" in row
    assert "pool alone: 80.0 ms -> 32.0 ms (x2.5, 15 % of the plain forward); bitwise equal" in row
    record["cases"]["64px_batch64"]["pool"] = {**cell, "bitwise_equal": False}
    (row,) = stem_pool_rows(record)
    assert "NOT bitwise equal" in row
