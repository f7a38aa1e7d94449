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
    assert "the disk may be too small" in said.err and "if they are colour" in said.err
    words = str(stopped.value)
    assert "cannot write the ingest output (No space left on device)" in words
    # the channels are not known before decoding: the colour figure the warning said, not the grey one alone
    assert (f"it needs about {ingest.bytes_words(3 * grey)} of disk at its peak if the images are colour, "
            f"{ingest.bytes_words(grey)} if grey") in words, words
    assert f"{ingest.bytes_words(3 * grey)} if colour" in said.err  # the warning's figure
    assert f"{ingest.bytes_words(grey + 1)} free in {tmp_path}" in words, words
    assert "give --out a folder on another disk" in words and "the same command resumes" in words


def test_through_the_training_the_disk_full_error_names_run_out_dir(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data, _ = _disk_fills(tmp_path, monkeypatch)
    with pytest.raises(ingest.IngestError) as stopped:
        ingest.run(config(data), tmp_path / "out", verbose=False, wording=as_config_keys)
    words = str(stopped.value)
    assert "--out" not in words and "give run.out_dir a folder" in words
    assert "the permissions of run.out_dir" in words and "the same command resumes" in words
