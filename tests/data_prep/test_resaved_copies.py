"""Copies of one image told by their decoded pixels as well as their bytes (a leakage audit):
a training image re-saved (another PNG compression) passed as a new image, so a copy of a test
image among the training images, and two copies of one training image in two folds, went
unnoticed (``warnings: 0``), while a byte-identical copy stopped the ingest. The pixel hash is
the manifest's ``pixels_sha256``, one rule with the pool's copies (``copy_keys``)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from test_ingest import config, expect_error, smooth_image, write_csv, write_png

from data_prep.validate import KEEP_TEST_WHOLE, identical_content, names_in_both

SIDE = 48  # tiny images: each ingest well under a second


def _resave(source: Path, target: Path) -> None:
    """The same pixels in other bytes (PNG compression 0 instead of the default)."""
    pixels = cv2.imread(str(source), cv2.IMREAD_UNCHANGED)
    target.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(target), pixels, [cv2.IMWRITE_PNG_COMPRESSION, 0])
    assert target.read_bytes() != source.read_bytes()


def _plain(root: Path, n: int = 6) -> Path:
    """A plain folder of ``n`` tiny distinct images (grades 0, 1 in turn), a labels.csv and a
    test folder of one other image."""
    for i in range(n):
        write_png(root / f"{i:03d}.png", smooth_image(i, SIDE))
    write_png(root / "test" / "t1.png", smooth_image(900, SIDE))
    return root


def _labels(root: Path, extra: dict[str, int] | None = None) -> None:
    rows = [[f"{i:03d}.png", i % 2] for i in range(6)] + [[n, g] for n, g in (extra or {}).items()]
    write_csv(root / "labels.csv", ["image name", "DR grade"], rows)


def test_a_resaved_training_image_in_the_test_set_stops_the_ingest(tmp_path: Path) -> None:
    root = _plain(tmp_path / "d")
    _labels(root)
    _resave(root / "002.png", root / "test" / "zz_copy.png")
    message = expect_error(config(root, cache_sizes=[16]), tmp_path / "out",
                           "the same image is in both the training and the test set (identical pixels to",
                           "the files differ: re-saved copies; pixels sha256", KEEP_TEST_WHOLE)
    assert str(root / "002.png") in message and "zz_copy.png" in message


def test_resaved_training_twins_are_treated_as_byte_identical_ones(tmp_path: Path) -> None:
    """Byte twins among the training images stop the ingest (``delete the duplicate copies``):
    re-saved twins do the same, instead of landing in two folds."""
    said = {}
    for how in ("bytes", "pixels"):
        root = _plain(tmp_path / how)
        if how == "bytes":
            (root / "ffcopy.png").write_bytes((root / "003.png").read_bytes())
        else:
            _resave(root / "003.png", root / "ffcopy.png")
        _labels(root, {"ffcopy.png": 1})  # 003.png's grade
        said[how] = expect_error(config(root, cache_sizes=[16]), tmp_path / f"out_{how}",
                                 "delete the duplicate copies so each image is counted once")
    assert "byte-identical to" in said["bytes"] and "identical pixels" not in said["bytes"]
    assert f"identical pixels to {tmp_path / 'pixels' / 'ffcopy.png'} (the files differ: re-saved copies" \
        in said["pixels"]


def test_a_grey_picture_in_three_equal_channels_is_a_copy_of_its_grey_file(tmp_path: Path) -> None:
    root = _plain(tmp_path / "d")
    grey = cv2.imread(str(root / "004.png"), cv2.IMREAD_UNCHANGED)
    assert grey.ndim == 2
    write_png(root / "rgb_copy.png", cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR))
    _labels(root, {"rgb_copy.png": 0})  # 004.png's grade
    expect_error(config(root, cache_sizes=[16]), tmp_path / "out", "identical pixels to",
                 "delete the duplicate copies")


def test_pixel_digests_join_copies_in_the_words_of_each_case() -> None:
    a, b, c, p = "a" * 64, "b" * 64, "c" * 64, "f" * 64
    (across,) = identical_content([("train/1.png", "train", a, "", p), ("test/9.png", "test", b, "", p)])
    assert across.severity == "error" and across.fix == KEEP_TEST_WHOLE
    assert across.what == ("the same image is in both the training and the test set (identical pixels "
                           "to test/9.png; the files differ: re-saved copies; pixels sha256 ffffffffffff)")
    (tests,) = identical_content([("test/1.png", "test", a, "", p), ("test/2.png", "test", b, "", p)])
    assert tests.severity == "warning" and "identical pixels to the test image(s) test/2.png" in tests.what
    (clash,) = identical_content([("train/1.png", "train", a, "1 (line 2)", p),
                                  ("train/2.png", "train", b, "3 (line 3)", p)])
    assert "conflicting grades: 1.png grade 1 (line 2); 2.png grade 3 (line 3)" in clash.what
    # a byte twin and a re-saved copy of it: one group, one problem, some files the same
    (mixed,) = identical_content([("train/1.png", "train", a, "", p), ("train/2.png", "train", a, "", ""),
                                  ("train/3.png", "train", c, "", p)])
    assert mixed.what.startswith("identical pixels to train/2.png, train/3.png (some files differ")
    # no pixel digest (an image that did not decode, an older record): its bytes alone
    assert identical_content([("train/1.png", "train", a, "", ""), ("train/2.png", "train", b, "", None)]) == []
    (by_bytes,) = identical_content([("train/1.png", "train", a, "", None), ("train/2.png", "train", a, "", p)])
    assert by_bytes.what == f"byte-identical to train/2.png (sha256 {a[:12]})"


def test_a_shared_name_with_identical_pixels_is_said_once_as_the_same_image() -> None:
    train, test = [Path("train/042.png")], [Path("test/042.png")]
    resaved = {train[0]: ["b:" + "a" * 64, "p:" + "f" * 64], test[0]: ["b:" + "b" * 64, "p:" + "f" * 64]}
    assert names_in_both(train, test, digests=resaved) == []  # identical_content says it
    other = {train[0]: ["b:" + "a" * 64, "p:" + "e" * 64], test[0]: ["b:" + "b" * 64, "p:" + "f" * 64]}
    (problem,) = names_in_both(train, test, digests=other)
    assert "different contents" in problem.what


def test_a_resaved_test_image_with_its_training_name_is_one_error(tmp_path: Path) -> None:
    """test/002.png re-saved from 002.png: one image in both sets, said once ("share the name ...
    rename the training file" beside "remove it" was two contradictory fixes for one file)."""
    root = _plain(tmp_path / "d")
    _labels(root)
    _resave(root / "002.png", root / "test" / "002.png")
    message = expect_error(config(root, cache_sizes=[16]), tmp_path / "out",
                           "identical pixels to", KEEP_TEST_WHOLE)
    assert message.count("the same image is in both the training and the test set") == 1
    assert "share the name" not in message


def test_every_training_copy_of_a_test_image_is_named_in_the_fix() -> None:
    a, b, c, p = "a" * 64, "b" * 64, "c" * 64, "f" * 64
    (one,) = identical_content([("train/1.png", "train", a, "", p), ("train/2.png", "train", b, "", p),
                                ("test/9.png", "test", c, "", p)])
    assert one.fix == ("remove train/1.png, train/2.png (and their label rows) from the training set; "
                       "keep the test set whole: a submission needs a row for every test image")
    (single,) = identical_content([("train/1.png", "train", a, "", p), ("test/9.png", "test", c, "", p)])
    assert single.fix == KEEP_TEST_WHOLE


def test_blank_copies_in_both_sets_are_said_as_blank_images(tmp_path: Path) -> None:
    """A grey placeholder in both sets is no leaked scan: said as blank, with the blank fix."""
    root = _plain(tmp_path / "d")
    write_png(root / "blank1.png", np.full((SIDE, SIDE), 128, np.uint8))
    _resave(root / "blank1.png", root / "test" / "blank9.png")
    _labels(root, {"blank1.png": 0})
    message = expect_error(config(root, cache_sizes=[16]), tmp_path / "out",
                           "blank images (identical blank or near-constant pixels) in both the training",
                           f"move {root / 'blank1.png'} out of the folder and delete their label rows")
    assert "the same image is in both" not in message
    (plain,) = identical_content([("train/1.png", "train", "a" * 64, "", "f" * 64),
                                  ("test/9.png", "test", "b" * 64, "", "f" * 64)], blank={"train/1.png"})
    assert plain.what.startswith("the same image is in both")  # one blank member is not enough
