"""An image in both sets is fixed on the training side, and two byte-identical test images are
both graded (DRAC trial s57 F4: "remove it from one of the two sets" / "delete the duplicate
copies" could drop a test image the challenge's submission must grade)."""

from __future__ import annotations

from pathlib import Path

from data_prep.validate import KEEP_TEST_WHOLE, identical_content, names_in_both


def test_an_image_in_both_sets_is_removed_from_the_training_set() -> None:
    (problem,) = names_in_both([Path("train/001.png")], [Path("test/001.png")])
    assert problem.severity == "error" and problem.path == str(Path("train/001.png"))
    assert "rename the training file" in problem.fix and "remove it from the training set" in problem.fix
    assert "test set whole" in KEEP_TEST_WHOLE and "training set" in KEEP_TEST_WHOLE
    (same,) = identical_content([("train/a.png", "train", "ab" * 32), ("test/b.png", "test", "ab" * 32)])
    assert same.severity == "error" and same.fix == KEEP_TEST_WHOLE


def test_byte_identical_test_images_are_both_graded() -> None:
    (problem,) = identical_content([("test/1100.png", "test", "cd" * 32),
                                    ("test/1101.png", "test", "cd" * 32)])
    assert problem.severity == "warning", problem
    assert "1101.png" in problem.what and "keeps its row" in problem.what
    assert "delete" not in problem.fix


def test_byte_identical_training_images_stay_an_error() -> None:
    (problem,) = identical_content([("train/1.png", "train", "ef" * 32),
                                    ("train/2.png", "train", "ef" * 32)])
    assert problem.severity == "error" and "delete the duplicate copies" in problem.fix
