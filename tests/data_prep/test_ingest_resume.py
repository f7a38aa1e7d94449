"""An ingest stopped half-way (Ctrl-C, SIGTERM, kill -9, a bad file) keeps what it decoded: the
rerun of the same command decodes only the rest, and its outputs are those of an ingest never
stopped; kept rows that cannot be proven the same input are decoded again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from test_ingest import SIZE, config, make_plain

from data_prep import cache, ingest
from data_prep.validate import IngestError

M = 8  # images


def _data(tmp_path: Path) -> Path:
    return make_plain(tmp_path / "d", {f"{i:03d}.png": i % 3 for i in range(1, M + 1)})


def _count_decodes(monkeypatch: pytest.MonkeyPatch, stop_after: int | None = None,
                   stop: Callable[[], None] | None = None) -> list[str]:
    """Replace the decoder (:func:`data_prep.cache.process_file`, run in this process with
    ``workers=1``) by one that records each file it decodes and, after ``stop_after`` files, calls ``stop``
    (default: raise KeyboardInterrupt, as Ctrl-C does)."""
    real = cache.process_file
    calls: list[str] = []

    def counted(task: cache.FileTask) -> cache.FileRecord:
        if stop_after is not None and len(calls) == stop_after:
            if stop is None:
                raise KeyboardInterrupt
            stop()
        record = real(task)
        if record.decoded:  # not a file only hashed (its sha256 the one known)
            calls.append(task.rel)
        return record

    monkeypatch.setattr(cache, "process_file", counted)
    return calls


def _outputs(out: Path) -> dict[str, bytes]:
    """The bytes of the manifest and of the cache arrays."""
    return {"manifest": (out / ingest.MANIFEST_NAME).read_bytes(),
            "array": cache.array_path(out / ingest.CACHE_DIR, SIZE).read_bytes()}


def _interrupted(data: Path, out: Path, monkeypatch: pytest.MonkeyPatch, k: int, **options: object) -> None:
    _count_decodes(monkeypatch, stop_after=k)
    with pytest.raises(KeyboardInterrupt):
        ingest.run(config(data, **options), out, verbose=False)
    monkeypatch.undo()


def test_an_interrupted_ingest_is_continued_and_ends_as_one_never_stopped(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _data(tmp_path)
    reference = ingest.run(config(data), tmp_path / "ref", verbose=False)
    out, k = tmp_path / "out", 5
    _interrupted(data, out, monkeypatch, k)
    assert (cache.DECODED.kept, cache.DECODED.wanted) == (k, M)  # exact: the interrupt line's numbers
    words = ingest.interrupted_words(command="prog ingest --root d --out o")
    assert f"{k} of {M} images to decode are decoded and kept" in words
    assert f"decodes only the other {M - k}: prog ingest --root d --out o" in words
    calls = _count_decodes(monkeypatch)
    result = ingest.run(config(data), out, verbose=False)
    assert len(calls) == M - k, calls
    assert (result.n_decoded, result.n_reused) == (M - k, k)
    assert _outputs(out) == _outputs(reference.out_dir)
    assert not list((out / ingest.CACHE_DIR).glob(".resume*"))  # the kept rows are gone once written
    calls.clear()
    ingest.run(config(data), out, verbose=False)  # and the finished cache is what a rerun reuses
    assert calls == []


def test_a_run_stopped_by_a_bad_file_keeps_the_others_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _data(tmp_path)
    reference = ingest.run(config(data), tmp_path / "ref", verbose=False)
    good = (data / "004.png").read_bytes()
    stat = (data / "004.png").stat()
    (data / "004.png").write_bytes(good[:-300])  # truncated: an error found by decoding
    out = tmp_path / "out"
    with pytest.raises(IngestError, match=f"{M - 1} of {M} images are decoded and kept"):
        ingest.run(config(data), out, verbose=False)
    (data / "004.png").write_bytes(good)  # fixed: a re-copy
    os.utime(data / "004.png", ns=(stat.st_atime_ns, stat.st_mtime_ns))
    calls = _count_decodes(monkeypatch)
    ingest.run(config(data), out, verbose=False)
    assert calls == ["004.png"]
    assert _outputs(out) == _outputs(reference.out_dir)


def test_kept_rows_that_were_cut_or_changed_are_decoded_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _data(tmp_path)
    reference = ingest.run(config(data), tmp_path / "ref", verbose=False)
    out, k = tmp_path / "out", 6
    _interrupted(data, out, monkeypatch, k)
    folder = out / ingest.CACHE_DIR
    journal = folder / cache.RESUME_JOURNAL
    lines = journal.read_bytes().splitlines(keepends=True)
    assert len(lines) == 1 + k  # the key, then one line per image kept
    first, last = json.loads(lines[1]), json.loads(lines[-1])
    journal.write_bytes(b"".join(lines[:-1]) + lines[-1][:40])  # the last line cut by a kill
    rows = folder / f".resume-{SIZE}px.rows"
    with open(rows, "r+b") as fh:  # one byte of the first image's row changed
        fh.seek(first["at"][str(SIZE)] + 100)
        byte = fh.read(1)
        fh.seek(-1, os.SEEK_CUR)
        fh.write(bytes([byte[0] ^ 0xFF]))
    os.utime(data / "003.png", ns=(10**18, 10**18))  # touched, same content: its sha256 proves it
    calls = _count_decodes(monkeypatch)
    ingest.run(config(data), out, verbose=False)
    assert sorted(calls) == sorted({first["rel"], last["rel"], *[f"{i:03d}.png" for i in range(k + 1, M + 1)]})
    assert "003.png" not in calls
    assert _outputs(out) == _outputs(reference.out_dir)


@pytest.mark.parametrize("change", [{"cache_sizes": [SIZE // 2]}, {"channels": "1"}, {"graham": True}])
def test_rows_kept_with_other_options_are_refused_not_removed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: dict[str, object]) -> None:
    """A rerun with other options (a typo, say) is refused naming the option and the rm that
    discards the kept rows; they stay (a review: they were removed at once, before validation);
    after the rm the run decodes every image."""
    data = _data(tmp_path)
    out = tmp_path / "out"
    _interrupted(data, out, monkeypatch, 4)
    kept = sorted(p.name for p in (out / "cache").glob(".resume*"))
    word = {"cache_sizes": "--cache-sizes", "channels": "channels", "graham": "Graham filter"}[next(iter(change))]
    with pytest.raises(IngestError, match=r"4 images decoded by a stopped ingest \(interrupted, or stopped by a bad file\) are kept") as caught:
        ingest.run(config(data, **change), out, verbose=False)
    assert word in str(caught.value) and f"rm {out / 'cache'}/.resume*" in str(caught.value)
    assert sorted(p.name for p in (out / "cache").glob(".resume*")) == kept
    for path in (out / "cache").glob(".resume*"):
        path.unlink()
    calls = _count_decodes(monkeypatch)
    ingest.run(config(data, **change), out, verbose=False)
    assert len(calls) == M


def test_rows_kept_by_another_version_are_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _data(tmp_path)
    out = tmp_path / "out"
    _interrupted(data, out, monkeypatch, 4)
    monkeypatch.setattr("drac_ssl.__version__", "0.0.1-other")
    calls = _count_decodes(monkeypatch)
    result = ingest.run(config(data), out, verbose=False)
    assert len(calls) == M
    assert any("kept by another version of drac_ssl" in n for n in result.notes), result.notes


def test_an_out_holding_only_a_killed_ingests_leftovers_is_not_refused(tmp_path: Path) -> None:
    data = _data(tmp_path)
    out = tmp_path / "out"
    (out / ingest.CACHE_DIR).mkdir(parents=True)
    for name in (".manifest.csv.tmp-4242", ".ingest_summary.json.tmp-4242", ".DS_Store", "Thumbs.db"):
        (out / name).write_bytes(b"x")
    ingest.refuse_early(config(data), out)  # no IngestError
    (out / "notes.txt").write_text("mine")
    with pytest.raises(IngestError, match="is not empty"):
        ingest.refuse_early(config(data), out)


def test_a_sigterm_ends_with_the_kept_count_and_the_command(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from data_prep.__main__ import main

    data = _data(tmp_path)
    out = tmp_path / "out"
    argv = ["ingest", "--root", str(data), "--out", str(out), "--sizes", str(SIZE), "--workers", "1"]
    _count_decodes(monkeypatch, stop_after=3, stop=lambda: os.kill(os.getpid(), signal.SIGTERM))
    assert main(argv) == 143  # SIGTERM, as the training exits (130 is kept for Ctrl-C)
    err = capsys.readouterr().err
    assert f"3 of {M} images to decode are decoded and kept" in err, err
    assert f"decodes only the other {M - 3}: " in err and f"--out {out}" in err, err
    monkeypatch.undo()
    calls = _count_decodes(monkeypatch)
    assert main(argv) == 0
    assert len(calls) == M - 3


KILLED_RUN = """
import os, signal, sys
from data_prep import cache
from data_prep.__main__ import main
real, n = cache.process_file, [0]
def process_file(task):
    if n[0] == int(sys.argv[1]):
        os.kill(os.getpid(), signal.SIGKILL)
    n[0] += 1
    return real(task)
cache.process_file = process_file
main(sys.argv[2:])
"""


def test_a_kill_9_keeps_what_was_decoded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real process killed by SIGKILL after it decoded k images (no timing: it kills itself
    from the decoder): the rerun decodes only the others, and ends as a run never stopped."""
    if not hasattr(signal, "SIGKILL"):
        pytest.skip("no SIGKILL here")
    data = _data(tmp_path)
    reference = ingest.run(config(data), tmp_path / "ref", verbose=False)
    out, k = tmp_path / "out", 5
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run([sys.executable, "-c", KILLED_RUN, str(k), "ingest", "--root", str(data),
                           "--out", str(out), "--sizes", str(SIZE), "--workers", "1"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr
    calls = _count_decodes(monkeypatch)
    ingest.run(config(data), out, verbose=False)
    assert len(calls) == M - k, calls
    assert _outputs(out) == _outputs(reference.out_dir)


def test_the_kept_count_leaves_out_a_file_changed_since(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The interrupt line's count is what the rerun will not decode: a kept image whose file was
    replaced since (another content) is not counted, and is decoded again."""
    from test_ingest import smooth_image, write_png

    data = _data(tmp_path)
    out, k = tmp_path / "out", 5
    _interrupted(data, out, monkeypatch, k)
    write_png(data / "002.png", 255 - smooth_image(77))  # kept, then replaced
    _interrupted(data, out, monkeypatch, 0)  # stopped before its first decode
    assert (cache.DECODED.kept, cache.DECODED.wanted) == (k - 1, M)
    calls = _count_decodes(monkeypatch)
    reference = ingest.run(config(data), tmp_path / "ref", verbose=False)
    calls.clear()
    ingest.run(config(data), out, verbose=False)
    assert sorted(calls) == ["002.png", *[f"{i:03d}.png" for i in range(k + 1, M + 1)]]
    assert _outputs(out) == _outputs(reference.out_dir)


def test_two_ingests_never_write_one_journal(tmp_path: Path) -> None:
    key = cache.resume_key(tmp_path, [SIZE], cache.CacheOptions())
    with cache.RowSpill(tmp_path / "cache") as first:
        first.resume(key)
        with pytest.raises(IngestError, match="another ingest is writing into this --out"):
            cache.RowSpill(tmp_path / "cache").resume(key)


def test_a_file_swapped_in_with_the_same_size_and_time_is_decoded_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Kept rows are trusted on size and mtime_ns only with the file's inode and ctime_ns: a file
    of other content, as long and with the same mtime, moved in with ``mv`` is decoded again
    (a review: its kept rows, another image's, were taken)."""
    import cv2
    import numpy as np

    data = _data(tmp_path)
    out = tmp_path / "out"
    _interrupted(data, out, monkeypatch, 4)
    lines = (out / ingest.CACHE_DIR / cache.RESUME_JOURNAL).read_bytes().splitlines()
    rel = json.loads(lines[1])["rel"]
    target = data / rel
    st = target.stat()
    ok, png = cv2.imencode(".png", np.full((1024, 1024), 77, np.uint8))  # a few hundred bytes
    assert ok and len(png) < st.st_size
    swapped = tmp_path / "swapped.png"
    swapped.write_bytes(png.tobytes() + bytes(st.st_size - len(png)))  # padded after IEND to the same size
    os.utime(swapped, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(swapped, target)  # mv
    assert (target.stat().st_size, target.stat().st_mtime_ns) == (st.st_size, st.st_mtime_ns)
    calls = _count_decodes(monkeypatch)
    result = ingest.run(config(data), out, verbose=False)
    assert rel in calls
    fresh = ingest.run(config(data), tmp_path / "fresh", verbose=False)
    assert _outputs(out) == _outputs(fresh.out_dir)
    assert result.n_decoded == M - 3


def test_a_bad_file_stop_on_an_incremental_rerun_counts_what_is_left(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A finished cache of M images, then 2 new ones, one bad: 1 of M + 2 kept, the rerun
    decodes only 1 more and reuses M (a review: "decodes only the others", M + 1 of them)."""
    from test_ingest import smooth_image, write_png

    data = _data(tmp_path)
    out = tmp_path / "out"
    ingest.run(config(data), out, verbose=False)
    write_png(data / "101.png", smooth_image(101))
    bad = write_png(data / "102.png", smooth_image(102))
    bad.write_bytes(bad.read_bytes()[:-300])
    (data / "labels.csv").write_text((data / "labels.csv").read_text() + "101.png,1\n102.png,2\n")
    with pytest.raises(IngestError) as caught:
        ingest.run(config(data), out, verbose=False)
    text = str(caught.value)
    assert f"1 of {M + 2} images are decoded and kept in {out / 'cache'}, " in text, text
    assert f"decodes only the other 1 and reuses {M} from the finished cache; to discard them " \
           f"instead: rm {out / 'cache'}/.resume*)" in text, text
    assert " bytes) on disk" in text


def test_a_full_disk_says_what_is_kept_and_how_to_free_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    data = _data(tmp_path)
    out = tmp_path / "out"
    real, kept = cache.RowSpill.keep, []

    def keep(self: cache.RowSpill, record: cache.FileRecord) -> int:
        if len(kept) == 3:
            raise OSError(errno.ENOSPC, "No space left on device", str(self.path(SIZE)))
        kept.append(record.rel)
        return real(self, record)

    monkeypatch.setattr(cache.RowSpill, "keep", keep)
    with pytest.raises(IngestError) as caught:
        ingest.run(config(data, workers=1), out, verbose=False)
    text = str(caught.value)
    size = ingest.bytes_words(cache.kept_bytes(out / "cache"))
    assert "No space left on device" in text and f"the images decoded so far are kept in {out / 'cache'} " \
           f"for the rerun, {size} on disk: to free that space instead, rm {out / 'cache'}/.resume*" in text, text


def test_an_interrupted_incremental_rerun_keeps_the_finished_ingest_and_says_what_it_reuses(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A finished ingest of M images, then 2 new ones, Ctrl-C after both are decoded (a trial:
    "40 of 40 images were decoded, and the rerun decodes them again ... the other 0"): the
    earlier manifest and summary stay, the line says the rerun decodes none again and reuses
    the M finished ones, and the rerun decodes nothing."""
    from test_ingest import smooth_image, write_png

    from data_prep.__main__ import main

    data = _data(tmp_path)
    out = tmp_path / "out"
    argv = ["ingest", "--root", str(data), "--out", str(out), "--sizes", str(SIZE), "--workers", "1"]
    assert main(argv) == 0
    manifest, summary = (out / ingest.MANIFEST_NAME).read_bytes(), (out / "ingest_summary.json").read_bytes()
    for i in (101, 102):
        write_png(data / f"{i}.png", smooth_image(i))
    (data / "labels.csv").write_text((data / "labels.csv").read_text() + "101.png,1\n102.png,2\n")
    real = cache.process_files

    def then_stop(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        real(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(cache, "process_files", then_stop)
    capsys.readouterr()
    assert main(argv) == 130
    err = capsys.readouterr().err
    assert "all 2 images to decode are decoded and kept" in err, err
    assert f"decodes none of them again and reuses the {M} of the finished cache" in err, err
    assert "the other 0" not in err, err
    assert (out / ingest.MANIFEST_NAME).read_bytes() == manifest
    assert (out / "ingest_summary.json").read_bytes() == summary
    monkeypatch.undo()
    calls = _count_decodes(monkeypatch)
    assert main(argv) == 0
    assert calls == []
