"""A labelled training image the ingest cannot read: its fix names both ways out (a trial
user's finding F4). Re-copying is one; moving the file aside and rerunning with
``--missing leave_out``, which leaves its row out on the record, is the other, and it works."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_repeated_label_rows import colour_jpegs, config

from data_prep import ingest, validate
from data_prep.problems import as_config_keys

WAY_OUT = ("; or move it out of the image folder and rerun with --missing leave_out (its row is "
           "then listed as left out)")


def damaged_folder(root: Path) -> Path:
    """A plain folder of 25 colour JPEGs graded 0..4, eye_006.jpg cut short, and a test folder
    whose one image is cut short too."""
    names = colour_jpegs(root)
    (root / "labels.csv").write_text("image name,DR grade\n" + "".join(
        f"{n},{i % 5}\n" for i, n in enumerate(names)), encoding="utf-8")
    (root / "test").mkdir()
    Image.fromarray(np.random.default_rng(99).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(
        root / "test" / "case_01.jpg")
    for path in (root / "eye_006.jpg", root / "test" / "case_01.jpg"):
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return root


def test_a_truncated_training_image_is_told_both_ways_out(tmp_path: Path) -> None:
    root = damaged_folder(tmp_path / "d")
    with pytest.raises(validate.IngestError) as refused:
        ingest.run(config(root), tmp_path / "out", verbose=False)
    (train,) = [p for p in refused.value.problems if p.path == str(root / "eye_006.jpg")]
    assert train.severity == "error" and "truncated JPEG" in train.what, train.line
    # one clear pair of choices (a reviewer, F3: "re-copy or re-download the image; the file is
    # incomplete; or move it out ..." read as three)
    assert train.fix == ("re-copy or re-download the image from the original data (the file is "
                         "incomplete)" + WAY_OUT), train.fix
    assert WAY_OUT in str(refused.value)  # the printed line, as the user reads it
    # python -m drac_ssl.train says the flag as its setting
    assert "rerun with data.missing=leave_out (its row" in as_config_keys(train.line)
    # a test image has no label row to leave out: its fix is the re-copy alone
    (test,) = [p for p in refused.value.problems if p.path == str(root / "test" / "case_01.jpg")]
    assert test.severity == "error" and "--missing" not in test.fix, test.fix
    # already under leave_out, the fix says only to move the file
    with pytest.raises(validate.IngestError) as refused:
        ingest.run(config(root, missing="leave_out"), tmp_path / "out", verbose=False)
    (train,) = [p for p in refused.value.problems if p.path == str(root / "eye_006.jpg")]
    assert train.fix.endswith("; or move it out of the image folder and rerun (--missing leave_out "
                              "then lists its row as left out)"), train.fix


def test_moving_the_image_out_and_leaving_its_row_out_works_as_said(tmp_path: Path) -> None:
    root = damaged_folder(tmp_path / "d")
    (root / "test" / "case_01.jpg").unlink()
    aside = tmp_path / "aside"
    aside.mkdir()
    (root / "eye_006.jpg").rename(aside / "eye_006.jpg")
    result = ingest.run(config(root, missing="leave_out"), tmp_path / "out", verbose=False)
    assert result.n_train == 24
    assert [(r.name, r.line) for r in result.left_out_missing] == [("eye_006.jpg", 8)]
    summary = json.loads(result.summary_path.read_text())
    assert [r["name"] for r in summary["left_out_missing"]] == ["eye_006.jpg"]


def test_a_file_that_is_no_image_is_told_to_move_it_out_once(tmp_path: Path) -> None:
    """A file that holds no image (a download's error page saved under the image's name): its
    own fix already says "or move it out of the image folder", which alone leaves its row
    without an image (an error). The way out is said once, with the rerun that makes it work (a
    reviewer, F3: "move it out" was said twice); an empty file keeps the re-copy."""
    root = damaged_folder(tmp_path / "d")
    (root / "test" / "case_01.jpg").unlink()
    (root / "eye_006.jpg").write_bytes(b"<html><body>404 Not Found</body></html>\n")
    (root / "eye_007.jpg").write_bytes(b"")
    # the empty file is told from the folder listing, before any decoding, with the way out
    with pytest.raises(validate.IngestError) as refused:
        ingest.run(config(root), tmp_path / "out", verbose=False)
    (empty,) = [p for p in refused.value.problems if p.path == str(root / "eye_007.jpg")]
    assert empty.fix == "re-copy the image from the original data" + WAY_OUT, empty.fix
    (root / "eye_007.jpg").unlink()  # moved out, as its fix says: its row is left out
    with pytest.raises(validate.IngestError) as refused:
        ingest.run(config(root, missing="leave_out"), tmp_path / "out", verbose=False)
    (page,) = [p for p in refused.value.problems if p.path == str(root / "eye_006.jpg")]
    assert page.severity == "error" and "not an image" in page.what, page.line
    assert page.fix.startswith("replace it with the real image; or move it out"), page.fix
    assert page.fix.count("move it out") == 1, page.fix
