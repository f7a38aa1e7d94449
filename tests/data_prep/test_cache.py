"""The ingest's row spill: new cache rows wait on disk, not in memory, until they are written."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from test_ingest import SIZE, config, make_plain

from data_prep import cache, ingest
from drac_ssl import io as drac_io


def test_row_spill_gives_back_grey_and_colour_rows_and_leaves_nothing(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    grey = {8: rng.integers(0, 256, (8, 8), dtype=np.uint8), 4: rng.integers(0, 256, (4, 4), dtype=np.uint8)}
    rgb = {8: rng.integers(0, 256, (8, 8, 3), dtype=np.uint8), 4: rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)}
    folder = tmp_path / "out" / "cache"  # neither exists yet
    with cache.RowSpill(folder) as spill:
        assert spill.put(rgb) == 0 and spill.put(grey) == 1 and spill.put(rgb) == 2
        assert spill.path(8).is_file() and spill.path(4).is_file()
        for size in (8, 4):
            np.testing.assert_array_equal(spill.get(0, size), rgb[size])
            np.testing.assert_array_equal(spill.get(1, size), grey[size])
            np.testing.assert_array_equal(spill.get(2, size), rgb[size])
        with pytest.raises(IndexError):
            spill.get(3, 8)
    assert not (tmp_path / "out").exists()  # the folders it made, empty again, are gone
    kept = tmp_path / "kept"
    kept.mkdir()
    with cache.RowSpill(kept) as spill:
        spill.put(grey)
    assert kept.is_dir() and not list(kept.iterdir())  # a folder it did not make stays


def test_arrays_written_block_by_block_equal_the_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(1)
    rows = [rng.integers(0, 256, (6, 6), dtype=np.uint8) for _ in range(7)]
    with cache.RowSpill(tmp_path / "spill") as spill:
        records = [cache.FileRecord(f"{i}.png", spill_row=spill.put({6: row})) for i, row in enumerate(rows)]
        monkeypatch.setattr(cache, "ROW_BLOCK_BYTES", 2 * 6 * 6)  # blocks of two rows: 4 blocks
        for channels, expected in ((1, np.stack(rows)), (3, np.repeat(np.stack(rows)[..., None], 3, -1))):
            path = cache.write_assembled(tmp_path / f"{channels}.npy", records, 6, cache.CacheState(),
                                         channels, spill)
            np.testing.assert_array_equal(np.load(path), expected)
        with pytest.raises(ValueError, match="spill"):
            cache.assemble(records, 6, cache.CacheState())  # the rows are in a spill not given


def test_the_ingest_keeps_no_image_rows_in_its_records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = make_plain(tmp_path / "d", {f"{i:03d}.png": i % 3 for i in range(1, 9)})
    held: list[cache.FileRecord] = []
    real = cache.process_files

    def spy(tasks: list[cache.FileTask], workers: int, spill: cache.RowSpill | None = None) -> list[cache.FileRecord]:
        out = real(tasks, workers, spill)
        held.extend(out)
        return out

    monkeypatch.setattr(cache, "process_files", spy)
    result = ingest.run(config(data, workers=1), tmp_path / "out", verbose=False)
    assert len(held) == 8 and all(r.resized is None and r.spill_row >= 0 for r in held)
    assert np.load(result.cache_paths[SIZE]).shape == (8, SIZE, SIZE)
    assert not list((tmp_path / "out").rglob(".spill-*"))  # the spill is removed
    assert not list((tmp_path / "out").rglob(".resume*"))  # and so are the rows kept for a rerun
    assert not list((tmp_path / "out").rglob(cache.INGEST_LOCK))  # and the lock file, removed while held


def test_grey_rows_take_no_colour_room_in_the_spill(tmp_path: Path) -> None:
    grey = {16: np.full((16, 16), 7, np.uint8)}
    with cache.RowSpill(tmp_path) as spill:
        for _ in range(5):
            spill.put(grey)
        spill._files[16].flush()
        assert spill.path(16).stat().st_size == 5 * 16 * 16  # not 3x: no holes on any file system
        np.testing.assert_array_equal(spill.get(4, 16), grey[16])


def test_an_output_that_cannot_be_written_is_an_ingest_error_not_a_traceback(tmp_path: Path) -> None:
    from data_prep.validate import IngestError

    data = make_plain(tmp_path / "d", {f"{i:03d}.png": i % 3 for i in range(1, 9)})
    blocked = tmp_path / "out"  # its cache/ is a file: the spill cannot be made (--out itself
    blocked.mkdir()             # being a file is said before any image is read: test_ingest)
    (blocked / "cache").write_text("not a folder")
    with pytest.raises(IngestError, match="cannot write the ingest output"):
        ingest.run(config(data, workers=1), blocked, verbose=False)


def test_stale_temporaries_of_dead_processes_go_and_windows_never_signals(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (tmp_path / f".x.npy.tmp-{dead.stdout.strip()}").write_bytes(b"a")
        (tmp_path / f".y.npy.tmp-{live.pid}").write_bytes(b"b")
        removed = cache.remove_stale_temporaries(tmp_path)
        assert [p.name for p in removed] == [f".x.npy.tmp-{dead.stdout.strip()}"]
        assert (tmp_path / f".y.npy.tmp-{live.pid}").is_file()  # its writer still runs
    finally:
        live.kill()
        live.wait()

    # on Windows os.kill(pid, 0) sends CTRL_C_EVENT: the check must look the process up instead
    def no_signals(pid: int, sig: int) -> None:
        raise AssertionError("os.kill called on Windows")

    asked: list[int] = []
    monkeypatch.setattr(cache.os, "kill", no_signals)
    monkeypatch.setattr(drac_io, "_windows_pid_alive", lambda pid: asked.append(pid) or True)
    assert drac_io.temporary_pid_alive(tmp_path / ".z.npy.tmp-4242", platform="nt") and asked == [4242]


def test_an_array_of_a_size_no_longer_asked_for_is_removed_and_never_read_as_current(tmp_path: Path) -> None:
    """A review: an ingest with sizes 32 and 48, the data fixed (one image renamed, so the
    manifest order moved), then an ingest with 48 alone left 32px.npy behind; the preflight
    listed 32 as cached and ``load_octa_cache(data, 32)`` served every manifest row another
    image's pixels. The ingest now removes arrays of sizes it was not asked for, and the
    reader refuses an array the last ingest did not write."""
    from drac_ssl.datasets import DatasetFormatError, load_octa_cache

    data = make_plain(tmp_path / "d", {"a.png": 0, "b.png": 1, "c.png": 0, "d.png": 1})
    out = tmp_path / "out"
    ingest.run(config(data, cache_sizes=[SIZE, 2 * SIZE]), out, verbose=False)
    assert (out / "cache" / f"{SIZE}px.npy").is_file()
    (data / "a.png").rename(data / "z.png")
    (data / "labels.csv").write_text("image name,DR grade\nz.png,0\nb.png,1\nc.png,0\nd.png,1\n")
    ingest.run(config(data, cache_sizes=[2 * SIZE]), out, verbose=False)
    assert sorted(p.name for p in (out / "cache").glob("*px.npy")) == [f"{2 * SIZE}px.npy"]
    (out / "cache" / f".held-{3 * SIZE}px.npy").write_bytes(b"")  # a killed rerun's held array: no size
    with pytest.raises(FileNotFoundError, match=rf"available sizes: {2 * SIZE}px.npy\)"):
        load_octa_cache(out, SIZE)
    images, rows = load_octa_cache(out, 2 * SIZE)
    assert [r["id"] for r in rows] == ["b.png", "c.png", "d.png", "z.png"] and len(images) == 4
    # an array left there by hand, or by an ingest before this fix: refused, with the fix
    np.save(out / "cache" / f"{SIZE}px.npy", np.zeros((4, SIZE, SIZE), np.uint8))
    with pytest.raises(DatasetFormatError, match=r"not one of the sizes the last ingest wrote.*rerun the ingest"):
        load_octa_cache(out, SIZE)
    from drac_ssl import preflight
    from drac_ssl.config import Config

    facts = preflight._facts_from_ingest(preflight._Findings(Config(), None), Config(), out)
    assert facts is not None and facts.cache_sizes == [2 * SIZE]  # the leftover is not offered


def test_16_bit_images_of_one_set_scaled_from_different_bit_depths_are_warned_of(tmp_path: Path) -> None:
    """A review: without an sBIT chunk each 16-bit image's bit depth is guessed from its own
    maximum, so one pixel above 4095 in a 12-bit export made that scan read as 14-bit data,
    4x darker than its neighbours. The ingest now says when the images of one set were
    scaled from different depths, naming how many of each and the fix."""
    import cv2
    from test_ingest import smooth_image, write_csv

    data = tmp_path / "d"
    data.mkdir()
    for i in range(4):
        image = smooth_image(i, 64).astype(np.uint16) * 16  # a 12-bit export: max <= 4080
        if i == 3:
            image[0, 0] = 4100  # one hot pixel: read as 14-bit data
        assert cv2.imwrite(str(data / f"{i}.png"), image)
    write_csv(data / "labels.csv", ["image name", "DR grade"], [[f"{i}.png", i % 2] for i in range(4)])
    result = ingest.run(config(data), tmp_path / "out", verbose=False)
    (mixed,) = [w for w in result.warnings if "scaled from different bit depths" in w]
    assert "3 files are 16-bit grey read as 12-bit data, scaled by value >> 4" in mixed, mixed
    assert "1 file is 16-bit grey read as 14-bit data, scaled by value >> 6" in mixed, mixed
    assert "3.png" in mixed and "guessed from its own maximum" in mixed
    assert "sBIT" in mixed  # the fix
    # the per-file conversions are said by that one line, not once per file
    assert not [w for w in result.warnings if "16-bit image (values" in w], result.warnings
    same = tmp_path / "same"
    same.mkdir()
    for i in range(3):
        assert cv2.imwrite(str(same / f"{i}.png"), smooth_image(i, 64).astype(np.uint16) * 16)
    write_csv(same / "labels.csv", ["image name", "DR grade"], [[f"{i}.png", i % 2] for i in range(3)])
    again = ingest.run(config(same), tmp_path / "out2", verbose=False)
    assert not [w for w in again.warnings if "different bit depths" in w]


def test_the_bit_depth_warning_gives_each_groups_brightness_once_converted(tmp_path: Path) -> None:
    """A trial (an OCTA clinic): 'their brightness may not be comparable -> export every image
    alike' could not be acted on, nor judged. Each group now carries its images' mean grey level
    once converted to 0..255 (its mean and SD over the group), here the 8-bit scans near 128 and
    the 12-bit ones, half as bright once shifted by 4 bits, near 64; the advice stays."""
    import cv2
    from test_ingest import smooth_image, write_csv

    data = tmp_path / "d"
    data.mkdir()
    eight, twelve = [], []
    for i in range(5):
        image = smooth_image(i, 64)
        if i < 3:
            assert cv2.imwrite(str(data / f"{i}.png"), image)
            eight.append(image.mean())
        else:  # 12-bit data in 16-bit files: half the 8-bit scans' level once shifted by 4 bits
            assert cv2.imwrite(str(data / f"{i}.png"), (image // 2).astype(np.uint16) * 16)
            twelve.append((image // 2).mean())
    write_csv(data / "labels.csv", ["image name", "DR grade"], [[f"{i}.png", i % 2] for i in range(5)])
    result = ingest.run(config(data), tmp_path / "out", verbose=False)
    (mixed,) = [w for w in result.warnings if "scaled from different bit depths" in w]
    found = re.search(r"3 files are 8-bit grey, used as they are \(mean grey level (\d+), SD (\d+)\); "
                      r"2 files are 16-bit grey read as 12-bit data, scaled by value >> 4 \(mean grey "
                      r"level (\d+), SD (\d+)\)", mixed)
    assert found, mixed
    mean8, sd8, mean12, sd12 = (int(g) for g in found.groups())
    assert abs(mean8 - np.mean(eight)) <= 2 and abs(mean12 - np.mean(twelve)) <= 2, (mean8, mean12)
    assert abs(sd8 - np.std(eight, ddof=1)) <= 2 and abs(sd12 - np.std(twelve, ddof=1)) <= 2
    assert "each group's mean and SD over its images" in mixed
    assert mixed.split(" -> ", 1)[1].startswith("export every image alike")  # the advice is kept


def _two_depth_folder(data: Path) -> tuple[float, float]:
    """4 8-bit scans near grey level 125 and 3 12-bit scans (in 16-bit files) near 47 once
    shifted by 4 bits, with their label CSV; the two groups' true mean levels."""
    import cv2
    from test_ingest import smooth_image, write_csv

    data.mkdir()
    eight, twelve = [], []
    for i in range(7):
        texture = smooth_image(i, 64).astype(float) - 128
        if i < 4:
            image = np.clip(125 + texture * 0.2, 0, 255).astype(np.uint8)
            assert cv2.imwrite(str(data / f"{i}.png"), image)
            eight.append(image.mean())
        else:  # a maximum above 64 (1024 once x16): read as 12-bit data, scaled by >> 4
            image = np.clip(47 + texture * 0.3, 0, 255).astype(np.uint8)
            assert image.max() >= 64
            assert cv2.imwrite(str(data / f"{i}.png"), image.astype(np.uint16) * 16)
            twelve.append(image.mean())
    write_csv(data / "labels.csv", ["image name", "DR grade"], [[f"{i}.png", i % 2] for i in range(7)])
    return float(np.mean(eight)), float(np.mean(twelve))


LEVELS = re.compile(r"4 files are 8-bit grey, used as they are \(mean grey level (\d+), SD \d+\); "
                    r"3 files are 16-bit grey read as 12-bit data, scaled by value >> 4 \(mean grey "
                    r"level (\d+), SD \d+\)")


def test_the_bit_depth_levels_are_measured_before_the_crop_and_the_graham_filter(tmp_path: Path) -> None:
    """A review of the levels: they were measured on the cached rows, so with --fundus-crop
    --graham two groups at 125 and 47 both showed 128 (the filter centres every image on 128).
    They are measured when each file is decoded, before any crop or filter, and kept in the cache
    state: a rerun that reuses every file gives the same levels."""
    true8, true12 = _two_depth_folder(tmp_path / "d")
    out = tmp_path / "out"
    cfg = config(tmp_path / "d", fundus_crop=True, graham=True)
    result = ingest.run(cfg, out, verbose=False)
    (mixed,) = [w for w in result.warnings if "scaled from different bit depths" in w]
    found = LEVELS.search(mixed)
    assert found, mixed
    level8, level12 = (int(g) for g in found.groups())
    assert abs(level8 - true8) <= 1 and abs(level12 - true12) <= 1, (level8, level12, true8, true12)
    assert "before any crop or filter" in mixed

    again = ingest.run(cfg, out, verbose=False)
    assert again.n_reused == 7
    (mixed_again,) = [w for w in again.warnings if "scaled from different bit depths" in w]
    assert LEVELS.search(mixed_again).groups() == found.groups()  # type: ignore[union-attr]


def test_levels_not_measured_by_an_older_cache_are_left_out_under_a_filter(tmp_path: Path) -> None:
    """A cache written before the levels were recorded reuses its files without them: with the
    Graham filter its rows cannot give them, so the warning leaves the levels out and says why;
    without a filter the cached rows give them as before."""
    import json

    true8, true12 = _two_depth_folder(tmp_path / "d")
    for options, filtered in (({"graham": True}, True), ({}, False)):
        out = tmp_path / f"out_{filtered}"
        cfg = config(tmp_path / "d", **options)
        ingest.run(cfg, out, verbose=False)
        state_file = next(out.rglob(cache.STATE_NAME))
        state = json.loads(state_file.read_text())
        for entry in state["files"].values():
            del entry["grey_level"]  # as an earlier version wrote it
        state_file.write_text(json.dumps(state))
        result = ingest.run(cfg, out, verbose=False)
        assert result.n_reused == 7
        (mixed,) = [w for w in result.warnings if "scaled from different bit depths" in w]
        if filtered:
            assert not LEVELS.search(mixed) and "mean grey level" not in mixed, mixed
            assert ("the groups' grey levels are not given: the cache of an earlier ingest holds 7 "
                    "images only as filtered (--fundus-crop / --graham) rows") in mixed, mixed
        else:
            found = LEVELS.search(mixed)
            assert found, mixed
            assert abs(int(found.group(1)) - true8) <= 2 and abs(int(found.group(2)) - true12) <= 2


def test_few_files_are_decoded_in_this_process_unless_workers_are_asked_for(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A trial: with workers=0 (every core) a 60-image ingest spent seconds starting a process
    pool; under POOL_MIN_FILES files the default decodes them in this process, while an
    explicit worker count still gets its pool."""
    from test_ingest import smooth_image, write_png

    tasks = [cache.FileTask(str(write_png(tmp_path / f"{i}.png", smooth_image(i, 32))), f"{i}.png", (16,))
             for i in range(3)]
    started: list[int] = []

    def no_pool(n: int, **_: object) -> None:
        started.append(n)
        raise cache.BrokenProcessPool("not started in this test")

    monkeypatch.setattr(cache, "spawn_pool", no_pool)
    monkeypatch.setattr(cache, "resolve_workers", lambda workers: workers or 2)
    assert [r.rel for r in cache.process_files(tasks, 0)] == ["0.png", "1.png", "2.png"]
    assert started == []
    cache.process_files(tasks, 2)  # asked for: the pool is tried (here it fails and falls back)
    assert started == [2]
