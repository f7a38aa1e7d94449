"""Small checks of data_prep rules that a mutation audit found no test held (each one fails with
the audit's mutant applied: the id in each test's docstring, e.g. F18 folds.summary_fold_seed
returning 0)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from data_prep import cache, folds, grades, ingest, labels, validate
from data_prep.layout import Layout
from data_prep.validate import LabelRow
from drac_ssl.config import GRADE_SCALES, DataConfig

# --------------------------------------------------------------------------------------
# folds


def test_summary_fold_seed_reads_the_recorded_seed_and_zero_otherwise() -> None:
    """F18: the seed an ingest summary records, 0 without a whole number."""
    assert folds.summary_fold_seed({"config": {"fold_seed": 7}}) == 7
    assert folds.summary_fold_seed({"config": {"fold_seed": 0}}) == 0
    for summary in ({}, None, [], {"config": None}, {"config": {}}, {"config": {"fold_seed": True}},
                    {"config": {"fold_seed": "7"}}, {"config": {"fold_seed": 7.0}}):
        assert folds.summary_fold_seed(summary) == 0, summary


def test_site_dealt_folds_follow_their_seed() -> None:
    """F16: the seed orders the images dealt (a fixed order gave every seed the same folds)."""
    y = [0, 1] * 12
    sites = ["a", "b", "c"] * 8
    by_seed = [folds.site_dealt_folds(y, sites, 3, seed) for seed in (0, 1)]
    assert not np.array_equal(*by_seed)
    np.testing.assert_array_equal(folds.site_dealt_folds(y, sites, 3, 0), by_seed[0])  # pure


def test_working_folds_tries_the_seeds_after_the_one_that_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    """F15: the seeds tried begin at seed + 1 (seed itself already failed)."""
    tried: list[int] = []

    def fills(y, n_folds, seed, patients, per_grade, sites) -> bool:  # type: ignore[no-untyped-def]
        tried.append(seed)
        return seed == 6  # seed 5 fails, 6 works

    monkeypatch.setattr(folds, "FOLD_SEEDS_TRIED", 1)
    monkeypatch.setattr(folds, "_fills", fills)
    other, _ = folds.working_folds([0, 1, 0, 1], 2, 5, None, [2, 2])
    assert other == 6 and tried[0] == 6


# --------------------------------------------------------------------------------------
# validate, labels, grades


def test_a_non_square_image_of_the_expected_width_gets_the_size_warning() -> None:
    """V3: width and height are both compared with the expected side."""
    problems = validate.size_problem("a.png", 1024, 512, 1024)
    assert len(problems) == 1
    problem = problems[0]
    assert "size 1024x512, not 1024x1024" in problem.what and "aspect ratio changed" in problem.what
    assert validate.size_problem("a.png", 1024, 1024, 1024) == []


def test_a_quoted_na_cell_is_ungraded() -> None:
    """V7: quotes around the cell are taken off before it is read."""
    assert validate.is_ungraded('"NA"') and validate.is_ungraded(' " na " ') and validate.is_ungraded('""')
    assert not validate.is_ungraded('"2"')


def _table(columns: list[str]) -> labels.Table:
    return labels.Table(Path("labels.csv"), columns, [(2, ["a.png"] + ["1"] * (len(columns) - 1))],
                        "UTF-8", ",")


@pytest.mark.parametrize(("columns", "wanted"), [(["image", "grade", "grade"], "grade"),
                                                 (["image", "grade", "GRADE"], "Grade")])
def test_a_grade_column_written_twice_is_refused(columns: list[str], wanted: str) -> None:
    """L5: two columns of one name (exactly, or but for case) are an error, not the first taken."""
    index, problems = labels.column_index(_table(columns), wanted)
    assert index is None
    (problem,) = problems
    assert problem.severity == "error" and f"column {wanted!r} appears 2 times" in problem.what


def test_a_scale_name_is_read_in_any_case() -> None:
    """G1: ``--grades ICDR`` is the ICDR scale, not one grade named 'ICDR'."""
    assert grades.resolve_grades(["ICDR"], "plain") == (GRADE_SCALES["icdr"], "data.grades=icdr")
    assert grades.resolve_grades([" Drac "], "aptos") == (GRADE_SCALES["drac"], "data.grades=drac")


def test_merging_grade_one_offers_grade_zero_too() -> None:
    """G4: grade 0 is a neighbour of grade 1."""
    fix = grades.merge_fix(1, GRADE_SCALES["drac"])
    assert "grade 0 (Normal) or 2 (PDR)" in fix


# --------------------------------------------------------------------------------------
# cache


def _state(tmp_path: Path, n_records: int, n_rows: int) -> Path:
    """A cache folder whose state records ``n_records`` files over a 16 px array of ``n_rows``."""
    folder = tmp_path / "cache"
    folder.mkdir()
    np.save(cache.array_path(folder, 16), np.zeros((n_rows, 16, 16), np.uint8))
    records = [cache.FileRecord(f"{i}.png", size=1, mtime_ns=1, sha256="0" * 64) for i in range(n_records)]
    cache.save_state(folder, tmp_path, [16], records)
    return folder


def test_a_cache_array_of_the_wrong_row_count_is_not_reused(tmp_path: Path) -> None:
    """C4: an array stamped as the state records it but of another shape is rebuilt."""
    folder = _state(tmp_path, 2, 3)
    state = cache.load_state(folder, tmp_path, [16])
    assert not state.arrays and "has shape (3, 16, 16)" in state.reason


def test_a_state_pointing_past_its_arrays_is_not_reused(tmp_path: Path) -> None:
    """C5: a file's cache_index outside the arrays' rows is refused."""
    folder = _state(tmp_path, 2, 2)
    assert cache.load_state(folder, tmp_path, [16]).files  # as written: reused
    path = folder / cache.STATE_NAME
    state = json.loads(path.read_text(encoding="utf-8"))
    state["files"]["1.png"]["cache_index"] = 2  # == n_rows
    path.write_text(json.dumps(state), encoding="utf-8")
    loaded = cache.load_state(folder, tmp_path, [16])
    assert not loaded.files and "points outside its arrays" in loaded.reason


def test_a_held_state_is_never_unchanged() -> None:
    """C7: the arrays of a state held by a killed run are written again."""
    records = [cache.FileRecord("a.png", cache_index=0)]
    arrays = {16: np.zeros((1, 16, 16), np.uint8)}
    assert cache.unchanged(records, cache.CacheState({"a.png": records[0]}, arrays, 1))
    assert not cache.unchanged(records, cache.CacheState({"a.png": records[0]}, arrays, 1, held=True))


def test_a_state_without_graham_padding_was_built_with_black_padding() -> None:
    """C1: an older state's missing ``graham_reflect_padding`` reads as off."""
    older = cache.CacheOptions().state()
    del older["graham_reflect_padding"]
    assert cache.CacheOptions().changes_from(older) == []
    assert cache.CacheOptions(graham_reflect_padding=True).changes_from(older) == [
        "Graham padding of a crop not square black -> mirrored"]


def test_cache_rows_are_area_resized(tmp_path: Path) -> None:
    """C10: a row is the decoded image resized with INTER_AREA (not another interpolation)."""
    image = np.random.default_rng(3).integers(0, 256, (96, 96), dtype=np.uint8)
    path = tmp_path / "a.png"
    assert cv2.imwrite(str(path), image)
    record = cache.process_file(cache.FileTask(str(path), "a.png", (32,), "", cache.CacheOptions(expected_side=0)))
    np.testing.assert_array_equal(record.resized[32], cv2.resize(image, (32, 32), interpolation=cv2.INTER_AREA))


# --------------------------------------------------------------------------------------
# ingest


def test_twins_inside_one_patient_leave_the_folds_counting_patients(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """I6: near twins that join no two patients keep the notes' unit 'patient'."""
    seen: dict[str, object] = {}

    def assign(grades, n_folds, seed, patients, source, grade_names, rows, unit, sites):  # type: ignore[no-untyped-def]
        seen["unit"], seen["patients"] = unit, list(patients)
        return np.arange(len(grades)) % n_folds, [], "stratified"

    monkeypatch.setattr(ingest, "assign_site_folds", assign)
    entries = [ingest.ImageEntry(tmp_path / f"{i}.png", f"{i}.png", "train",
                                 LabelRow(f"{i}.png", i % 2, patient, i + 2))
               for i, patient in enumerate(["p1", "p1", "p2", "p2"])]
    cfg = DataConfig(root=str(tmp_path), n_folds=2, patient_column="patient")
    layout = Layout("plain", tmp_path, tmp_path, None, None)
    ingest._assign_folds(entries, cfg, "folds", layout, twin_groups=np.array([0, 0, 1, 2]))
    assert seen == {"unit": "patient", "patients": ["p1", "p1", "p2", "p2"]}
    ingest._assign_folds(entries, cfg, "folds", layout, twin_groups=np.array([0, 1, 1, 2]))
    assert seen["unit"] == folds.TWIN_UNIT  # control: a twin across p1 and p2 joins them
