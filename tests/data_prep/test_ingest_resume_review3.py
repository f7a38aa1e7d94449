"""A third review's reproductions of the resumable ingest's faults (each failed on the branch
at d2862819): any JSON ``{"root": ...}`` in ``cache/state.json`` made an ``--out`` holding a
user's manifest.csv and notes "the same data's ingest", replaced (F1); a finished cache's root
was compared by resolving its recorded path now, so a symlink re-pointed to other data reused
the old data's rows (F2); a kept row's journal record (the file's sha256, size, issues) was not
covered by its SHA-256 (F3)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from test_ingest import SIZE, config, make_plain, smooth_image
from test_ingest_resume_review2 import killed_before_summary

from data_prep import cache, ingest
from data_prep.validate import IngestError


@pytest.mark.parametrize("record", ["bare", "state of another version", "journal of other keys"])
def test_F1_a_hand_made_cache_record_does_not_make_a_users_folder_an_ingest(tmp_path: Path, record: str) -> None:
    data = make_plain(tmp_path / "d", {"a.png": 1, "b.png": 2})
    out = tmp_path / "P"
    (out / "cache").mkdir(parents=True)
    if record == "journal of other keys":
        (out / "cache" / cache.RESUME_JOURNAL).write_text(json.dumps({"root": str(data), "x": 1}) + "\n")
    else:
        extra = {"version": cache.STATE_VERSION - 1} if record != "bare" else {}
        (out / "cache" / cache.STATE_NAME).write_text(json.dumps({"root": str(data), **extra}))
    (out / "manifest.csv").write_text("mine\n")
    (out / "notes.txt").write_text("notes\n")
    why = ingest.out_in_use(config(data), out)
    assert "not empty" in why and "manifest.csv" in why  # was: '' (written, the manifest replaced)


def test_F1_a_real_record_needs_the_ingests_files_beside_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real killed ingest's folder is still written again (review 2 F2); the same cache
    beside a user's own file, or a manifest.csv not the ingest's, is refused."""
    data = make_plain(tmp_path / "d", {f"{i:03d}.png": i % 3 for i in range(1, 5)})
    out, cfg = tmp_path / "out", config(data)
    killed_before_summary(cfg, out, monkeypatch)
    assert cache.recorded_root(out / ingest.CACHE_DIR) is not None
    assert ingest.out_in_use(cfg, out) == ""
    (out / ".DS_Store").write_bytes(b"")  # a desktop's file changes nothing
    assert ingest.out_in_use(cfg, out) == ""
    (out / "notes.txt").write_text("notes\n")
    assert "not empty" in ingest.out_in_use(cfg, out)
    (out / "notes.txt").unlink()
    manifest = (out / ingest.MANIFEST_NAME).read_text()
    (out / ingest.MANIFEST_NAME).write_text("mine\n" + manifest)
    assert "not empty" in ingest.out_in_use(cfg, out)
    (out / ingest.MANIFEST_NAME).write_text(manifest)
    ingest.run(cfg, out, verbose=False)
    assert (out / ingest.SUMMARY_NAME).is_file()


def _same_sized_other_data(a: Path, b: Path) -> None:
    """``b``: ``a``'s files, names, byte counts and times, but other pixels in one image."""
    shutil.copytree(a, b)
    name = "002.png"
    before = (b / name).stat()
    assert cv2.imwrite(str(b / name), 255 - cv2.imread(str(a / name), cv2.IMREAD_UNCHANGED),
                       [cv2.IMWRITE_PNG_COMPRESSION, 0])
    assert (b / name).stat().st_size == before.st_size
    os.utime(b / name, ns=(before.st_atime_ns, before.st_mtime_ns))


@pytest.mark.parametrize("rerun_root", ["B", "link"])
def test_F2_a_symlink_repointed_to_other_data_is_another_root(tmp_path: Path, rerun_root: str) -> None:
    a = tmp_path / "A"
    a.mkdir()
    for i in range(1, 4):  # stored (uncompressed) PNGs: the byte count follows the image size only
        assert cv2.imwrite(str(a / f"{i:03d}.png"), smooth_image(i), [cv2.IMWRITE_PNG_COMPRESSION, 0])
    (a / "labels.csv").write_text("image name,DR grade\n001.png,0\n002.png,1\n003.png,2\n")
    b = tmp_path / "B"
    _same_sized_other_data(a, b)
    link = tmp_path / "L"
    link.symlink_to(a, target_is_directory=True)
    out = tmp_path / "O"
    ingest.run(config(link), out, verbose=False)
    state = json.loads((out / "cache" / cache.STATE_NAME).read_text())
    assert state["root_realpath"] == os.path.realpath(a)
    link.unlink()
    link.symlink_to(b, target_is_directory=True)
    root = b if rerun_root == "B" else link
    again = ingest.run(config(root), out, verbose=False)
    fresh = ingest.run(config(b), tmp_path / "fresh", verbose=False)
    # was: A's rows for B's 002.png (same name, size and time)
    np.testing.assert_array_equal(np.load(again.cache_paths[SIZE]), np.load(fresh.cache_paths[SIZE]))


def test_F2_an_older_state_without_its_real_path_compares_the_string(tmp_path: Path) -> None:
    data = make_plain(tmp_path / "d", {"a.png": 1, "b.png": 2})
    out = tmp_path / "out"
    ingest.run(config(data), out, verbose=False)
    state_path = out / "cache" / cache.STATE_NAME
    state = json.loads(state_path.read_text())
    del state["root_realpath"]
    state_path.write_text(json.dumps(state))
    link = tmp_path / "link"
    link.symlink_to(data, target_is_directory=True)
    assert "built from" not in cache.load_state(out / "cache", Path(state["root"]), [SIZE]).reason
    assert "built from" in cache.load_state(out / "cache", link, [SIZE]).reason  # never resolved now


@pytest.mark.parametrize("field", ["sha256", "size", "issues"])
def test_F3_a_damaged_journal_record_is_decoded_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, field: str) -> None:
    data = make_plain(tmp_path / "d", {f"{i:03d}.png": i % 3 for i in range(1, 6)})
    out, cfg = tmp_path / "out", config(data)
    bad = data / "004.png"
    good, st = bad.read_bytes(), bad.stat()
    bad.write_bytes(b"junk")
    with pytest.raises(IngestError, match="decoded and kept"):
        ingest.run(cfg, out, verbose=False)
    bad.write_bytes(good)
    os.utime(bad, ns=(st.st_atime_ns, st.st_mtime_ns))
    journal = out / "cache" / cache.RESUME_JOURNAL
    lines = journal.read_bytes().splitlines()
    for i, raw in enumerate(lines[1:], 1):
        line = json.loads(raw)
        if line["rel"] == "002.png":
            line["record"][field] = {"sha256": "0" * 64, "size": line["record"]["size"] + 1,
                                     "issues": [["warning", "made-up", "a stray write"]]}[field]
            lines[i] = json.dumps(line).encode()
    journal.write_bytes(b"\n".join(lines) + b"\n")
    decoded: list[str] = []
    real = cache.process_file
    monkeypatch.setattr(cache, "process_file", lambda task: decoded.append(task.rel) or real(task))
    again = ingest.run(cfg, out, verbose=False)
    assert "002.png" in decoded  # was: its damaged record taken as kept
    fresh = ingest.run(cfg, tmp_path / "fresh", verbose=False)
    assert (out / ingest.MANIFEST_NAME).read_text() == (tmp_path / "fresh" / ingest.MANIFEST_NAME).read_text()
    np.testing.assert_array_equal(np.load(again.cache_paths[SIZE]), np.load(fresh.cache_paths[SIZE]))
    assert [(p.path, p.kind) for p in again.findings] == [(p.path, p.kind) for p in fresh.findings]


def test_F3_the_line_hash_covers_the_record() -> None:
    entry = cache.FileRecord("a.png", sha256="1" * 64, size=3).state_entry(-1)
    changed = dict(entry, sha256="0" * 64)
    assert cache._kept_digest(entry).hexdigest() != cache._kept_digest(changed).hexdigest()
    assert cache._kept_digest(entry).hexdigest() == cache._kept_digest(json.loads(json.dumps(entry))).hexdigest()


@pytest.mark.parametrize("twins", [False, True])
def test_a_killed_site_column_ingest_is_continued_by_its_rerun(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              twins: bool) -> None:
    """A final read: the killed ingest's manifest.csv was accepted with or without
    ``,fold_group`` but never ``,site``, so a killed ``--site-column`` ingest's rerun was refused
    "not empty". Now the four headers of :func:`data_prep.ingest.manifest_header` are."""
    from test_site_column import _pooled

    data = _pooled(tmp_path / "pooled", n=6)
    out = tmp_path / "out"
    cfg = ingest.DataConfig(root=str(data), cache_sizes=[SIZE], n_folds=2, workers=1, site_column="Site",
                            **({"near_duplicate_mse": 1e-9} if twins else {}))
    killed_before_summary(cfg, out, monkeypatch)
    first = (out / ingest.MANIFEST_NAME).read_text().splitlines()[0]
    assert first == ",".join(ingest.manifest_header(twins, True)) and first.endswith(",site")
    assert ingest.out_in_use(cfg, out) == ""  # was: "not empty"
    ingest.run(cfg, out, verbose=False)
    assert (out / ingest.SUMMARY_NAME).is_file()
