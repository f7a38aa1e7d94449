"""A review's reproductions of the resumable ingest's faults (each failed on the branch at
334bc0e5): a refused second ingest removed the first one's kept rows (F1) or, with other
options, ran beside it (F1b); a file system without flock was called another ingest (F2); a
rerun after a run killed while writing its arrays kept that run's half-written rows (F3)."""

from __future__ import annotations

import errno
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from test_ingest import SIZE, config, make_plain, smooth_image, write_png

from data_prep import cache, ingest
from data_prep.validate import IngestError


def test_F1_refused_second_ingest_leaves_the_first_ones_kept_rows(tmp_path: Path) -> None:
    key = cache.resume_key(tmp_path, [SIZE], cache.CacheOptions())
    first = cache.RowSpill(tmp_path / "cache")
    first.resume(key)
    with pytest.raises(IngestError, match="another ingest is writing"), \
            cache.RowSpill(tmp_path / "cache") as second:  # as run() uses it
        second.resume(key)
    assert (tmp_path / "cache" / cache.RESUME_JOURNAL).exists()  # was deleted under the running ingest
    assert (tmp_path / "cache" / cache.INGEST_LOCK).exists()
    first.close()
    assert not (tmp_path / "cache").exists()  # the holder, with nothing kept, leaves nothing (nor its folder)


def test_F1b_other_options_do_not_take_the_lock_from_a_running_ingest(tmp_path: Path) -> None:
    first = cache.RowSpill(tmp_path / "cache")
    first.resume(cache.resume_key(tmp_path, [SIZE], cache.CacheOptions()))
    with pytest.raises(IngestError, match="another ingest is writing"), \
            cache.RowSpill(tmp_path / "cache") as second:  # was: no refusal
        second.resume(cache.resume_key(tmp_path, [SIZE * 2], cache.CacheOptions()))
    assert (tmp_path / "cache" / cache.RESUME_JOURNAL).exists()
    first.close()


def test_F2_a_filesystem_without_locks_is_not_another_ingest(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import fcntl

    def nolock(fd: int, op: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", nolock)
    data = make_plain(tmp_path / "d", {f"{i:03d}.png": i % 3 for i in range(1, 5)})
    result = ingest.run(config(data), tmp_path / "out", verbose=False)  # was: "another ingest is writing"
    assert any("no lock could be taken (No locks available" in n for n in result.notes), result.notes
    assert not list((tmp_path / "out" / "cache").glob(".[ir]*"))  # no lock file, no kept rows left


def test_F3_reverted_files_after_a_kill_mid_write_get_their_own_rows(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = make_plain(tmp_path / "d", {f"{i:03d}.png": i % 3 for i in range(1, 7)})
    out, cfg = tmp_path / "out", config(data, cache_sizes=[32, SIZE])
    ingest.run(cfg, out, verbose=False)
    good, st = (data / "002.png").read_bytes(), (data / "002.png").stat()
    write_png(data / "002.png", 255 - smooth_image(1))
    real, calls = np.lib.format.write_array_header_1_0, Counter()

    def crash(fh: object, header: object) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("killed while writing the second array")
        real(fh, header)

    monkeypatch.setattr(np.lib.format, "write_array_header_1_0", crash)
    with pytest.raises(RuntimeError):
        ingest.run(cfg, out, verbose=False)
    monkeypatch.undo()
    (data / "002.png").write_bytes(good)  # the change is undone (restored from backup, cp -p)
    os.utime(data / "002.png", ns=(st.st_atime_ns, st.st_mtime_ns))
    recovered = ingest.run(cfg, out, verbose=False)
    fresh = ingest.run(cfg, tmp_path / "fresh", verbose=False)
    for size in (32, SIZE):  # was: at 32, 002.png's row was the killed run's (the changed image)
        np.testing.assert_array_equal(np.load(recovered.cache_paths[size]), np.load(fresh.cache_paths[size]))
