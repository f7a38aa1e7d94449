"""bench/grading_memory.py's pure helpers (the /proc status reader, the steps of each
endpoint, the summary over repeats) and its README row; the bench itself is not run here."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bench.grading_memory import (
    LAUNCHER,
    WATCHED_MODULES,
    endpoint_steps,
    interleaved_order,
    proc_status_kib,
    snapshot,
    spread,
    summarise_runs,
)

STATUS = """Name:\tpython
Umask:\t0022
State:\tR (running)
VmPeak:\t 1234567 kB
VmHWM:\t  949555 kB
VmRSS:\t  823090 kB
Threads:\t1
"""


def test_proc_status_gives_the_resident_and_peak_lines_in_kb() -> None:
    assert proc_status_kib(STATUS) == {"VmRSS": 823090, "VmHWM": 949555}
    assert proc_status_kib(STATUS, ("VmPeak",)) == {"VmPeak": 1234567}


def test_proc_status_without_a_line_or_with_another_unit_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match="no VmHWM line"):
        proc_status_kib("VmRSS:\t 10 kB\n")
    with pytest.raises(ValueError, match="VmRSS"):
        proc_status_kib("VmRSS:\t 10 MB\nVmHWM:\t 12 kB\n")


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="no /proc/self/status (not Linux)")
def test_a_snapshot_of_this_process_reads_its_memory_and_modules() -> None:
    snap = snapshot("now", 0.0)
    assert 0 < snap["vmrss_mib"] <= snap["vmhwm_mib"]
    assert snap["ru_maxrss_mib"] > 0 and snap["modules"] == len(sys.modules)
    assert snap["torch"] is True  # the bench conftest imports torch
    assert set(WATCHED_MODULES) <= set(snap)


def test_each_endpoint_repeats_the_steps_before_it() -> None:
    assert endpoint_steps("import") == ["start", "import_package", "import_api"]
    assert endpoint_steps("load") == ["start", "import_package", "import_api", "load_bundle"]
    assert endpoint_steps("grade_30") == [*endpoint_steps("load"), "grade_30"]
    for bad in ("grade_0", "grade_", "grade_x", "predict"):
        with pytest.raises(ValueError, match="unknown endpoint"):
            endpoint_steps(bad)


def test_every_round_runs_each_endpoint_once_in_a_seeded_order() -> None:
    endpoints = ["import", "load", "grade_3", "grade_30"]
    order = interleaved_order(endpoints, 3, seed=0)
    assert len(order) == 3 and all(sorted(r) == sorted(endpoints) for r in order)
    assert order == interleaved_order(endpoints, 3, seed=0)
    assert len({tuple(r) for s in range(5) for r in interleaved_order(endpoints, 3, seed=s)}) > 1


def test_the_summary_gives_median_and_range_per_step_and_says_when_imports_differed() -> None:
    def snap(step: str, rss: float, dynamo: bool) -> dict[str, object]:
        return {"step": step, "vmrss_mib": rss, "vmhwm_mib": rss + 10, "ru_maxrss_mib": rss + 10,
                "modules": 100, "seconds": 1.0, **{m: m == "torch._dynamo" and dynamo for m in WATCHED_MODULES}}

    runs = [[snap("start", 10, False), snap("load_bundle", rss, dynamo)]
            for rss, dynamo in ((800, True), (810, True), (790, False))]
    table = summarise_runs(runs)
    assert table["load_bundle"]["vmrss_mib"] == {"median": 800, "min": 790, "max": 810}
    assert table["load_bundle"]["torch._dynamo"] == "mixed" and table["start"]["torch._dynamo"] is False
    with pytest.raises(ValueError, match="different steps"):
        summarise_runs([runs[0], runs[1][:1]])
    with pytest.raises(ValueError):
        spread([])


def test_the_launcher_forks_so_the_measured_process_has_its_own_peak() -> None:
    assert "os.fork()" in LAUNCHER and "os.execv" in LAUNCHER


def test_the_readme_row_gives_each_endpoints_resident_and_peak_memory() -> None:
    from bench.summarize import grading_memory_rows

    def figures(rss: float, peak: float, dynamo: bool) -> dict[str, object]:
        return {"vmrss_mib": {"median": rss, "min": rss - 1, "max": rss + 1},
                "vmhwm_mib": {"median": peak, "min": peak, "max": peak},
                "ru_maxrss_mib": {"median": peak, "min": peak, "max": peak},
                "modules": {"median": 1439, "min": 1439, "max": 1439},
                "torchvision": dynamo, "torch._dynamo": dynamo}

    record = {"bundle": "demo", "images": "3 real", "grading_threads": 1, "repeats": 3,
              "command": "python -m bench.grading_memory",
              "table": {"import": figures(548.0, 548.0, False), "load": figures(804.0, 927.0, True),
                        "grade_30": figures(900.0, 1300.0, True)}}
    (row,) = grading_memory_rows(record)
    assert "after the import: 548.0 MiB resident (547.0-549.0)" in row
    assert "no torchvision, no torch._dynamo" in row
    assert "after load_bundle: 804.0 MiB resident" in row and "torchvision and torch._dynamo imported" in row
    assert "after grading 30 images in one call: 900.0 MiB resident (899.0-901.0), peak 1300.0 MiB" in row
    assert "1 thread;" in row and "3 interleaved repeats" in row
