"""An EyePACS-sized ingest (a trial: 1,500 images at 3000 x 2000, 6 minutes of decoding): what
the folder listing tells stops it before any decoding, a disk too small is refused before it,
and a stop or an interrupt says how much decoding the rerun repeats."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from test_ingest import SIZE, config, expect_error, ingest_cli, make_plain, smooth_image, write_png

from data_prep import cache, ingest
from drac_ssl import preflight


def _no_decoding(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Make any decoding fail the test; returns the list the decode calls would fill."""
    calls: list[int] = []

    def refuse(tasks: object, *args: object, **kwargs: object) -> list[cache.FileRecord]:
        calls.append(len(tasks))  # type: ignore[arg-type]
        raise AssertionError("an image was decoded before the listing's problems were said")

    monkeypatch.setattr(cache, "process_files", refuse)
    return calls


def _listing_defects(root: Path) -> None:
    """A label row without its image, an image without a row, an empty file."""
    (root / "003.png").unlink()  # its row (line 4) stays
    write_png(root / "009.png", smooth_image(9))  # no row
    (root / "001.png").write_bytes(b"")  # 0 bytes


def test_listing_problems_stop_the_ingest_before_any_decoding(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """F3: all three said at once, with the preflight's words, and nothing decoded."""
    data = make_plain(tmp_path / "d", {"001.png": 0, "002.png": 1, "003.png": 2})
    _listing_defects(data)
    calls = _no_decoding(monkeypatch)
    message = expect_error(config(data), tmp_path / "out", "label without image: 003.png",
                           "image without label: no row for 009.png",
                           "001.png: empty file (0 bytes) -> re-copy the image from the original data",
                           "not opened yet", "3 problem(s) must be fixed first")
    assert calls == [] and "truncated" not in message


def test_the_ingest_and_the_preflight_share_one_empty_file_check() -> None:
    """F3: the preflight's check of empty files is the ingest's function, not a copy."""
    assert not hasattr(preflight, "_empty_image_files")
    source = Path(preflight.__file__).read_text(encoding="utf-8")
    assert "ingest.empty_image_files(" in source


def test_an_empty_file_of_an_unlabelled_folder_is_found_before_decoding(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A review (F2): an --unlabelled folder's image is named FOLDER/FILE but is a file: its
    empty file is found by the listing's check (the ingest's stop and the preflight's); an
    array row (MedMNIST's, named and not in the pool) is still skipped."""
    data = make_plain(tmp_path / "d", {"001.png": 0, "002.png": 1, "003.png": 2})
    extra = tmp_path / "extra"
    write_png(extra / "010.png", smooth_image(10))
    (extra / "011.png").write_bytes(b"")
    entries, _ = ingest.collect_unlabelled(config(data, unlabelled=[str(extra)]), data)
    assert [e.name for e in entries] == ["extra/010.png", "extra/011.png"]
    assert [p.path for p in ingest.empty_image_files(entries)] == [str(extra / "011.png")]
    row = ingest.ImageEntry(extra / "011.png", "train_images[0]", "train", name="train_0")
    assert ingest.empty_image_files([row]) == []
    calls = _no_decoding(monkeypatch)
    expect_error(config(data, unlabelled=[str(extra)]), tmp_path / "out",
                 "011.png: empty file (0 bytes)", "not opened yet")
    assert calls == []


def test_a_killed_runs_temporaries_are_removed_when_the_listing_stops_the_run(tmp_path: Path) -> None:
    """A review (F5): the spill files of a killed run are removed (and said) even when the
    folder listing's problems stop this run before decoding."""
    data = make_plain(tmp_path / "d", {"001.png": 0, "002.png": 1, "003.png": 2})
    out = tmp_path / "out"
    ingest.run(config(data), out, verbose=False)
    stale = out / ingest.CACHE_DIR / f".spill-{SIZE}px.tmp-999999"
    stale.write_bytes(b"rows")
    (data / "001.png").write_bytes(b"")
    with pytest.raises(ingest.IngestError) as caught:
        ingest.run(config(data), out, verbose=False)
    assert not stale.exists()
    assert any(p.path == str(stale) and "temporary file" in p.what for p in caught.value.problems)


def test_leave_out_and_unlabelled_keep_the_listing_problems_from_stopping(tmp_path: Path) -> None:
    """F3: --missing leave_out and --unlabelled make those problems non-fatal, as before."""
    data = make_plain(tmp_path / "d", {f"{i:03d}.png": i % 3 for i in range(1, 7)})
    (data / "003.png").unlink()
    extra = tmp_path / "extra"
    write_png(extra / "009.png", smooth_image(9))
    result = ingest.run(config(data, missing="leave_out", unlabelled=[str(extra)]), tmp_path / "out",
                        verbose=False)
    assert result.n_train == 5 and result.n_unlabelled == 1
    assert [row.name for row in result.left_out_missing] == ["003.png"]


def test_disk_needed_counts_every_cache_size_and_the_spill() -> None:
    """F4: 256 + 512 px RGB is 983,040 bytes an image; a cold ingest writes twice that."""
    per_image, needed = ingest.disk_needed(1500, 1500, [256, 512], 3)
    assert per_image == 983_040 and needed == 2 * 1500 * 983_040
    assert ingest.disk_needed(1500, 0, [256, 512], 3)[1] == 1500 * 983_040  # nothing to decode
    assert ingest.disk_needed(1500, 0, [256, 512], 3, arrays=False)[1] == 0  # arrays kept


def test_a_disk_too_small_is_refused_before_decoding(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """F4: exit 2 with the numbers and the ways out, before any image is decoded."""
    data = make_plain(tmp_path / "d", {"001.png": 0, "002.png": 1, "003.png": 2})
    calls = _no_decoding(monkeypatch)
    seen: list[Path] = []

    def usage(path: object) -> SimpleNamespace:
        seen.append(Path(str(path)))
        return SimpleNamespace(total=10**9, used=10**9 - 1000, free=1000)

    monkeypatch.setattr(shutil, "disk_usage", usage)
    assert ingest_cli(data, tmp_path / "out", "--folds", "2") == 2
    err = capsys.readouterr().err
    per_image = SIZE * SIZE * 3
    assert "not enough free disk space" in err and f"{per_image:,} bytes per image" in err, err
    assert "(1,000 bytes) free" in err and "--cache-sizes" in err and "--out" in err, err
    assert calls == [] and seen and seen[0].is_relative_to(tmp_path)


def test_the_disk_estimate_is_printed_when_it_fits(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """F4: the estimate is said before decoding, with the free space."""
    data = make_plain(tmp_path / "d", {f"{i:03d}.png": i % 3 for i in range(1, 7)})
    assert ingest_cli(data, tmp_path / "out", "--channels", "3") == 0
    err = capsys.readouterr().err
    needed = 2 * 6 * SIZE * SIZE * 3
    assert f"6 images, 6 to decode; the cache ({SIZE} px, {SIZE * SIZE * 3:,} bytes per image) needs about " \
           f"{ingest.bytes_words(needed)} of disk" in err, err


def _free(monkeypatch: pytest.MonkeyPatch, free: int) -> None:
    monkeypatch.setattr(shutil, "disk_usage",
                        lambda path: SimpleNamespace(total=10**12, used=10**12 - free, free=free))


def test_a_rerun_with_nothing_to_decode_needs_no_disk_for_its_arrays(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A review (F1): the arrays are kept as they are, so a disk with less free space than the
    cache takes does not refuse the rerun; a new image makes it write them again."""
    data = make_plain(tmp_path / "d", {f"{i:03d}.png": i % 3 for i in range(1, 7)})
    out = tmp_path / "out"
    ingest.run(config(data), out, verbose=False)
    array = cache.array_path(out / ingest.CACHE_DIR, SIZE)
    assert array.stat().st_size > 6 * SIZE * SIZE
    _free(monkeypatch, 1000)
    result = ingest.run(config(data), out, verbose=False)
    assert result.n_train == 6 and not any("disk" in w for w in result.warnings)
    os.utime(data / "001.png", ns=(10**18, 10**18))  # its mtime changed: decoded again
    with pytest.raises(ingest.IngestError, match="not enough free disk space: 6 images, 1 to decode"):
        ingest.run(config(data), out, verbose=False)


def test_grey_images_under_channels_auto_are_refused_only_when_grey_does_not_fit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A review (F3): before decoding, --channels auto does not know the channels: a disk that
    holds the grey cache but not the colour one gets a warning, not a refusal; one too small
    for the grey cache is refused; both say that --channels 1 makes it a third."""
    data = make_plain(tmp_path / "d", {f"{i:03d}.png": i % 3 for i in range(1, 7)})
    grey = 2 * 6 * SIZE * SIZE
    _free(monkeypatch, grey + 1)
    result = ingest.run(config(data), tmp_path / "out", verbose=False)
    assert result.channels == 1
    (warned,) = [w for w in result.warnings if "disk may be too small" in w]
    assert "--channels 1 makes it a third" in warned and f"{grey * 3:,}" in warned, warned
    _free(monkeypatch, grey - 1)
    expect_error(config(data), tmp_path / "out2", "not enough free disk space",
                 "if grey", "--channels 1 makes it a third")
    _free(monkeypatch, grey * 3 - 1)  # --channels 3: the colour estimate, refused
    expect_error(config(data, channels="3"), tmp_path / "out3", "not enough free disk space")


def test_the_train_commands_disk_refusal_names_run_out_dir() -> None:
    """A review (F4): through python -m drac_ssl.train the ingest's folder is run.out_dir's."""
    from data_prep.problems import as_config_keys

    said = as_config_keys("d: not enough free disk space -> ask for fewer --cache-sizes (now 512), "
                          "or give --out a folder on another disk")
    assert "give run.out_dir a folder" in said and "data.cache_sizes" in said and "--out" not in said


def test_the_grey_note_counts_only_labelled_training_images() -> None:
    """F6: an image without a label row is no labelled training image in 'N of the M'."""
    def entry(colour: bool, labelled: bool, name: str) -> SimpleNamespace:
        record = SimpleNamespace(sha256="x", issues=[], colour=colour, colour_share=None, mode="RGB" if colour else "L")
        return SimpleNamespace(record=record, split="train", label=object() if labelled else None,
                               image_id=name)

    entries = [entry(False, True, "g1"), entry(False, False, "g2"), entry(True, True, "c1"),
               entry(True, False, "c2")]
    plan = SimpleNamespace(channels_setting="auto", channels_source="--channels",
                           modality="auto")
    _, _, problems = ingest._resolve_channels(entries, plan, Path("/data"))  # type: ignore[arg-type]
    (grey,) = [p for p in problems if "grey image(s)" in p.what]
    assert ingest._grey_grading_words(1, 2) in grey.fix and ingest._grey_grading_words(2, 4) not in grey.fix


def test_an_interrupt_says_how_much_is_kept_and_the_command_that_continues() -> None:
    """The kept rows and the rerun that continues from them, with exact counts."""
    words = ingest.interrupted_words(cache.DecodeCount(kept=649, wanted=1508, folder="o/cache"),
                                     command="drac-ssl-ingest ingest --root d --out o")
    assert "649 of 1,508 images to decode are decoded and kept in o/cache" in words, words
    assert "decodes only the other 859: drac-ssl-ingest ingest --root d --out o" in words, words
    # interrupted while listing and hashing: no count, and not the old "outputs are not trusted"
    # (a review: untrue since the rows of an earlier attempt stay for the rerun)
    early = ingest.interrupted_words(cache.DecodeCount())
    assert "before this run resized any" in early and "to decode" not in early and "trusted" not in early, early


def test_an_interrupt_says_the_bytes_kept_and_how_to_discard_them(tmp_path: Path) -> None:
    """Kept rows can take 1 MB an image: the interrupt line says how many bytes and where, and
    the rm that discards them; before decoding, what an earlier attempt kept."""
    folder = tmp_path / "o" / "cache"
    folder.mkdir(parents=True)
    (folder / f".resume-{SIZE}px.rows").write_bytes(bytes(5000))
    (folder / cache.RESUME_JOURNAL).write_bytes(bytes(120))
    words = ingest.interrupted_words(cache.DecodeCount(kept=5, wanted=9, folder=str(folder)))
    assert f"the kept rows take 5.1 kB (5,120 bytes) in {folder}; to discard them instead: " \
           f"rm {folder}/.resume*" in words, words
    early = ingest.interrupted_words(cache.DecodeCount(), folder=folder)
    assert f"rows kept by an earlier stopped ingest stay for it: 5.1 kB (5,120 bytes) in {folder}" in early
    assert "kept" not in ingest.interrupted_words(cache.DecodeCount(), folder=tmp_path / "none")


def test_process_files_counts_what_it_decoded(tmp_path: Path) -> None:
    """F1/F2: the count the interrupt line reads."""
    paths = [write_png(tmp_path / f"{i}.png", smooth_image(i, 64)) for i in range(3)]
    tasks = [cache.FileTask(str(p), p.name, (SIZE,), "", cache.CacheOptions()) for p in paths]
    cache.process_files(tasks, 1)
    assert (cache.DECODED.done, cache.DECODED.total) == (3, 3)


def test_a_stop_on_bad_files_says_what_the_rerun_keeps(tmp_path: Path) -> None:
    """The error-ending summary says how many decoded images the rerun does not decode again."""
    data = make_plain(tmp_path / "d", {"001.png": 0, "002.png": 1, "003.png": 2})
    path = data / "002.png"
    path.write_bytes(path.read_bytes()[:-200])  # truncated: told by decoding
    message = expect_error(config(data), tmp_path / "out", "truncated PNG",
                           "2 of 3 images are decoded and kept in", "decodes only the other 1; to discard them")
    assert "1 problem(s)" in message
