"""A finished ingest's output changed after the fact (a reliability review, F2, F3, F6): the
cache's pixels overwritten (training ran on black images without a word), a truncated cache
(a raw mmap error, no fix), a hand-edited manifest (a duplicate id, a grade outside 0..K-1, a
row naming another file) read as if the ingest wrote it. Each is refused, naming the file,
with a fix that works where the ingest counts as done."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from png_bytes import walk_scan

from data_prep import ingest
from data_prep.layout import (
    GROUNDTRUTH_DIR,
    IDRID_DIR,
    IDRID_LABELS_CSV_NAME,
    IMAGES_DIR,
    TEST_DIR,
    TRAIN_DIR,
)
from drac_ssl import preflight
from drac_ssl.config import DataConfig
from drac_ssl.datasets import (
    DatasetFormatError,
    cache_array_change,
    check_cache_array,
    load_octa_cache,
)
from drac_ssl.export import manifest_test_cases
from drac_ssl.manifest import ManifestError, manifest_change, read_manifest

SIZE = 32


def _ingest(tmp_path: Path) -> tuple[Path, DataConfig]:
    """A real ingest of 12 grey 48 px scans on DRAC's 3 grades, cached at 32 px."""
    root = tmp_path / "src"
    root.mkdir()
    with open(root / "labels.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["image name", "DR grade"])
        for i in range(12):
            cv2.imwrite(str(root / f"{i:03d}.png"), walk_scan(48, seed=i))
            writer.writerow([f"{i:03d}.png", i % 3])
    cfg = DataConfig(root=str(root), n_folds=2, cache_sizes=[SIZE], workers=1)
    data = tmp_path / "run" / "data"
    ingest.run(cfg, data, verbose=False)
    return data, cfg


def _zero_pixels(array: Path) -> None:
    """The review's edit: the array's pixels overwritten in place (same size, new mtime)."""
    pixels = np.load(array, mmap_mode="r+")
    pixels[:] = 0
    pixels.flush()
    del pixels


def test_overwritten_pixels_are_refused_and_the_ingest_command_again_mends_them(tmp_path: Path) -> None:
    data, cfg = _ingest(tmp_path)
    array = data / "cache" / f"{SIZE}px.npy"
    before = np.array(load_octa_cache(data, SIZE)[0])
    assert cache_array_change(data, SIZE) is None and before.any()
    _zero_pixels(array)
    assert "its content changed: its SHA-256" in (cache_array_change(data, SIZE) or "")
    with pytest.raises(DatasetFormatError) as refused:
        load_octa_cache(data, SIZE)
    said = str(refused.value)
    assert said.startswith(f"{array}: not the array the ingest wrote (cache/state.json records")
    assert f"fix: run the python -m data_prep ingest command that made {data} again" in said
    # the fix said works: the same ingest again decodes the images, and the cache loads as before
    ingest.run(cfg, data, verbose=False)
    assert np.array_equal(np.array(load_octa_cache(data, SIZE)[0]), before)


def test_a_truncated_cache_says_so_with_a_fix_with_or_without_its_state(tmp_path: Path) -> None:
    data, _ = _ingest(tmp_path)
    array = data / "cache" / f"{SIZE}px.npy"
    with open(array, "r+b") as fh:
        fh.truncate(array.stat().st_size // 2)
    with pytest.raises(DatasetFormatError, match=r"not the \d+ the ingest wrote \(cut short.*\n  fix: run the "):
        load_octa_cache(data, SIZE)
    (data / "cache" / "state.json").unlink()  # nothing to compare with: numpy's error, with a fix
    with pytest.raises(DatasetFormatError) as refused:
        load_octa_cache(data, SIZE)
    assert "not a readable .npy array" in str(refused.value) and "\n  fix: run the python -m data_prep" in str(
        refused.value)


def test_the_ingest_records_its_manifest_and_an_edited_one_is_refused(tmp_path: Path) -> None:
    data, _ = _ingest(tmp_path)
    manifest = data / "manifest.csv"
    summary = json.loads((data / "ingest_summary.json").read_text())
    assert summary["manifest_sha256"] == hashlib.sha256(manifest.read_bytes()).hexdigest()
    assert manifest_change(data) is None
    lines = manifest.read_text().splitlines(keepends=True)
    lines[3] = lines[3].replace("002.png", "missing.png")  # a row naming a file the ingest never read
    manifest.write_text("".join(lines))
    assert (manifest_change(data) or "").startswith(f"{manifest}: changed since the ingest wrote it")
    with pytest.raises(DatasetFormatError, match="changed since the ingest wrote it"):
        load_octa_cache(data, SIZE)
    # an ingest made before the record: nothing said (the rows are still checked as read)
    del summary["manifest_sha256"]
    (data / "ingest_summary.json").write_text(json.dumps(summary))
    assert manifest_change(data) is None
    assert len(load_octa_cache(data, SIZE)[1]) == 12


def test_a_duplicate_id_and_a_grade_outside_the_scale_name_their_line(tmp_path: Path) -> None:
    data, _ = _ingest(tmp_path)
    manifest = data / "manifest.csv"
    lines = manifest.read_text().splitlines(keepends=True)
    manifest.write_text("".join([*lines, lines[3]]))  # 002.png again, as line 14
    with pytest.raises(ManifestError, match=rf"^{manifest}:14: id '002.png' of split 'train' is on line 4 too; .*\n  fix: "):
        read_manifest(manifest)
    header = lines[0].strip().split(",")
    row = lines[2].strip().split(",")
    row[header.index("grade")] = "7"
    manifest.write_text("".join([lines[0], lines[1], ",".join(row) + "\n", *lines[3:]]))
    read_manifest(manifest)  # K not given: not checked
    with pytest.raises(ManifestError, match=rf"^{manifest}:3: grade 7 is outside 0..2, the 3 grades"):
        read_manifest(manifest, num_grades=3)
    summary = json.loads((data / "ingest_summary.json").read_text())
    del summary["manifest_sha256"]  # an older run folder: the rows' own check still refuses it
    (data / "ingest_summary.json").write_text(json.dumps(summary))
    with pytest.raises(DatasetFormatError, match=r"manifest.csv:3: grade 7 is outside 0..2"):
        load_octa_cache(data, SIZE)


def test_a_resume_refuses_a_changed_ingest_output_with_a_new_run_folder(tmp_path: Path) -> None:
    data, cfg = _ingest(tmp_path)
    run_dir = data.parent
    (run_dir / "stages.json").write_text(json.dumps({"ingest": {"status": "done", "seconds": 1.0}}))
    _zero_pixels(data / "cache" / f"{SIZE}px.npy")
    manifest = data / "manifest.csv"
    manifest.write_text(manifest.read_text().replace("\n001.png,", "\n001.png ,", 1))
    config, sources, _ = preflight.read_config(None, [f"data.root={cfg.root}", "data.n_folds=2",
                                                     f"data.cache_sizes=[{SIZE}]", "pretrain.batch_size=4",
                                                     "umm.batch_size=4", f"run.out_dir={run_dir.parent}",
                                                     f"run.name={run_dir.name}"])
    errors = [f for f in preflight.check(config, run_dir, sources, stages=["pretrain"]) if f.severity == "error"]
    said = {f.what.split(" is not what it wrote")[0].split(" but ")[-1]: f for f in errors}
    assert set(said) == {str(manifest), str(data / "cache" / f"{SIZE}px.npy")}, [f.line for f in errors]
    for finding in said.values():
        assert finding.what.startswith(f"{run_dir / 'stages.json'} records the ingest stage as done")
        assert "run.name=run-2" in finding.fix  # a new run folder, where the ingest runs
    # where the ingest is not done in this folder (no stages.json), the edited manifest is said once
    (run_dir / "stages.json").unlink()
    lines = [f.line for f in preflight.check(config, run_dir, sources, stages=["pretrain"])
             if "changed since the ingest wrote it" in f.line]
    assert len(lines) == 1, lines


def test_an_idrid_ingest_whose_test_ids_restart_is_read_by_every_reader(tmp_path: Path) -> None:
    """IDRiD's official test names restart at IDRiD_001, so a training and a test row share an
    id (ids are unique per split): the ingest writes them, and the cache, the training labels,
    the preflight's label read and the export's test ids all read them (the review's F1: the
    id check refused every IDRiD ingest, with a fix that made the same manifest again)."""
    task = tmp_path / "IDRiD" / IDRID_DIR
    for folder in (TRAIN_DIR, TEST_DIR):
        (task / IMAGES_DIR / folder).mkdir(parents=True)
    (task / GROUNDTRUTH_DIR).mkdir(parents=True)
    with open(task / GROUNDTRUTH_DIR / IDRID_LABELS_CSV_NAME, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["Image name", "Retinopathy grade", "Risk of macular edema "])
        for i in range(10):
            colour = cv2.cvtColor(walk_scan(48, seed=i), cv2.COLOR_GRAY2BGR)
            cv2.imwrite(str(task / IMAGES_DIR / TRAIN_DIR / f"IDRiD_{i + 1:03d}.jpg"), colour)
            writer.writerow([f"IDRiD_{i + 1:03d}", i % 5, 0])
    for i in range(3):
        colour = cv2.cvtColor(walk_scan(48, seed=50 + i), cv2.COLOR_GRAY2BGR)
        cv2.imwrite(str(task / IMAGES_DIR / TEST_DIR / f"IDRiD_{i + 1:03d}.jpg"), colour)
    data = tmp_path / "run" / "data"
    ingest.run(DataConfig(root=str(tmp_path / "IDRiD"), n_folds=2, cache_sizes=[SIZE], workers=1),
               data, verbose=False)
    rows = read_manifest(data / "manifest.csv")
    shared = [r["split"] for r in rows if r["id"] == "IDRiD_001.jpg"]
    assert sorted(shared) == ["test", "train"]  # one id, two rows: unique per split only
    images, loaded = load_octa_cache(data, SIZE)
    assert len(loaded) == 13 and images.shape[0] == 13
    n, grades, _, train, n_test, _, _ = preflight._labels_from_manifest(data / "manifest.csv", 5)
    assert (n, n_test, len(train), sum(grades.values())) == (13, 3, 10, 10)
    assert manifest_test_cases(data)[0] == ["IDRiD_001.jpg", "IDRiD_002.jpg", "IDRiD_003.jpg"]
    # one id twice in one split is still refused, naming the split
    manifest = data / "manifest.csv"
    lines = manifest.read_text().splitlines(keepends=True)
    manifest.write_text("".join([*lines, lines[1]]))
    with pytest.raises(ManifestError, match=rf"^{manifest}:15: id 'IDRiD_001.jpg' of split 'train' is on line 2 too"):
        read_manifest(manifest)


def _copied_without_times(data: Path, tmp_path: Path, mtime_ns: int | None = None) -> Path:
    """The run's data folder copied as ``cp -r`` does (bytes, not times: shutil.copyfile), its
    arrays' times set to ``mtime_ns`` when given (e.g. whole seconds, as tar keeps them)."""
    copy = tmp_path / "copy" / "data"
    shutil.copytree(data, copy, copy_function=shutil.copyfile)
    if mtime_ns is not None:
        for array in (copy / "cache").glob("*px.npy"):
            os.utime(array, ns=(mtime_ns, mtime_ns))
    return copy


def test_an_array_copied_without_its_time_is_hashed_accepted_and_its_time_set_back(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The review's F2: cp -r, tar, zip, scp and copies to another file system keep the bytes
    but not the time; the exact time check refused every such copy, with a fix that reran every
    stage. The ingest records each array's SHA-256; a time-only change is hashed: the recorded
    digest is accepted (one note on stderr) and the time set back, so the next load is a stat."""
    data, _ = _ingest(tmp_path)
    array = data / "cache" / f"{SIZE}px.npy"
    state = json.loads((data / "cache" / "state.json").read_text())["arrays"][str(SIZE)]
    assert state["sha256"] == hashlib.sha256(array.read_bytes()).hexdigest()
    before = np.array(load_octa_cache(data, SIZE)[0])
    capsys.readouterr()
    copy = _copied_without_times(data, tmp_path)
    copied = copy / "cache" / f"{SIZE}px.npy"
    assert copied.stat().st_mtime_ns != state["mtime_ns"]
    assert np.array_equal(np.array(load_octa_cache(copy, SIZE)[0]), before)
    note = capsys.readouterr().err
    assert note.count("[data] note: ") == 1 and f"{copied}: its file time is" in note
    assert "its SHA-256 is the one the ingest recorded" in note and "tar or zip" in note and "scp" in note
    assert "its time is set back to the recorded one" in note
    assert copied.stat().st_mtime_ns == state["mtime_ns"]
    load_octa_cache(copy, SIZE)  # now a stat: nothing said
    assert capsys.readouterr().err == ""


def test_a_folder_that_keeps_no_time_gets_the_touch_command_and_whole_seconds_are_named(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data, _ = _ingest(tmp_path)
    recorded = json.loads((data / "cache" / "state.json").read_text())["arrays"][str(SIZE)]["mtime_ns"]
    whole = recorded // 10**9 * 10**9  # what GNU tar keeps
    copy = _copied_without_times(data, tmp_path, whole)
    copied = copy / "cache" / f"{SIZE}px.npy"

    def refused(*args: object, **kwargs: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    with monkeypatch.context() as patched:  # a folder the time cannot be set in
        patched.setattr(os, "utime", refused)
        checked = check_cache_array(copy, SIZE)
    assert checked.refusal is None and checked.note
    assert "the recorded time cut to whole seconds, .000000: a copy through tar or zip" in checked.note
    touch = f"touch -d @{recorded // 10**9}.{recorded % 10**9:09d} {copied}"
    assert f"each load hashes it again until its time is set back: {touch}" in checked.note
    assert copied.stat().st_mtime_ns == whole
    subprocess.run(touch, shell=True, check=True)  # the fix said works: nothing to say after it
    assert copied.stat().st_mtime_ns == recorded
    assert check_cache_array(copy, SIZE) == check_cache_array(data, SIZE) == type(checked)()


def test_an_older_ingest_without_digests_warns_of_a_changed_time_and_the_ingest_rerun_records_them(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, cfg = _ingest(tmp_path)
    state_path = data / "cache" / "state.json"
    state = json.loads(state_path.read_text())
    del state["arrays"][str(SIZE)]["sha256"]  # an ingest made before the record
    state_path.write_text(json.dumps(state))
    array = data / "cache" / f"{SIZE}px.npy"
    recorded = state["arrays"][str(SIZE)]["mtime_ns"]
    os.utime(array, ns=(recorded + 5 * 10**9, recorded + 5 * 10**9))
    capsys.readouterr()
    assert len(load_octa_cache(data, SIZE)[1]) == 12  # warned, not refused
    note = capsys.readouterr().err
    assert "recorded no SHA-256 of its arrays" in note and "touch -d @" in note
    with open(array, "r+b") as fh:  # the byte count is still checked: a cut array is refused
        fh.truncate(array.stat().st_size - 1)
    with pytest.raises(DatasetFormatError, match="cut short"):
        load_octa_cache(data, SIZE)
    # the ingest again (its arrays rebuilt: their time is not the state's, nothing to compare)
    # records the digests, and a later copy without times is accepted on them
    ingest.run(cfg, data, verbose=False)
    rerun = json.loads(state_path.read_text())["arrays"][str(SIZE)]
    assert rerun["sha256"] == hashlib.sha256(array.read_bytes()).hexdigest()


def test_the_ingest_keeps_a_copied_cache_whose_digest_matches(tmp_path: Path) -> None:
    """The standalone ingest's own rerun on a copy without times keeps its arrays (their digest
    is the recorded one) instead of decoding every image again; an array rewritten in place
    with the same byte count is rebuilt."""
    data, cfg = _ingest(tmp_path)
    before = np.array(load_octa_cache(data, SIZE)[0])
    copy = _copied_without_times(data, tmp_path)
    array = copy / "cache" / f"{SIZE}px.npy"
    kept = ingest.run(cfg, copy, verbose=False)
    assert not [n for n in kept.notes if "rebuilding" in n], kept.notes
    recorded = json.loads((copy / "cache" / "state.json").read_text())["arrays"][str(SIZE)]
    assert array.stat().st_mtime_ns == recorded["mtime_ns"]  # its time set back: the stamps agree
    _zero_pixels(array)
    rebuilt = ingest.run(cfg, copy, verbose=False)
    assert [n for n in rebuilt.notes if "does not match the cache state -> rebuilding it" in n], rebuilt.notes
    assert np.array_equal(np.array(load_octa_cache(copy, SIZE)[0]), before)


def test_the_one_content_rule_hashes_and_sets_the_time_back_only_for_the_recorded_bytes(tmp_path: Path) -> None:
    """drac_ssl.io.recorded_content, the ingest's reuse of a copied array and the stages' reader
    alike (a second read: data_prep.cache and drac_ssl.datasets each had their own copy)."""
    from drac_ssl.io import recorded_content

    path = tmp_path / "a.npy"
    path.write_bytes(b"pixels")
    sha = hashlib.sha256(b"pixels").hexdigest()
    recorded_ns = 1_700_000_000_123_456_789
    assert recorded_content(path, 5, sha, recorded_ns) == ("", False)  # another byte count: not read
    assert path.stat().st_mtime_ns != recorded_ns
    assert recorded_content(path, 6, "0" * 64, recorded_ns) == (sha, False)  # another digest: time kept
    assert path.stat().st_mtime_ns != recorded_ns
    assert recorded_content(path, 6, sha, recorded_ns, restore_time=False) == (sha, False)
    assert recorded_content(path, 6, sha, recorded_ns) == (sha, True)
    assert path.stat().st_mtime_ns == recorded_ns
    with pytest.raises(OSError):
        recorded_content(tmp_path / "gone.npy", 6, sha, recorded_ns)
