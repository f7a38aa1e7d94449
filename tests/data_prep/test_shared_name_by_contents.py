"""A training and a test image of one name are told apart by their contents (a DRAC 2022
trial user, F3: a test file renamed to a training name, other pixels, was called "present in
both train and test" and its fix said to remove the labelled training image). The same
contents: the same image in both sets, said once (identical_content's error). Other
contents: two images sharing a name, fixed by renaming the training file and its label row,
never the test file, whose name is the submission's case name."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
from test_ingest import config, make_drac, smooth_image, write_png

from data_prep import ingest, validate
from data_prep.layout import IMAGES_DIR, TASK_DIR, TEST_DIR, TEST_ROOT_DIR, TRAIN_DIR
from data_prep.validate import (
    KEEP_TEST_WHOLE,
    SHARED_NAME_KIND,
    identical_content,
    names_in_both,
    training_rename,
)

TRAIN = [Path("train/042.png"), Path("train/043.png"), Path("train/042_train.png")]
TEST = [Path("test/042.png"), Path("test/1500.png")]


def test_other_contents_are_two_images_sharing_a_name_renamed_on_the_training_side() -> None:
    digests = {TRAIN[0]: "aa" * 32, TEST[0]: "bb" * 32, TRAIN[1]: "cc" * 32}
    (problem,) = names_in_both(TRAIN, TEST, digests=digests)
    assert problem.severity == "error" and problem.kind == SHARED_NAME_KIND
    assert problem.path == str(TRAIN[0])  # the file the fix renames
    assert problem.what == ("a training and a test image share the name 042.png (different "
                            "contents; the test image is test/042.png)")
    # 042_train.png is taken already: the example name is free in both sets
    assert problem.fix.startswith("rename the training file and its label row, e.g. to "
                                  "042_train2.png, so each image name is unique; keep the test "
                                  "file's name: the submission names each test case by its file name")
    assert "present in both" not in problem.what and "remove it" not in problem.fix


def test_the_same_contents_are_the_same_image_said_once_with_the_training_side_removal() -> None:
    digests = {TRAIN[0]: "aa" * 32, TEST[0]: "aa" * 32}
    assert names_in_both(TRAIN, TEST, digests=digests) == []  # identical_content says it
    (same,) = identical_content([(str(TRAIN[0]), "train", "aa" * 32), (str(TEST[0]), "test", "aa" * 32)])
    assert same.what.startswith("the same image is in both the training and the test set")
    # a renamed copy is still byte-identical: renaming is no way out of this one
    assert same.fix == KEEP_TEST_WHOLE and "rename" not in same.fix


def test_contents_not_read_give_both_fixes() -> None:
    """The preflight lists the folders only; an image the ingest could not read has no hash."""
    for digests in (None, {TRAIN[0]: "aa" * 32, TEST[0]: ""}):
        (problem,) = names_in_both(TRAIN, TEST, digests=digests)
        assert problem.kind == SHARED_NAME_KIND and "contents not compared" in problem.what
        assert "rename the training file and its label row" in problem.fix
        assert problem.fix.endswith("if the two are the same image, remove it from the training "
                                    "set (the image and its label row) instead")


def test_idrid_restarting_names_note_counts_only_pairs_that_differ() -> None:
    differ = {TRAIN[0]: "aa" * 32, TEST[0]: "bb" * 32}
    (note,) = names_in_both(TRAIN, TEST, allowed=True, digests=differ)
    assert note.severity == "note" and note.what.endswith("their contents differ")
    assert names_in_both(TRAIN, TEST, allowed=True, digests={TRAIN[0]: "aa" * 32, TEST[0]: "aa" * 32}) == []


@pytest.mark.parametrize(("name", "taken", "expected"), [
    ("042.png", ["042.png"], "042_train.png"),
    ("042.png", ["042.png", "042_TRAIN.png"], "042_train2.png"),  # letter case ignored, as names match
    ("IDRiD_001.jpg", [], "IDRiD_001_train.jpg"),
])
def test_training_rename_is_free_in_both_sets(name: str, taken: list[str], expected: str) -> None:
    assert training_rename(name, taken) == expected


def test_the_ingest_tells_a_renamed_test_file_from_a_copied_one(tmp_path: Path) -> None:
    """The trial: a DRAC test file renamed to a training name (other pixels), and a training
    image copied into the test set under its own name: one error each, worded by contents."""
    root = make_drac(tmp_path / "DRAC 2022")
    train = root / TASK_DIR / IMAGES_DIR / TRAIN_DIR
    test = root / TEST_ROOT_DIR / TASK_DIR / IMAGES_DIR / TEST_DIR
    (test / "1500.png").rename(test / "002.png")
    shutil.copy(train / "003.png", test / "003.png")
    write_png(test / "1600.png", smooth_image(600))
    with pytest.raises(validate.IngestError) as refused:
        ingest.run(config(root), tmp_path / "out", verbose=False)
    errors = [p for p in refused.value.problems if p.severity == "error"]
    assert [(p.path, p.kind) for p in errors] == [(str(train / "002.png"), SHARED_NAME_KIND),
                                                  (str(train / "003.png"), "identical")], errors
    message = str(refused.value)
    assert "2 problem(s) must be fixed" in message
    assert (f"{train / '002.png'}: a training and a test image share the name 002.png (different "
            f"contents; the test image is {test / '002.png'}) -> rename the training file and its "
            "label row, e.g. to 002_train.png") in message
    assert (f"{train / '003.png'}: the same image is in both the training and the test set "
            f"(byte-identical to {test / '003.png'}") in message
    assert "present in both" not in message


# --------------------------------------------------------------------------------------
# The new name said fits the layout, is free, and both spellings are named (a review)


def test_an_eyepacs_rename_keeps_the_patient_and_names_the_other_eye() -> None:
    """``10_left_train.jpeg`` would name no patient (EYE_NAME): the two eyes of patient 10
    could land in two folds. The marker goes before the eye, the other eye renamed alike."""
    assert training_rename("10_left.jpeg", ["10_left.jpeg"], eye_pairs=True) == "10train_left.jpeg"
    # a patient 10train with one eye already is taken: both eyes' names must be free
    assert training_rename("10_left.jpeg", ["10train_right.jpeg"], eye_pairs=True) == "10train2_left.jpeg"
    match = ingest.EYE_NAME.match(Path(training_rename("10_left.jpeg", [], eye_pairs=True)).stem)
    assert match is not None and match["patient"] == "10train"
    train = [Path("train/10_left.jpeg"), Path("train/10_right.jpeg"), Path("train/11_left.jpeg")]
    (problem,) = names_in_both(train, [Path("test/10_left.jpeg")], row_names=["10_left", "10_right", "11_left"],
                               eye_pairs=True, digests={train[0]: "aa" * 32, Path("test/10_left.jpeg"): "bb" * 32})
    assert problem.fix.startswith(
        "rename the training file and its label row, e.g. the file to 10train_left.jpeg and its row "
        "to 10train_left, and patient 10's other eye 10_right.jpeg with it, the file to "
        "10train_right.jpeg and its row to 10train_right (EyePACS names the patient before _left / "
        "_right"), problem.fix
    assert "--patient-column" in problem.fix and "keep the test file's name" in problem.fix


@pytest.mark.parametrize("row", ["0a4e1a29ffff", "0A4E1A29FFFF"])
def test_a_row_written_without_extension_is_said_renamed_without_one(row: str) -> None:
    """APTOS, EyePACS and IDRiD label rows name the image by its stem."""
    train, test = [Path("train/0a4e1a29ffff.png")], [Path("test/0a4e1a29ffff.png")]
    (problem,) = names_in_both(train, test, row_names=[row])
    assert problem.fix.startswith("rename the training file and its label row, e.g. the file to "
                                  "0a4e1a29ffff_train.png and its row to 0a4e1a29ffff_train, so each "
                                  "image name is unique"), problem.fix


def test_the_new_name_is_free_among_the_folders_and_the_label_rows(tmp_path: Path) -> None:
    """Only the listed images were compared: an image left out of the training set, another
    file of the folder or a label row could already have the name said."""
    train, test = tmp_path / "train", tmp_path / "test"
    for seed, path in enumerate((train / "042.png", train / "042_train.png", test / "042.png")):
        write_png(path, smooth_image(seed, side=8))
    (test / "042_train2.txt").write_text("a note beside the test images", encoding="utf-8")
    (problem,) = names_in_both([train / "042.png"], [test / "042.png"],  # 042_train.png: left out
                               row_names=["042.png", "042_train3.png"])
    assert "e.g. to 042_train4.png," in problem.fix, problem.fix


def test_names_matching_only_by_letter_case_are_both_said() -> None:
    train, test = [Path("train/002.PNG")], [Path("test/002.png")]
    (problem,) = names_in_both(train, test, digests={train[0]: "aa" * 32, test[0]: "bb" * 32})
    assert problem.what == ("a training and a test image share the name 002.png (002.PNG in the "
                            "training set, letter case ignored; different contents; the test image "
                            "is test/002.png)")
    assert "e.g. to 002_train.PNG," in problem.fix
    (unread,) = names_in_both(train, test)
    assert "(002.PNG in the training set, letter case ignored; the test image is" in unread.what


def test_an_eyepacs_set_renamed_as_said_keeps_the_two_eyes_in_one_fold(tmp_path: Path) -> None:
    """The review's leak: follow the fix said for an EyePACS training image whose name a test
    image has, and both eyes of the patient are still one patient, in one fold."""
    root = tmp_path / "kaggle-dr-2015"
    rows = []
    for i in range(12):
        name = f"{10 + i // 2}_{'left' if i % 2 else 'right'}"
        colour = np.dstack([smooth_image(3 * i + k, side=64) for k in range(3)])
        write_png(root / "train" / f"{name}.png", colour)
        rows.append(f"{name},{i % 3}")
    (root / "trainLabels.csv").write_text("image,level\n" + "\n".join(rows) + "\n", encoding="utf-8")
    write_png(root / "test" / "10_left.png", np.dstack([smooth_image(900 + k, side=64) for k in range(3)]))
    with pytest.raises(validate.IngestError) as refused:
        ingest.run(config(root), tmp_path / "out", verbose=False)
    (problem,) = [p for p in refused.value.problems if p.kind == SHARED_NAME_KIND]
    assert ("e.g. the file to 10train_left.png and its row to 10train_left, and patient 10's other "
            "eye 10_right.png with it, the file to 10train_right.png and its row to 10train_right") in problem.fix
    for old, new in (("10_left", "10train_left"), ("10_right", "10train_right")):
        (root / "train" / f"{old}.png").rename(root / "train" / f"{new}.png")
        rows = [f"{new}{row[len(old):]}" if row.startswith(f"{old},") else row for row in rows]
    (root / "trainLabels.csv").write_text("image,level\n" + "\n".join(rows) + "\n", encoding="utf-8")
    result = ingest.run(config(root), tmp_path / "out", verbose=False)
    with open(result.manifest_path, newline="", encoding="utf-8") as fh:
        renamed = [r for r in csv.DictReader(fh) if r["id"].startswith("10train_")]
    assert len(renamed) == 2 and {r["patient"] for r in renamed} == {"10train"}
    assert len({r["fold"] for r in renamed}) == 1
