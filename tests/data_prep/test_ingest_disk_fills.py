"""A low-resource tester: the ingest's warning that the disk may be too small for colour images
was printed only after a finished ingest, so it never showed when the disk then filled; and the
disk-full error named ``--out``, which a ``python -m drac_ssl.train`` user never typed, without
the bytes needed and free or that the same command resumes."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from test_ingest import SIZE, config, make_plain

from data_prep import cache, ingest
from data_prep.problems import as_config_keys


def _disk_fills(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, int]:
    """Six grey images, a disk that holds their grey cache but not a colour one, and a decoding
    whose write finds the disk full."""
    data = make_plain(tmp_path / "d", {f"{i:03d}.png": i % 3 for i in range(1, 7)})
    grey = 2 * 6 * SIZE * SIZE
    monkeypatch.setattr(shutil, "disk_usage",
                        lambda path: SimpleNamespace(total=10**12, used=10**12 - grey - 1, free=grey + 1))

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "out" / "cache" / "spill"))

    monkeypatch.setattr(cache, "process_files", full)
    return data, grey


def test_the_low_disk_warning_is_said_before_the_decoding_fills_the_disk(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    data, grey = _disk_fills(tmp_path, monkeypatch)
    with pytest.raises(ingest.IngestError) as stopped:
        ingest.run(config(data), tmp_path / "out", verbose=True)
    said = capsys.readouterr()
    assert said.err.count("the disk may be too small") == 1 and "if they are colour" in said.err
    words = str(stopped.value)
    assert "cannot write the ingest output (No space left on device)" in words
    # the channels are not known before decoding: the colour figure the warning said, not the grey one alone
    assert (f"it needs about {ingest.bytes_words(3 * grey)} of disk at its peak if the images are colour, "
            f"{ingest.bytes_words(grey)} if grey") in words, words
    assert f"{ingest.bytes_words(3 * grey)} if colour" in said.err  # the warning's figure
    assert f"{ingest.bytes_words(grey + 1)} free in {tmp_path}" in words, words
    assert "free space on that disk, then the same command resumes" in words
    assert "give --out a folder on a disk with room, where the ingest starts anew" in words
    assert "permissions" not in words  # a full disk, not a permission error


def test_through_the_training_the_disk_full_error_names_run_out_dir(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data, _ = _disk_fills(tmp_path, monkeypatch)
    with pytest.raises(ingest.IngestError) as stopped:
        ingest.run(config(data), tmp_path / "out", verbose=False, wording=as_config_keys)
    words = str(stopped.value)
    assert "--out" not in words and "give run.out_dir a folder" in words
    assert "the same command resumes" in words


@pytest.mark.parametrize(("code", "said", "not_said"), [
    (errno.EACCES, ("may not write it (its permissions)", "chmod -R u+w", "the same command resumes"),
     ("free space", "free in", "it needs")),
    (errno.EROFS, ("read-only", "remount it read-write", "the same command resumes"), ("free space", "chmod")),
    (errno.ENOSPC, ("it needs 2.0 GB", "free space on that disk, then the same command resumes",
                    "where the ingest starts anew"), ("chmod", "permissions")),
])
def test_an_unwritable_output_is_said_by_its_cause(code: int, said: tuple[str, ...], not_said: tuple[str, ...],
                                                   tmp_path: Path) -> None:
    exc = OSError(code, errno.errorcode[code], str(tmp_path / "out" / "cache" / "x.npy"))
    words = ingest._write_failed_words(exc, tmp_path / "out" / "cache" / "x.npy", tmp_path / "out", "2.0 GB")
    assert all(word in words for word in said), words
    assert not any(word in words for word in not_said), words
    if code == errno.ENOSPC:  # another --out starts anew: never said as the way to resume
        assert "give --out a folder on another disk" not in words and "then the same command resumes" in words


def test_the_low_disk_warning_of_a_finished_ingest_is_said_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    data = make_plain(tmp_path / "d", {f"{i:03d}.png": i % 3 for i in range(1, 7)})
    grey = 2 * 6 * SIZE * SIZE  # room for the grey cache, not a colour one: warned, then it fits
    monkeypatch.setattr(shutil, "disk_usage",
                        lambda path: SimpleNamespace(total=10**12, used=10**12 - grey - 1, free=grey + 1))
    ingest.run(config(data), tmp_path / "out", verbose=True)
    said = capsys.readouterr()
    assert (said.out + said.err).count("the disk may be too small") == 1  # before decoding, not again after
