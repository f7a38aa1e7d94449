"""A second review's reproductions of the resumable ingest's faults (each failed on the branch
at 031d5454): a kept row found damaged, for a file only touched since (chmod, cp -p), left the
image without rows, so the finished cache's last row was written in its place (F1); an
ingest killed between its manifest and its summary left an --out refused as not empty (F2);
the same data root through a symlink was "another data root" (F3); a lock file removed under
a second ingest was a full disk (F4)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from test_ingest import SIZE, config, make_plain, smooth_image, write_png

from data_prep import cache, ingest
from data_prep.validate import IngestError


def _damage_row(out: Path, rel: str) -> None:
    """Overwrite 50 bytes of ``rel``'s kept row (as a bad sector or a stray write would)."""
    folder = out / ingest.CACHE_DIR
    lines = [json.loads(x) for x in (folder / cache.RESUME_JOURNAL).read_bytes().splitlines()[1:]]
    at = next(line["at"][str(SIZE)] for line in lines if line["rel"] == rel)
    with open(folder / f".resume-{SIZE}px.rows", "r+b") as fh:
        fh.seek(at + 10)
        fh.write(b"\x00" * 50)


@pytest.mark.parametrize("finished_first", [True, False])
@pytest.mark.parametrize("unchecked", [False, True])
def test_F1_a_damaged_kept_row_of_a_touched_file_is_decoded_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, finished_first: bool, unchecked: bool) -> None:
    """``unchecked``: the kept sha256 handed to the worker without reading its rows back (as
    at 031d5454), so the second guard, decoding a file whose rows no one has, is what saves it."""
    data = make_plain(tmp_path / "d", {f"{i:03d}.png": i % 3 for i in range(1, 7)})
    out, cfg = tmp_path / "out", config(data)
    if finished_first:
        ingest.run(cfg, out, verbose=False)
    write_png(data / "003.png", 255 - smooth_image(2))  # changed since the finished cache
    bad = data / "005.png"
    good, st = bad.read_bytes(), bad.stat()
    bad.write_bytes(b"junk")
    with pytest.raises(IngestError, match="decoded and kept"):
        ingest.run(cfg, out, verbose=False)  # stopped by the bad file, 003.png's new rows kept
    bad.write_bytes(good)  # restored (cp -p)
    os.utime(bad, ns=(st.st_atime_ns, st.st_mtime_ns))
    _damage_row(out, "003.png")
    os.chmod(data / "003.png", 0o600)  # its ctime changes, not its content
    if unchecked:
        monkeypatch.setattr(cache.RowSpill, "kept_sha256",
                            lambda self, rel: self._lines[rel]["record"]["sha256"] if rel in self._lines else "")
    recovered = ingest.run(cfg, out, verbose=False)  # was: 005's row as 003's, or a KeyError
    fresh = ingest.run(cfg, tmp_path / "fresh", verbose=False)
    np.testing.assert_array_equal(np.load(recovered.cache_paths[SIZE]), np.load(fresh.cache_paths[SIZE]))


def test_F1_a_record_without_rows_is_a_bug_not_the_last_row() -> None:
    previous = cache.CacheState(arrays={SIZE: np.zeros((3, SIZE, SIZE), np.uint8)})
    with pytest.raises(RuntimeError, match="no rows"):
        cache._row_of(cache.FileRecord("a.png", sha256="x"), SIZE, previous, None)


def killed_before_summary(cfg: object, out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the ingest of ``cfg`` into ``out`` and kill it (KeyboardInterrupt) after its
    manifest, as it writes its summary."""
    real = ingest.atomic_write_json

    def killed(path: Path, *args: object, **kwargs: object) -> object:
        if Path(path).name == ingest.SUMMARY_NAME:
            raise KeyboardInterrupt
        return real(path, *args, **kwargs)

    monkeypatch.setattr(ingest, "atomic_write_json", killed)
    with pytest.raises(KeyboardInterrupt):
        ingest.run(cfg, out, verbose=False)  # type: ignore[arg-type]
    monkeypatch.undo()


@pytest.mark.parametrize("rerun", [False, True])
def test_F2_an_ingest_killed_between_manifest_and_summary_is_not_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rerun: bool) -> None:
    """A kill after the manifest, before the summary: the first ingest's cache keeps its rows'
    journal, a rerun's its held state; either records the root."""
    data = make_plain(tmp_path / "d", {f"{i:03d}.png": i % 3 for i in range(1, 5)})
    out, cfg = tmp_path / "out", config(data)
    if rerun:
        ingest.run(cfg, out, verbose=False)
        write_png(data / "002.png", 255 - smooth_image(1))
    killed_before_summary(cfg, out, monkeypatch)
    assert (out / ingest.MANIFEST_NAME).is_file() and not (out / ingest.SUMMARY_NAME).exists()
    assert ingest.out_in_use(cfg, out) == ""  # was: "exists and is not empty"
    other = make_plain(tmp_path / "d2", {"a.png": 1}, seed=50)
    assert "another data root" in ingest.out_in_use(config(other), out)
    ingest.run(cfg, out, verbose=False)
    assert (out / ingest.SUMMARY_NAME).is_file()


def test_F3_the_same_root_through_a_symlink_keeps_its_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = make_plain(tmp_path / "d", {f"{i:03d}.png": i % 3 for i in range(1, 6)})
    link = tmp_path / "link"
    link.symlink_to(data, target_is_directory=True)
    out = tmp_path / "out"
    bad = data / "004.png"
    good = bad.read_bytes()
    bad.write_bytes(b"junk")
    with pytest.raises(IngestError, match="decoded and kept"):
        ingest.run(config(link), out, verbose=False)
    bad.write_bytes(good)
    decoded: list[str] = []
    real = cache.process_file
    monkeypatch.setattr(cache, "process_file", lambda task: decoded.append(task.rel) or real(task))
    ingest.run(config(data), out, verbose=False)  # was: refused, "another data root"
    assert decoded == ["004.png"]
    decoded.clear()
    ingest.run(config(link), out, verbose=False)  # and the finished cache is reused through the link
    assert decoded == []


def test_F4_a_lock_file_removed_with_its_folder_meanwhile_is_taken_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The second ingest opened the lock file; the first, ending, removed it and the cache
    folder it had made; the second's lock is on the removed file, and the file it opens again
    has no folder (was: FileNotFoundError, said as "check free disk space")."""
    import builtins
    import shutil

    folder = tmp_path / "out" / "cache"
    folder.mkdir(parents=True)
    (folder / cache.INGEST_LOCK).touch()
    real, opened = builtins.open, []

    def racing(path: object, *args: object, **kwargs: object) -> object:
        fh = real(path, *args, **kwargs)
        if Path(str(path)).name == cache.INGEST_LOCK and not opened:
            opened.append(path)
            shutil.rmtree(folder)  # the first ingest ends: its lock file and empty folder go
        return fh

    monkeypatch.setattr(builtins, "open", racing)
    spill = cache.RowSpill(folder)
    spill.resume(cache.resume_key(tmp_path, [SIZE], cache.CacheOptions()))
    monkeypatch.undo()
    assert opened and (folder / cache.INGEST_LOCK).is_file() and spill._lock is not None
    spill.close()
