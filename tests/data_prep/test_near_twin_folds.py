"""data.near_duplicate_mse: near twins among the labelled images kept in one fold.

The pure functions of :mod:`data_prep.near_duplicates` on tiny arrays, and the ingest of a
small plain folder holding near copies (one pixel one level off, so not the ingest's error of
byte-identical files or identical pixels) of some of its images."""

from __future__ import annotations

import dataclasses
import json
import math
import re
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from step_clock import StepClock
from test_ingest import config, expect_error, make_plain, read_manifest, write_csv

from data_prep import cache, ingest
from data_prep.folds import (
    TWIN_UNIT,
    assign_folds,
    manifest_fold_gaps,
    manifest_units,
    summary_grouped,
)
from data_prep.near_duplicates import (
    COMPARE_SIDE,
    comparison_rows,
    group_counts,
    grouped_units,
    near_duplicate_groups,
    near_pairs,
    nearest_neighbours,
    twin_groups,
)
from drac_ssl import manifest as manifests
from drac_ssl.config import DATA_RANGES, ConfigError, load_config, range_problems
from drac_ssl.finetune import ci_resampling
from drac_ssl.oof import patient_groups, resampling_kind

N_ORIGINALS = 16
TWINS = {"101.png": "001.png", "102.png": "002.png", "103.png": "003.png", "104.png": "004.png"}
"""Each copy and the image whose pixels it holds (the same grade)."""


# --------------------------------------------------------------------------------------
# The pure functions


def test_a_chain_of_twins_is_one_group() -> None:
    """a~b (MSE 5e-5) and b~c (2e-4) join a, b and c although a and c (4.5e-4) are further
    apart than the threshold 3e-4; d and e, far from all, stay alone."""
    rows = np.array([[0.0, 0.0], [0.01, 0.0], [0.03, 0.0], [0.5, 0.5], [1.0, 1.0]])
    assert near_pairs(rows, 3e-4).tolist() == [[0, 1], [1, 2]]  # a~c (4.5e-4) is not below
    groups = near_duplicate_groups(rows, 3e-4)
    assert groups.tolist() == [0, 0, 0, 3, 4]  # each group named by its first member
    assert group_counts(groups) == (3, 1)
    assert near_duplicate_groups(rows, 1e-4).tolist() == [0, 0, 2, 3, 4]  # b~c no longer below
    assert near_duplicate_groups(rows, 5e-4).tolist() == [0, 0, 0, 3, 4]  # a~c below too: one group still
    assert near_duplicate_groups(rows[:1], 1.0).tolist() == [0]  # one image: its own group


def test_the_threshold_is_strict() -> None:
    # 1-D rows of binary fractions (distances exact): MSE 0-1 = 0.0625, 2-3 = 0.015625
    rows = np.array([[0.0], [0.25], [1.0], [1.125]])
    assert near_pairs(rows, 0.0625).tolist() == [[2, 3]]  # 0-1 at it: not below
    assert near_pairs(rows, np.nextafter(0.0625, 1.0)).tolist() == [[0, 1], [2, 3]]
    assert near_duplicate_groups(rows, 0.0625).tolist() == [0, 1, 2, 2]


def test_every_pair_below_the_threshold_is_joined_not_only_nearest_neighbours() -> None:
    """a and b are 0.0005 apart in MSE, c is b's nearest neighbour and d a's: a-b is neither's
    nearest pair, yet below the threshold 1e-3, so the four make one group (the rule the docs
    state); the nearest-neighbour links alone would give two groups."""
    rows = np.array([[0.0, 0.0], [0.0316, 0.0], [0.0416, 0.0], [-0.01, 0.0]])  # a b c d
    index, distance = nearest_neighbours(rows)
    assert index.tolist() == [3, 2, 1, 0] and (distance < 1e-3).all()
    nearest_links = np.stack([np.arange(4), index], axis=1)
    assert twin_groups(4, nearest_links).tolist() == [0, 1, 1, 0]  # the nearest-neighbour rule: a and b apart
    assert near_pairs(rows, 1e-3).tolist() == [[0, 1], [0, 2], [0, 3], [1, 2], [1, 3]]
    assert near_duplicate_groups(rows, 1e-3).tolist() == [0, 0, 0, 0]


def test_a_threshold_that_links_far_too_many_pairs_stops_with_the_fix() -> None:
    rows = np.random.default_rng(0).uniform(0.0, 1.0, size=(30, 4))
    assert len(near_pairs(rows, 1.0, max_pairs=1000)) == 30 * 29 // 2  # every pair below 1
    with pytest.raises(ValueError, match=r"data.near_duplicate_mse=1 links too many labelled images: more "
                                         r"than 10 pairs below it .*-> use a value near 1e-4"):
        near_duplicate_groups(rows, 1.0, max_pairs=10)


def _pairs_compared_with_all_rows(rows: np.ndarray, threshold: float) -> list[list[int]]:
    """The search as it was (every block against all rows, pairs j > i kept): the reference."""
    from sklearn.metrics import pairwise_distances_chunked

    d, pairs, start = rows.shape[1], [], 0
    for block in pairwise_distances_chunked(rows, metric="euclidean", working_memory=7 * len(rows) * 8 / 2**20):
        for i, row in enumerate(block.astype(np.float64) ** 2 / d < threshold, start=start):
            pairs += [[i, int(j)] for j in np.flatnonzero(row[i + 1:]) + i + 1]
        start += len(block)
    return pairs


def test_the_pair_search_computes_each_pair_once_and_finds_the_same_pairs(monkeypatch: pytest.MonkeyPatch) -> None:
    """A trial at 8,000 images: the search compared each block of rows with all n rows and
    kept the pairs j > i, twice the distances needed (EyePACS: 35k labelled images). Each
    block is now compared with the rows from its own on: at most n (n + block) / 2 distances,
    and the same pairs, in the same order, as the search over all rows, with near pairs planted
    inside blocks, across block edges and far apart, and one at the threshold (not below)."""
    import sklearn.metrics
    import sklearn.metrics.pairwise

    from data_prep import near_duplicates

    rng = np.random.default_rng(3)
    rows = rng.uniform(0.0, 1.0, size=(600, 12)).astype(np.float32)
    for a, b in [(0, 1), (4, 5), (6, 7), (3, 250), (255, 256), (511, 512), (2, 597), (598, 599)]:
        rows[b] = rows[a] + rng.normal(0.0, 0.005, 12).astype(np.float32)
    computed = []
    original = sklearn.metrics.pairwise.pairwise_distances

    def counted(*args: object, **kwargs: object) -> np.ndarray:
        out = original(*args, **kwargs)
        computed.append(out.size)
        return out

    monkeypatch.setattr(sklearn.metrics, "pairwise_distances", counted)
    monkeypatch.setattr(sklearn.metrics.pairwise, "pairwise_distances", counted)  # the chunked search's
    expected = _pairs_compared_with_all_rows(rows, 1e-3)
    assert len(expected) == 8 and [2, 597] in expected and [255, 256] in expected, expected
    computed.clear()
    assert near_pairs(rows, 1e-3).tolist() == expected
    assert 600 * 599 / 2 <= sum(computed) <= 600 * (600 + near_duplicates.BLOCK_ROWS) / 2, computed
    for block_rows in (5, 7, 599):
        assert near_pairs(rows, 1e-3, block_rows=block_rows).tolist() == expected, block_rows
    mse = float(np.mean((rows[255].astype(np.float64) - rows[256]) ** 2))
    at = near_pairs(rows, np.nextafter(mse, 0.0), block_rows=5).tolist()  # 255~256 just not below
    assert [255, 256] not in at and at == _pairs_compared_with_all_rows(rows, np.nextafter(mse, 0.0))


def test_comparison_rows_scale_to_0_1_and_area_resize_only_larger_copies() -> None:
    small = np.full((2, 28, 28, 3), 255, dtype=np.uint8)
    rows = comparison_rows(small)
    assert rows.shape == (2, 28 * 28 * 3) and rows.dtype == np.float32 and rows.max() == 1.0
    big = np.zeros((1, 128, 128), dtype=np.uint8)
    big[0, :, :64] = 200  # left half: INTER_AREA keeps the halves exact
    rows = comparison_rows(big)
    assert rows.shape == (1, COMPARE_SIDE * COMPARE_SIDE)
    expected = cv2.resize(big[0], (COMPARE_SIDE, COMPARE_SIDE), interpolation=cv2.INTER_AREA)
    np.testing.assert_allclose(rows[0], expected.ravel() / 255.0, rtol=1e-6)
    with pytest.raises(ValueError, match="uint8"):
        comparison_rows(np.zeros((1, 8, 8), dtype=np.float32))


def test_units_and_twin_groups_join_as_the_union_of_both() -> None:
    """Images 0, 1 are patient P; 2 is patient Q; 3 is alone (its image id); twins 1~2 join P
    and Q; image 4 (patient R) has no twin outside R and keeps its id."""
    units = ["P", "P", "Q", "img3", "R", "R"]
    groups = [0, 1, 1, 3, 4, 4]
    assert grouped_units(units, groups) == ["P", "P", "P", "img3", "R", "R"]
    assert grouped_units(["a", "b"], [0, 1]) == ["a", "b"]  # nothing joined: the ids as given
    with pytest.raises(ValueError, match="3 units but 2"):
        grouped_units(["a", "b", "c"], [0, 1])


# --------------------------------------------------------------------------------------
# The ingest


def make_twins(root: Path, test: tuple[str, ...] = ()) -> Path:
    """A plain folder of 16 distinct grey images (grades alternate 0, 1) and 4 copies of the
    first four, each its original's pixels with one pixel one level off (a near twin: identical
    pixels are the ingest's error of copies, ``identical_content``), with its grade (``test``:
    unlabelled test images besides)."""
    grades = {f"{i:03d}.png": i % 2 for i in range(1, N_ORIGINALS + 1)}
    make_plain(root, grades, test)
    for copy, original in TWINS.items():
        image = cv2.imread(str(root / original), cv2.IMREAD_UNCHANGED)
        image[0, 0] = image[0, 0] + 1 if image[0, 0] < 255 else 254
        assert cv2.imwrite(str(root / copy), image, [cv2.IMWRITE_PNG_COMPRESSION, 0])  # 0: fast
        grades[copy] = grades[original]
    write_csv(root / "labels.csv", ["image name", "DR grade"], [[n, g] for n, g in grades.items()])
    return root


def folds_of(manifest: Path) -> dict[str, str]:
    return {row["id"]: row["fold"] for row in read_manifest(manifest) if row["split"] == "train"}


def test_the_phases_after_decoding_say_when_they_start_and_show_their_progress(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A trial user's extrapolation to EyePACS (88,702 images): after the decoding's last
    progress line, the near-copy search (quadratic), the test-vs-training search, the cache
    write and its hashing ran for 10 min (16 cores) to over an hour (1 thread) without a word.
    Each now shows its progress as the decoding does: a line when due off a terminal (here
    every read of the clock), a bar on one; the write and hashing of large arrays say when they
    start (the near-copy search's size is said before decoding, for large sets only)."""
    from drac_ssl import console

    data = make_twins(tmp_path / "d", test=("t1.png", "t2.png"))
    monkeypatch.setattr(console, "progress_clock", StepClock(61.0))
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    monkeypatch.setattr(cache, "ANNOUNCED_BYTES", 1)  # arrays of 1 GB or more: these 90 kB too
    ingest.run(config(data, grades=["Normal", "DR"], near_duplicate_mse=1e-4), tmp_path / "out")
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("[ingest] ")]
    said = "\n".join(err)
    assert re.search(r"^\[ingest\] near copies: 190 of 190 pairs \([\d,.]+ pair/s\)$", said, re.M), said
    assert re.search(r"^\[ingest\] near copies across splits: 40 of 40 pairs \(", said, re.M), said
    assert any(re.fullmatch(r"\[ingest\] writing the cache arrays \(64 px: [\d.]+ kB \([\d,]+ bytes\)\) in .*", line)
               for line in err), said
    assert re.search(r"^\[ingest\] writing the cache: 22 of 22 rows \(", said, re.M), said
    assert re.search(r"^\[ingest\] hashing the cache arrays for its state \(64 px: ", said, re.M), said
    assert re.search(r"^\[ingest\] hashing the cache: 1 of 1 MiB \(", said, re.M), said
    # arrays under cache.ANNOUNCED_BYTES (a small ingest's): their writing and hashing unsaid
    (tmp_path / "out" / "cache" / "64px.npy").touch()  # another time: hashed again
    monkeypatch.setattr(cache, "ANNOUNCED_BYTES", 1 << 30)
    cache.save_state(tmp_path / "out" / "cache", data, [64], [], verbose=True)
    assert "[ingest] hashing the cache arrays" not in capsys.readouterr().err


def test_a_small_search_for_near_copies_says_nothing_more_than_its_progress(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A small verbose ingest with --near-duplicate-mse printed two lines saying the same thing
    (the search's size before decoding, and again as it started), and a third for the test
    images: a search of seconds now says nothing (as before these lines came); one of
    NEAR_COPIES_ANNOUNCED_PAIRS pairs or more says its size once, before decoding, without
    "0 test images"."""
    data = make_twins(tmp_path / "d")
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    said_lines = ("[ingest] near copies (--near", "[ingest] looking for near copies", "[ingest] comparing ")
    ingest.run(config(data, grades=["Normal", "DR"], near_duplicate_mse=1e-4), tmp_path / "out")
    err = capsys.readouterr().err
    assert not [line for line in err.splitlines() if line.startswith(said_lines)], err
    monkeypatch.setattr(ingest, "NEAR_COPIES_ANNOUNCED_PAIRS", 190)  # 20 training images: 190 pairs
    ingest.run(config(data, grades=["Normal", "DR"], near_duplicate_mse=1e-4), tmp_path / "out2")
    err = capsys.readouterr().err
    assert [line for line in err.splitlines() if line.startswith(said_lines)] == [
        "[ingest] near copies (--near-duplicate-mse): about 190 image pairs to compare (20 training "
        "images with each other), each a distance over 4,096 values if grey, 12,288 if colour "
        "(64 x 64 px); quadratic: about 4x the time for 2x the images"], err


def test_a_failed_search_across_the_splits_closes_its_progress_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    """An exception in the test-vs-training search (a full disk, Ctrl-C) left its terminal bar
    open, drawn over the traceback: the bar is closed as the search stops."""
    from drac_ssl import console

    closed: list[str] = []

    class Recorded(console.LoopProgress):
        def close(self) -> None:
            closed.append(self.what)
            super().close()

    def fails(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    from types import SimpleNamespace

    monkeypatch.setattr(ingest, "LoopProgress", Recorded)
    monkeypatch.setattr(ingest, "_comparison_rows", lambda records, *a: np.zeros((len(records), 4), np.float32))
    monkeypatch.setattr(ingest.twins, "twins_across", fails)
    train = [SimpleNamespace(split="train", record=None)] * 2
    entries = [*train, SimpleNamespace(split="test", record=None)]
    cfg = SimpleNamespace(near_duplicate_mse=1e-4)
    with pytest.raises(RuntimeError, match="disk full"):
        ingest._twins_across_splits(entries, train, np.zeros((2, 4), np.float32), cfg, 8, None, 1, None)
    assert closed == ["near copies across splits"], closed


def test_the_near_copy_search_says_its_size_before_decoding_and_its_time_after_one_block(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A trial user extrapolated the ingest's time to EyePACS by hand: the up-front line gave the
    disk only. It now says the search's pairs (training with training, test and pool with
    training, pool with test), their size and that the search is quadratic, with a pointer to
    docs/data.md for large sets; the only seconds figure is the time left at the first block's
    measured speed, said once after it (more than a minute left)."""
    import io
    from types import SimpleNamespace

    from drac_ssl import console

    entries = [SimpleNamespace(split=s) for s in ["train"] * 3 + ["test"] * 2 + ["unlabelled"]]
    said = ingest.near_copies_plan(entries, [256, 512], "3")
    assert said == ("[ingest] near copies (--near-duplicate-mse): about 14 image pairs to compare (3 training "
                    "images with each other, 2 test images with them, 1 unlabelled image with both), each a "
                    "distance over 12,288 values (64 x 64 px); quadratic: about 4x the time for 2x the images")
    assert "over 784 values if grey, 2,352 if colour (28 x 28 px)" in ingest.near_copies_plan(entries, [28], "auto")
    monkeypatch.setattr(ingest, "NEAR_COPIES_LARGE", 6)
    assert ingest.near_copies_plan(entries, [64], "1").endswith(
        "for 2x the images; for sets this large docs/data.md (Near duplicates) gives the time to expect")

    monkeypatch.setattr(console, "progress_clock", StepClock(10.0))  # 10 s a read
    stream = io.StringIO()
    progress = console.LoopProgress(1000, "ingest", "near copies", "pairs", "pair", stream=stream)
    update = ingest._first_block_timed(progress, verbose=True)
    update(100)  # 2 more reads of the clock since the start: 20 s for 100 of 1000 pairs
    update(100)
    assert stream.getvalue().splitlines() == [
        "[ingest] near copies: about 3 min left (the first 100 pairs took 20 s)"], stream.getvalue()
    quiet = console.LoopProgress(1000, "ingest", "near copies", "pairs", "pair", stream=stream)
    ingest._first_block_timed(quiet, verbose=False)(100)
    assert len(stream.getvalue().splitlines()) == 1
    # the test images and the pool with the training images follow, outside that time
    stream = io.StringIO()
    progress = console.LoopProgress(1000, "ingest", "near copies", "pairs", "pair", stream=stream)
    ingest._first_block_timed(progress, verbose=True, then=3000)(100)
    assert stream.getvalue().splitlines() == [
        "[ingest] near copies: about 3 min left (the training images; 3,000 test/pool pairs follow; "
        "the first 100 pairs took 20 s)"], stream.getvalue()


def test_the_option_keeps_each_copy_in_its_original_s_fold(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    data = make_twins(tmp_path / "d")
    plain = ingest.run(config(data, grades=["Normal", "DR"]), tmp_path / "plain", verbose=False)
    before = folds_of(plain.manifest_path)
    assert any(before[c] != before[o] for c, o in TWINS.items()), "per-image folds split no copy: test data too kind"
    result = ingest.run(config(data, grades=["Normal", "DR"], near_duplicate_mse=1e-4), tmp_path / "twins")
    after = folds_of(result.manifest_path)
    assert all(after[c] == after[o] for c, o in TWINS.items()), after
    assert sorted(after) == sorted(before)
    summary = json.loads(result.summary_path.read_text(encoding="utf-8"))
    assert summary["near_duplicates"] == {"near_duplicate_mse": 1e-4, "cache_size": 64, "compared_px": 64,
                                          "n_images": 8, "n_groups": 4, "with_patients": False}
    assert summary["config"]["near_duplicate_mse"] == 1e-4
    printed = capsys.readouterr().out
    assert ("near duplicates: 8 labelled images in 4 groups kept in one fold each "
            "(--near-duplicate-mse 0.0001, compared at 64 px) (members: manifest.csv column fold_group)") in printed
    assert ("folds: per image, except near twins kept together (next line); no patient column "
            "(--patient-column would keep a patient's images in one fold)") in printed
    # 8 of these 20 images are twins (40 %): more than near twins usually are, so a warning asks to check
    assert result.warnings == [f"{data / 'labels.csv'}: --near-duplicate-mse 0.0001 joined 8 of 20 labelled "
                               "images (40%) into 4 groups kept in one fold each, the largest of 2 images; near "
                               "twins are rarely so many (1e-4 is an RMS pixel difference of 1 % of the range) "
                               "-> check the value: e.g. --near-duplicate-mse 1e-4, or 0 (off); the folds are "
                               "made as asked"]
    # the pipeline says it as its setting
    said = ingest.format_summary(result)
    from data_prep.problems import as_config_keys
    assert "(data.near_duplicate_mse=0.0001, compared at 64 px)" in as_config_keys(said)


def test_a_share_of_twins_above_10_percent_warns_and_none_found_says_the_folds_are_per_image() -> None:
    cfg = ingest.DataConfig(near_duplicate_mse=3e-3)
    few = np.arange(100)
    few[[1, 2]] = 0  # 3 of 100 images in one group: no warning
    assert ingest._twin_share_problems(few, cfg, "labels.csv") == []
    many = np.arange(100)
    many[1:12] = 0  # 12 of 100 in one group, plus a pair
    many[51] = 50
    (warning,) = ingest._twin_share_problems(many, cfg, "labels.csv")
    assert warning.severity == "warning" and warning.path == "labels.csv"
    assert ("--near-duplicate-mse 0.003 joined 14 of 100 labelled images (14%) into 2 groups kept in one fold "
            "each, the largest of 12 images") in warning.what and "check the value" in warning.fix
    assert ingest._twin_share_problems(None, cfg, "labels.csv") == []
    facts = {"near_duplicate_mse": 1e-9, "cache_size": 28, "compared_px": 28, "n_images": 0, "n_groups": 0,
             "with_patients": False}
    assert ingest._twins_line(facts) == ("near duplicates: none below --near-duplicate-mse 1e-09 (compared "
                                         "at 28 px): the folds are per image")
    assert ingest._twins_line({**facts, "with_patients": True}).endswith("the folds are per patient")


def test_the_ingest_stops_on_a_value_that_links_far_too_many_pairs(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """1 (every pair of 0..1 images below it) on 20 images: 190 pairs, above 1 per image here."""
    data = make_twins(tmp_path / "d")
    monkeypatch.setattr("data_prep.near_duplicates.MAX_PAIRS_PER_IMAGE", 1)
    message = expect_error(config(data, grades=["Normal", "DR"], near_duplicate_mse=1.0), tmp_path / "out",
                           "--near-duplicate-mse 1 links too many labelled images: more than 20 pairs below it "
                           "(190 among the first 20 of 20 images; at most 1 per image)",
                           "-> use a value near 1e-4 (an RMS pixel difference of 1 % of the range), or 0 (off)")
    assert "data.near_duplicate_mse" not in message  # the ingest's own flag


def test_off_the_manifest_is_byte_identical_and_the_folds_per_image(tmp_path: Path) -> None:
    data = make_twins(tmp_path / "d")
    default = ingest.run(config(data, grades=["Normal", "DR"]), tmp_path / "default", verbose=False)
    off = ingest.run(config(data, grades=["Normal", "DR"], near_duplicate_mse=0.0), tmp_path / "off",
                     verbose=False)
    assert off.manifest_path.read_bytes() == default.manifest_path.read_bytes()
    rows = [r for r in read_manifest(off.manifest_path) if r["split"] == "train"]
    per_image, _ = assign_folds([int(r["grade"]) for r in rows], 2, 0)  # StratifiedKFold, no groups
    assert [int(r["fold"]) for r in rows] == per_image.tolist()
    summary = json.loads(off.summary_path.read_text(encoding="utf-8"))
    assert summary["near_duplicates"] is None and summary["config"]["near_duplicate_mse"] == 0.0
    printed = ingest.format_summary(off)  # off: said once, never a count of groups
    assert "near duplicates:" not in printed and printed.count(ingest.NEAR_DUPLICATES_OFF) == 1


def test_a_twin_group_joins_the_patients_of_its_images(tmp_path: Path) -> None:
    """001 (patient A) and its copy 101 (patient B, whose other image is 005): A's and B's
    images all share a fold; without the option the patient folds split them."""
    data = make_twins(tmp_path / "d")
    names = [f"{i:03d}.png" for i in range(1, N_ORIGINALS + 1)] + list(TWINS)
    patient = {n: f"P{n}" for n in names}  # each image its own patient ...
    patient.update({"001.png": "A", "101.png": "B", "005.png": "B"})  # ... but these
    for copy in ("102.png", "103.png", "104.png"):
        patient[copy] = patient[TWINS[copy]]  # the other copies: their original's patient
    grades = {n: int(n[:3]) % 2 if n not in TWINS else int(TWINS[n][:3]) % 2 for n in names}
    write_csv(data / "labels.csv", ["image name", "DR grade", "patient"],
              [[n, grades[n], patient[n]] for n in names])
    cfg = config(data, grades=["Normal", "DR"], patient_column="patient")
    alone = folds_of(ingest.run(cfg, tmp_path / "alone", verbose=False).manifest_path)
    assert len({alone["001.png"], alone["101.png"], alone["005.png"]}) > 1, "test data too kind"
    result = ingest.run(dataclasses.replace(cfg, near_duplicate_mse=1e-4), tmp_path / "both",
                        verbose=False)
    folds = folds_of(result.manifest_path)
    assert folds["001.png"] == folds["101.png"] == folds["005.png"]
    assert all(folds[c] == folds[o] for c, o in TWINS.items())
    assert result.near_duplicates is not None and result.near_duplicates["with_patients"] is True
    # the manifest's patient column stays the patients read (the twin groups are not patients)
    assert {r["id"]: r["patient"] for r in read_manifest(result.manifest_path)}["101.png"] == "B"
    # the bootstrap's units are the folds': A and B are one unit, each other patient its own
    lab = manifests.labelled_rows(manifests.read_manifest(result.manifest_path))
    groups = dict(zip([r["id"] for r in lab], patient_groups(lab) or [], strict=True))
    assert groups["001.png"] == groups["101.png"] == groups["005.png"]
    assert len(set(groups.values())) == len({patient[n] for n in names}) - 1  # A and B joined
    assert resampling_kind(list(groups.values())) == "groups"
    # the same patients with each copy under its original's patient: the twins join no two
    # patients, the fold groups are the patients, and the CIs resample patients as before
    patient["101.png"] = "A"
    write_csv(data / "labels.csv", ["image name", "DR grade", "patient"],
              [[n, grades[n], patient[n]] for n in names])
    within = ingest.run(dataclasses.replace(cfg, near_duplicate_mse=1e-4), tmp_path / "within", verbose=False)
    lab = manifests.labelled_rows(manifests.read_manifest(within.manifest_path))
    assert all(r["fold_group"] == r["patient"] for r in lab)
    assert patient_groups(lab) == [f"patient:{r['patient']}" for r in lab]
    assert ci_resampling(patient_groups(lab), len(lab)) == {"ci_resamples": "patients",
                                                             "ci_units": len(set(patient.values()))}


def test_a_twin_grouped_manifest_names_each_image_s_fold_unit_and_the_cis_resample_them(tmp_path: Path) -> None:
    """With the option the manifest's last column, fold_group, is each training image's unit
    in the folds (a copy shares its original's; test rows are empty), and patient_groups makes
    each twin group one resampling unit (ci_resamples: groups). Off: no such column, and the
    images are resampled one by one, as before."""
    data = make_twins(tmp_path / "d", test=("t1.png", "t2.png"))
    result = ingest.run(config(data, grades=["Normal", "DR"], near_duplicate_mse=1e-4), tmp_path / "twins",
                        verbose=False)
    header = result.manifest_path.read_text(encoding="utf-8").splitlines()[0]
    assert header == ",".join(ingest.WRITTEN_COLUMNS) + ",fold_group"
    rows = manifests.read_manifest(result.manifest_path)
    unit = {r["id"]: r["fold_group"] for r in rows}
    assert unit["t1.png"] == unit["t2.png"] == ""  # not a training image
    assert all(unit[copy] == unit[original] != "" for copy, original in TWINS.items())
    lab = manifests.labelled_rows(rows)
    assert len(lab) == N_ORIGINALS + len(TWINS) and all(r["fold_group"] for r in lab)
    groups = patient_groups(lab)
    assert groups is not None and all(g.startswith("group:") for g in groups)
    of = dict(zip([r["id"] for r in lab], groups, strict=True))
    assert all(of[copy] == of[original] for copy, original in TWINS.items())
    assert len(set(groups)) == N_ORIGINALS  # each copy joined its original: 16 units of 20 images
    assert ci_resampling(groups, len(lab)) == {"ci_resamples": "groups", "ci_units": N_ORIGINALS}

    off = ingest.run(config(data, grades=["Normal", "DR"]), tmp_path / "off", verbose=False)
    lab = manifests.labelled_rows(manifests.read_manifest(off.manifest_path))
    assert "fold_group" not in lab[0] and patient_groups(lab) is None
    assert ci_resampling(None, len(lab)) == {"ci_resamples": "images", "ci_units": len(lab)}


@pytest.mark.parametrize("with_patients", [False, True])
def test_the_folds_recomputed_from_a_twin_grouped_manifest_are_the_ingest_s(tmp_path: Path,
                                                                             with_patients: bool) -> None:
    """The preflight's and the report's fold-seed advice recomputes the folds from the
    manifest (data_prep.folds.manifest_fold_gaps): with near twins kept together it must split
    the manifest's fold_group units, which give exactly the ingest's folds; the patients (or
    images) alone give other folds, so advice drawn from them would be about other folds."""
    data = make_twins(tmp_path / "d")
    cfg = config(data, grades=["Normal", "DR"], n_folds=3, near_duplicate_mse=1e-4)
    if with_patients:  # two images to a patient, the copies their own: twins join patients
        names = [f"{i:03d}.png" for i in range(1, N_ORIGINALS + 1)] + list(TWINS)
        grades = {n: int((TWINS.get(n) or n)[:3]) % 2 for n in names}
        write_csv(data / "labels.csv", ["image name", "DR grade", "patient"],
                  [[n, grades[n], f"P{i // 2:02d}"] for i, n in enumerate(names)])
        cfg = dataclasses.replace(cfg, patient_column="patient")
    result = ingest.run(cfg, tmp_path / "out", verbose=False)
    summary = json.loads(result.summary_path.read_text(encoding="utf-8"))
    lab = manifests.labelled_rows(manifests.read_manifest(result.manifest_path))
    rows = [(r["grade"], r["fold"], r["patient"], r["id"]) for r in lab]
    folds = [r["fold"] for r in lab]
    units, unit = manifest_units(rows, summary_grouped(summary), [r["fold_group"] for r in lab])
    assert unit == TWIN_UNIT and units is not None
    assert assign_folds([r["grade"] for r in lab], 3, 0, units)[0].tolist() == folds
    alone, _ = manifest_units(rows, summary_grouped(summary))  # the patients alone (None: images)
    assert assign_folds([r["grade"] for r in lab], 3, 0, alone)[0].tolist() != folds
    gaps = manifest_fold_gaps(rows, 0, ("Normal", "DR"), summary_grouped(summary), [r["fold_group"] for r in lab])
    assert gaps.unit == TWIN_UNIT and not gaps.without  # every fold holds both grades
    # the preflight reads the fold_group column of the ingest it checks
    from types import SimpleNamespace

    from drac_ssl.preflight import _ingest_fold_gaps
    assert _ingest_fold_gaps(SimpleNamespace(ingest_dir=result.out_dir, grade_names=("Normal", "DR"))) == gaps


def test_a_grade_of_fewer_twin_groups_than_folds_is_said_in_groups(tmp_path: Path) -> None:
    """Grade 1 is 002, 004 and their copies 102, 104: four images, enough for 3 folds one by
    one, but two twin groups: the ingest's note counts image groups and says what they are
    (patients alone would be wrong: there are none)."""
    data = make_twins(tmp_path / "d")
    names = [f"{i:03d}.png" for i in range(1, N_ORIGINALS + 1)] + list(TWINS)
    dr = {"002.png", "004.png", "102.png", "104.png"}
    write_csv(data / "labels.csv", ["image name", "DR grade"], [[n, int(n in dr)] for n in names])
    cfg = config(data, grades=["Normal", "DR"], n_folds=3)
    off = ingest.run(cfg, tmp_path / "off", verbose=False)
    assert not any("has only" in n for n in off.notes)
    result = ingest.run(dataclasses.replace(cfg, near_duplicate_mse=1e-4), tmp_path / "on", verbose=False)
    (said,) = [n for n in result.notes if "has only" in n]
    assert ("grade 1 (DR) has only 2 image groups (near twins and a patient's images kept together by "
            "--near-duplicate-mse); stratified 3-fold cross-validation needs at least 3 of every grade") in said
    assert "add labelled grade 1 (DR) images (not near twins of those it has)" in said
    assert "patient" not in said.split("image groups (", 1)[0]


@pytest.mark.parametrize("value", [-1e-4, float("nan"), float("inf")])
def test_a_negative_or_non_finite_value_is_refused_with_the_fix(tmp_path: Path, value: float) -> None:
    data = make_plain(tmp_path / "d", {"001.png": 0, "002.png": 1})
    message = expect_error(config(data, near_duplicate_mse=value), tmp_path / "out",
                           f"--near-duplicate-mse={value!r}: must be a finite number >= 0",
                           "use --near-duplicate-mse 0 (off, the default), or e.g. --near-duplicate-mse 1e-4")
    assert "\n" not in message
    cfg = load_config(None, [f"data.near_duplicate_mse={value!r}"] if value < 0 else [])
    if value < 0:  # the preflight's range (python -m drac_ssl.train)
        ((r, got),) = [(r, v) for r, v in range_problems(cfg, DATA_RANGES) if r.setting == "data.near_duplicate_mse"]
        assert got == value and r.words().startswith("must be >= 0: the mean squared pixel difference")
        assert r.fix_words() == "data.near_duplicate_mse=0 (off, the default), or e.g. data.near_duplicate_mse=1e-4"
    else:
        with pytest.raises(ConfigError, match=r"'data.near_duplicate_mse' is (nan|inf), not a finite number: it must be >= 0") \
                as caught:
            load_config(None, [f"data.near_duplicate_mse={'nan' if math.isnan(value) else 'inf'}"])
        # the same fix as the range's (not "data.near_duplicate_mse=0.0 (the default)")
        assert str(caught.value).endswith("\n  fix: data.near_duplicate_mse=0 (off, the default), or e.g. "
                                          "data.near_duplicate_mse=1e-4"), str(caught.value)


def test_a_value_that_is_no_number_gets_the_range_s_fix() -> None:
    with pytest.raises(ConfigError, match=r"'data.near_duplicate_mse' must be a number") as caught:
        load_config(None, ["data.near_duplicate_mse=abc"])
    assert str(caught.value).endswith("\n  fix: data.near_duplicate_mse=0 (off, the default), or e.g. "
                                      "data.near_duplicate_mse=1e-4"), str(caught.value)


def test_the_ingest_flag_sets_the_option_and_a_resume_sees_the_change() -> None:
    """``--near-duplicate-mse`` reaches ``data.near_duplicate_mse``; a run folder ingested
    before the setting existed (its saved config without it) resumes under the default, and
    is told the change under another value (the ingest's folds are not reused silently)."""
    import argparse

    from drac_ssl.config import to_dict
    from drac_ssl.stage_settings import stage_resume_differences

    parser = argparse.ArgumentParser()
    ingest.add_arguments(parser)
    args = parser.parse_args(["--root", "r", "--out", "o", "--near-duplicate-mse", "1e-4"])
    assert ingest.config_from_args(args).near_duplicate_mse == 1e-4
    saved = to_dict(load_config(None, []))
    del saved["data"]["near_duplicate_mse"]  # a run made before the setting existed
    out = Path("/nonexistent-run")
    assert stage_resume_differences("ingest", saved, load_config(None, []), out) == []
    changed = load_config(None, ["data.near_duplicate_mse=1e-4"])
    assert stage_resume_differences("ingest", saved, changed, out) == ["data.near_duplicate_mse: 0.0 -> 0.0001"]


def test_retinamnist_s_near_twins_are_the_bench_s_and_share_a_fold(tmp_path: Path) -> None:
    """On the real ``.npz`` at 28 px (as configs/retinamnist.yaml caches it) the ingest finds
    the twins ``bench/near_duplicates.py`` counted (32 images, 16 groups at 1e-4) and keeps
    each of its closest pairs, split by the per-image folds, in one fold."""
    from shared_data import SHARED_DATA, need

    npz = need(SHARED_DATA / "retinamnist" / "retinamnist_public.npz", "RetinaMNIST")
    bench = json.loads((Path(__file__).resolve().parents[2] / "bench" / "results"
                        / "near_duplicates_retinamnist.json").read_text(encoding="utf-8"))
    result = ingest.run(config(npz, cache_sizes=[28], n_folds=5, channels="3", near_duplicate_mse=1e-4),
                        tmp_path / "out", verbose=False)
    assert result.near_duplicates is not None
    assert (result.near_duplicates["n_images"], result.near_duplicates["n_groups"]) == \
        (bench["counts"][0]["images_with_a_twin"], bench["twin_groups"]) == (32, 16)
    folds = folds_of(result.manifest_path)
    pairs = [(p["image"], p["twin"]) for p in bench["closest_pairs"]]
    assert all(p["folds"][0] != p["folds"][1] for p in bench["closest_pairs"])  # split per image
    assert all(folds[a] == folds[b] for a, b in pairs), pairs
