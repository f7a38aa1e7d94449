"""A named pipe in the image folder (security review F5): said as what it is, never opened."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_ingest import config, expect_error, make_plain

from data_prep.ingest import ImageEntry, empty_image_files


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this system")
def test_a_named_pipe_in_the_image_folder_is_not_a_regular_file_not_an_empty_one(tmp_path: Path) -> None:
    """It was "empty file (0 bytes) -> re-copy the image from the original data" (its stat's
    size is 0); the export says "not a regular file (a named pipe)"."""
    root = make_plain(tmp_path / "d", {"001.png": 0, "002.png": 1, "003.png": 0, "004.png": 1})
    os.mkfifo(root / "005.png")
    with open(root / "labels.csv", "a", encoding="utf-8") as fh:
        fh.write("005.png,1\n")
    found = empty_image_files([ImageEntry(root / "005.png", "005.png", "train")])
    assert [(p.what, p.kind) for p in found] == [("not a regular file (a named pipe)", "not-regular")]
    message = expect_error(config(root), tmp_path / "out", "005.png", "not a regular file (a named pipe)",
                           "replace it with the image file itself")
    assert "empty file" not in message and "re-copy" not in message, message
