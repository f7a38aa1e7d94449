"""Tests of ``data_prep.ingest``: layouts, validation corpus, cache, incremental re-runs,
atomic writes and folds. CPU, small synthetic images; the real DRAC samples are used where
pixel fidelity matters (skipped when the real data folder lacks them:
tests/helpers/shared_data.py)."""

from __future__ import annotations

import csv
import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import unicodedata
import zipfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from grade_fix import follow_grade_fix
from shared_data import SHARED_DATA, need
from step_clock import StepClock

from data_prep import cache, ingest, validate
from data_prep.folds import assign_folds
from data_prep.layout import (
    GROUNDTRUTH_DIR,
    IMAGES_DIR,
    LABELS_CSV_NAME,
    TASK_DIR,
    TEST_DIR,
    TEST_ROOT_DIR,
    TRAIN_DIR,
    scan_image_folder,
)
from drac_ssl.config import DataConfig

REPO = Path(__file__).resolve().parents[2]
SAMPLES = SHARED_DATA / "drac_samples"
SIZE = 64  # cache size for the synthetic tests (fast)
TWO_GRADES = ["Normal", "DR"]  # for sets of grades 0 and 1 only (DRAC's PDR would have no image)


# --------------------------------------------------------------------------------------
# Builders


def smooth_image(seed: int, side: int = 1024) -> np.ndarray:
    """A random but PNG-friendly 8-bit image (upsampled noise), distinct per seed."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (16, 16), dtype=np.uint8)
    return cv2.resize(coarse, (side, side), interpolation=cv2.INTER_LINEAR)


def write_png(path: Path, image: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)
    return path


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def official_dirs(root: Path) -> tuple[Path, Path, Path]:
    """(training images, groundtruth folder, testing images) of the official layout."""
    task = root / TASK_DIR
    return (task / IMAGES_DIR / TRAIN_DIR, task / GROUNDTRUTH_DIR,
            root / TEST_ROOT_DIR / TASK_DIR / IMAGES_DIR / TEST_DIR)


def make_plain(root: Path, grades: dict[str, int], test: tuple[str, ...] = (),
               seed: int = 0) -> Path:
    """A plain folder: one synthetic image per name, ``labels.csv``, optional ``test/``."""
    for i, name in enumerate(grades):
        write_png(root / name, smooth_image(seed + i))
    for i, name in enumerate(test):
        write_png(root / "test" / name, smooth_image(seed + 1000 + i))
    write_csv(root / "labels.csv", ["image name", "DR grade"], [[n, g] for n, g in grades.items()])
    return root


def config(root: Path, **overrides: object) -> DataConfig:
    settings: dict[str, object] = {"root": str(root), "cache_sizes": [SIZE], "n_folds": 2,
                                   "workers": 1}
    settings.update(overrides)
    return DataConfig(**settings)  # type: ignore[arg-type]


def read_manifest(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def expect_error(cfg: DataConfig, out: Path, *fragments: str) -> str:
    """Run the ingest, expect IngestError, check every fragment is in the message."""
    with pytest.raises(validate.IngestError) as caught:
        ingest.run(cfg, out, verbose=False)
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in:\n{message}"
    assert not (out / ingest.MANIFEST_NAME).exists(), "a failed ingest must write nothing"
    return message


@pytest.fixture
def real_samples() -> list[Path]:
    need(SAMPLES, "the real DRAC samples")
    return [SAMPLES / f"sample_{i}.png" for i in range(3)]


# --------------------------------------------------------------------------------------
# Layouts


@pytest.mark.parametrize("point_at", ["unzipped root", "task folder", "task folder, test inside"])
def test_official_layout_with_real_samples(tmp_path: Path, real_samples: list[Path],
                                           point_at: str) -> None:
    data = tmp_path / "DRAC"
    train_dir, truth_dir, test_dir = official_dirs(data)
    if point_at == "task folder, test inside":
        test_dir = official_dirs(data / TASK_DIR)[2]
    train_dir.mkdir(parents=True)
    for i, sample in enumerate(real_samples):
        shutil.copy(sample, train_dir / f"{i + 1:03d}.png")
    (train_dir / ".DS_Store").write_bytes(b"\x00\x01junk")
    write_csv(truth_dir / LABELS_CSV_NAME, ["image name", "DR grade"],
              [["001.png", 0], ["002.png", 1], ["003.png", 2]])
    flipped = cv2.flip(cv2.imread(str(real_samples[1]), cv2.IMREAD_UNCHANGED), 1)
    write_png(test_dir / "1000.png", flipped)

    root = data if point_at == "unzipped root" else data / TASK_DIR
    result = ingest.run(config(root, cache_sizes=[256, 512], n_folds=3), tmp_path / "out",
                        verbose=False)

    assert result.layout == "drac"
    assert (result.n_train, result.n_test) == (3, 1)
    assert result.counts_per_grade == {0: 1, 1: 1, 2: 1}
    assert any(".DS_Store" in line for line in result.notes)
    rows = read_manifest(result.manifest_path)
    assert list(rows[0]) == list(ingest.WRITTEN_COLUMNS)
    assert [r["id"] for r in rows] == ["001.png", "002.png", "003.png", "1000.png"]
    assert [r["grade"] for r in rows] == ["0", "1", "2", ""]
    assert [r["split"] for r in rows] == ["train", "train", "train", "test"]
    assert sorted(r["fold"] for r in rows[:3]) == ["0", "1", "2"] and rows[3]["fold"] == "-1"
    assert [r["cache_index"] for r in rows] == ["0", "1", "2", "3"]
    originals = [cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in real_samples] + [flipped]
    for row in rows:
        file = root / row["path"]
        assert file.is_file()
        assert row["sha256"] == hashlib.sha256(file.read_bytes()).hexdigest()
        assert (row["orig_width"], row["orig_height"], row["orig_mode"]) == ("1024", "1024", "L")
    for size, path in result.cache_paths.items():
        assert path == tmp_path / "out" / "cache" / f"{size}px.npy"
        cached = np.load(path, mmap_mode="r")
        assert cached.shape == (4, size, size) and cached.dtype == np.uint8
        for i, original in enumerate(originals):
            expected = cv2.resize(original, (size, size), interpolation=cv2.INTER_AREA)
            np.testing.assert_array_equal(cached[i], expected)


def make_drac(root: Path, n_train: int = 6, n_test: int = 2, *, train_dir: str = TRAIN_DIR,
              test_dir: str = TEST_DIR, truth_dir: str = GROUNDTRUTH_DIR, test: bool = True,
              train: bool = True) -> Path:
    """A synthetic official DRAC tree (grades 0, 1, 2 in turn), with folder names as given."""
    task = root / TASK_DIR
    if train:
        for i in range(1, n_train + 1):
            write_png(task / IMAGES_DIR / train_dir / f"{i:03d}.png", smooth_image(i))
    write_csv(task / truth_dir / LABELS_CSV_NAME, ["image name", "DR grade"],
              [[f"{i:03d}.png", i % 3] for i in range(1, n_train + 1)])
    if test:
        for i in range(n_test):
            write_png(root / TEST_ROOT_DIR / TASK_DIR / IMAGES_DIR / test_dir / f"{1500 + i}.png",
                      smooth_image(500 + i))
    return root


@pytest.mark.parametrize(("folder", "near_miss"), [
    ("train", "a. Training set"), ("train", "a.  training  set"), ("test", "b. Testing set"),
    ("truth", "2. GroundTruths"), ("task", "C. diabetic retinopathy grading")])
def test_drac_folder_names_differing_in_case_or_spacing_are_read_with_a_note(
        tmp_path: Path, folder: str, near_miss: str) -> None:
    """A trial user's 'a. Training set' (lower-case s) was taken as no training set at all
    (exit 0, 0 training images, the label CSV never mentioned), and 'b. Testing set' as no
    testing set (a finished run with no submission). Both are read, with a note naming the
    folder found and the official name."""
    names = {"train_dir": TRAIN_DIR, "test_dir": TEST_DIR, "truth_dir": GROUNDTRUTH_DIR}
    if folder != "task":
        names[f"{folder}_dir"] = near_miss
    root = make_drac(tmp_path / "DRAC", **names)
    official = {"train": TRAIN_DIR, "test": TEST_DIR, "truth": GROUNDTRUTH_DIR, "task": TASK_DIR}[folder]
    if folder == "task":
        for task in (root / TASK_DIR, root / TEST_ROOT_DIR / TASK_DIR):
            task.rename(task.parent / near_miss)
    result = ingest.run(config(root, n_folds=2), tmp_path / "out", verbose=False)
    assert (result.n_train, result.n_test) == (6, 2)
    assert result.counts_per_grade == {0: 2, 1: 2, 2: 2}
    said = [n for n in result.notes if f"read as the official '{official}'" in n]
    assert said and all(f"/{near_miss}: read as the official '{official}' (the folder name "
                        "differs only in letter case or spacing)" in n for n in said), result.notes
    assert not any("no training set" in n or "no testing set" in n for n in result.notes)


def test_a_file_holding_no_image_in_the_test_folder_is_a_note_as_in_the_export(tmp_path: Path) -> None:
    """A DRAC participant's finding (F3): a stray notes.txt in 'b. Testing Set' stopped the
    ingest ("not an image file (.txt) in an image folder", exit 2), while the export's --images
    on that folder notes it and grades the rest. The test folder's rule is the export's now; the
    training folder's stays fatal."""
    root = make_drac(tmp_path / "DRAC", n_train=3, test=False, train=False)  # small images: fast
    test_dir = root / TEST_ROOT_DIR / TASK_DIR / IMAGES_DIR / TEST_DIR
    for i, name in enumerate([*(f"{TASK_DIR}/{IMAGES_DIR}/{TRAIN_DIR}/{j:03d}.png" for j in (1, 2, 3)),
                              f"{TEST_ROOT_DIR}/{TASK_DIR}/{IMAGES_DIR}/{TEST_DIR}/1500.png",
                              f"{TEST_ROOT_DIR}/{TASK_DIR}/{IMAGES_DIR}/{TEST_DIR}/1501.png"]):
        write_png(root / name, smooth_image(i, side=64))
    (test_dir / "notes.txt").write_text("scanned on 3 May\n")
    result = ingest.run(config(root, n_folds=2, cache_sizes=[16], expected_side=64), tmp_path / "out",
                        verbose=False)
    assert result.n_test == 2
    said = [n for n in result.notes if "notes.txt" in n]
    assert said == [f"{test_dir / 'notes.txt'}: not an image file (.txt) in an image folder -> move it out "
                    "of the folder if it is not a test image"], result.notes
    (test_dir / "notes.txt").rename(root / TASK_DIR / IMAGES_DIR / TRAIN_DIR / "notes.txt")
    expect_error(config(root, n_folds=2, cache_sizes=[16], expected_side=64), tmp_path / "out2",
                 "not an image file (.txt)")


def test_a_test_image_in_a_form_not_read_in_the_test_folder_still_stops_the_ingest(tmp_path: Path) -> None:
    """A reviewer's finding: the note for a file holding no image also took a test image the
    ingest could not read: '161.png.crdownload' (a download not finished), '162.png.part',
    '163.png.gz' and a DICOM exported without extension nor preamble were notes, the test set
    silently one image short. They stay errors; 'notes.txt' alone is a note. A later review: a
    real partial download holds a PNG's first bytes, and was told to be renamed '161.png.png'."""
    from data_prep.layout import scan_image_folder

    folder = tmp_path / "test"
    folder.mkdir()
    write_png(folder / "160.png", smooth_image(0, side=16))
    (folder / "notes.txt").write_text("scanned on 3 May\n")
    for name in ("162.png.part", "163.png.gz", "164"):
        (folder / name).write_bytes(b"\x1f\x8b\x08\x00\x00\x00\x00\x00")  # 8 bytes of gzip, no image
    write_png(folder / "161.png", smooth_image(1, side=64))
    (folder / "161.png.crdownload").write_bytes((folder / "161.png").read_bytes()[:2000])
    (folder / "161.png").unlink()
    found = {Path(p.path).name: p for p in ingest.test_folder_problems(scan_image_folder(folder).problems)}
    assert {name: p.severity for name, p in found.items()} == {
        "notes.txt": "note", "161.png.crdownload": "error", "162.png.part": "error", "163.png.gz": "error",
        "164": "error"}, found
    for name in ("161.png.crdownload", "163.png.gz"):
        assert found[name].fix.startswith(f"{name[:7]} with one more suffix: a download not finished"), found[name]


def test_two_folders_matching_one_official_name_are_an_error_naming_both(tmp_path: Path) -> None:
    root = make_drac(tmp_path / "DRAC", train_dir="a. Training set")
    (root / TASK_DIR / IMAGES_DIR / "a. training Set").mkdir()
    message = expect_error(config(root), tmp_path / "out",
                           "2 folders ('a. Training set', 'a. training Set') differ from the "
                           "official 'a. Training Set' only in letter case or spacing",
                           "keep one, named 'a. Training Set'")
    assert str(root / TASK_DIR / IMAGES_DIR) in message
    # beside the exact name, a near miss is ignored with a note (its images are not read)
    (root / TASK_DIR / IMAGES_DIR / "a. training Set").rmdir()
    (root / TASK_DIR / IMAGES_DIR / "a. Training set").rename(root / TASK_DIR / IMAGES_DIR / TRAIN_DIR)
    (root / TASK_DIR / IMAGES_DIR / "a. Training  Set").mkdir()
    result = ingest.run(config(root), tmp_path / "out", verbose=False)
    assert result.n_train == 6
    assert any("a. Training  Set: folder ignored: its name differs from the official "
               "'a. Training Set' only in letter case or spacing" in n for n in result.notes)


def test_a_label_csv_without_a_training_folder_is_an_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The label CSV in '2. Groundtruths' and no training folder: an error (non-zero exit,
    nothing written) saying what was looked for and where, never a note and exit 0."""
    root = make_drac(tmp_path / "DRAC", train=False)
    (root / TASK_DIR / IMAGES_DIR / "train").mkdir(parents=True)
    assert ingest_cli(root, tmp_path / "out", "--folds", "2") == 2
    err = capsys.readouterr().err
    images = root / TASK_DIR / IMAGES_DIR
    assert (f"{root / TASK_DIR / GROUNDTRUTH_DIR / LABELS_CSV_NAME}: a training-label CSV, but no "
            f"'{TRAIN_DIR}' folder of training images in {images} (it holds 'train') -> put the "
            f"training images in '{images / TRAIN_DIR}'") in err, err
    assert not (tmp_path / "out" / ingest.MANIFEST_NAME).exists()
    # without the CSV it is the testing set alone, said in a note that names where it looked
    shutil.rmtree(root / TASK_DIR / GROUNDTRUTH_DIR)
    result = ingest.run(config(root), tmp_path / "out", verbose=False)
    assert (result.n_train, result.n_test) == (0, 2)
    (line,) = [n for n in result.notes if "no training set found" in n]
    assert f"no '{TRAIN_DIR}' folder of training images in {images} (it holds 'train')" in line


def test_a_missing_testing_set_says_where_it_looked_and_where_it_goes(tmp_path: Path) -> None:
    """The note's fix said 'unzip the testing set as DRAC2022_Testing_Set' also when that
    folder was there, its test folder misnamed."""
    root = make_drac(tmp_path / "DRAC", test=False)
    result = ingest.run(config(root), tmp_path / "out", verbose=False)
    (line,) = [n for n in result.notes if "no testing set found" in n]
    images = root / TASK_DIR / IMAGES_DIR
    assert (f"no '{TEST_DIR}' folder of test images in {images} (it holds '{TRAIN_DIR}') -> "
            f"unzip the testing set into {root}, so that '{TEST_ROOT_DIR}/{TASK_DIR}/{IMAGES_DIR}/"
            f"{TEST_DIR}' holds the test images") in line, line
    test_images = root / TEST_ROOT_DIR / TASK_DIR / IMAGES_DIR
    (test_images / "b. Test images").mkdir(parents=True)  # not a near miss: named, with its place
    result = ingest.run(config(root), tmp_path / "out", verbose=False)
    (line,) = [n for n in result.notes if "no testing set found" in n]
    assert f"{test_images} (it holds 'b. Test images')" in line
    assert f"-> put the test images in '{test_images / TEST_DIR}'" in line
    assert "unzip the testing set" not in line


def test_a_testing_set_unzipped_after_the_ingest_is_a_change_a_resume_hears_of(tmp_path: Path) -> None:
    """A review: the DRAC testing set unzipped after an ingest that found none; the resume's
    data check said nothing, and the resumed run silently wrote no submission."""
    from data_prep.source_check import source_changes

    root = make_drac(tmp_path / "DRAC", test=False)
    out = tmp_path / "out"
    ingest.run(config(root), out, verbose=False)
    assert source_changes(out) == []
    make_drac(tmp_path / "DRAC", n_test=2)  # the testing set arrives (the rest rewritten alike)
    (change,) = [c for c in source_changes(out) if "testing set" in c]
    assert change.startswith(f"a testing set appeared in {root / TEST_ROOT_DIR / TASK_DIR / IMAGES_DIR / TEST_DIR}")
    assert "(2 images; the ingest found none, so this run grades no test images and writes no submission)" in change
    ingest.run(config(root), out, verbose=False)  # ingested: no longer a change
    assert not [c for c in source_changes(out) if "testing set" in c]


def test_a_label_edited_while_the_ingest_runs_is_a_change_the_resume_hears_of(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A review: the label CSV was stamped when the summary was written, after it was read, so
    a grade fixed meanwhile was recorded as ingested and no resume ever said otherwise."""
    from data_prep.source_check import source_changes

    data = make_plain(tmp_path / "d", {"a.png": 0, "b.png": 1, "c.png": 0, "d.png": 1})
    write = ingest._write

    def edit_then_write(*args: object, **kwargs: object) -> object:
        write_csv(data / "labels.csv", ["image name", "DR grade"], [["a.png", 1], ["b.png", 1], ["c.png", 0], ["d.png", 1]])
        return write(*args, **kwargs)

    monkeypatch.setattr(ingest, "_write", edit_then_write)
    out = tmp_path / "out"
    ingest.run(config(data), out, verbose=False)
    assert read_manifest(out / ingest.MANIFEST_NAME)[0]["grade"] == "0"  # as read
    assert source_changes(out) == [f"the label CSV {data / 'labels.csv'} was edited"]


def test_plain_layout_with_custom_columns(tmp_path: Path) -> None:
    data = tmp_path / "plain"
    names = [f"img{i}.png" for i in range(1, 7)]
    for i, name in enumerate(names):
        write_png(data / name, smooth_image(i))
    write_png(data / "test" / "t1.png", smooth_image(100))
    grades = [0, 0, 1, 1, 2, 2]
    write_csv(data / "grades.csv", ["file", "severity", "subject"],
              [[n, g, f"p{i // 2}"] for i, (n, g) in enumerate(zip(names, grades, strict=True))])

    result = ingest.run(config(data, image_column="file", grade_column="severity",
                               patient_column="subject"), tmp_path / "out", verbose=False)

    assert result.layout == "plain"
    assert (result.n_train, result.n_test) == (6, 1)
    rows = read_manifest(result.manifest_path)
    train = [r for r in rows if r["split"] == "train"]
    assert [r["id"] for r in train] == names  # natural order
    assert [int(r["grade"]) for r in train] == grades
    assert [r["patient"] for r in train] == ["p0", "p0", "p1", "p1", "p2", "p2"]
    assert rows[-1]["id"] == "t1.png" and rows[-1]["path"] == "test/t1.png"
    assert rows[-1]["fold"] == "-1" and rows[-1]["grade"] == ""
    for patient in ("p0", "p1", "p2"):
        assert len({r["fold"] for r in train if r["patient"] == patient}) == 1


def test_a_test_image_name_the_export_would_refuse_stops_the_ingest(tmp_path: Path) -> None:
    """Review s58r3 F3: test images ``-1.png``, ``=2.png``, ``a,b.png`` were ingested, their
    names unchecked, and the export refused them as cases only after the whole training. The
    ingest now says each (path, why, a free name to rename it to) and writes nothing; the
    training images' names are no cases and pass."""
    root = make_plain(tmp_path / "plain", {"-001.png": 0, "002.png": 1, "003.png": 0, "004.png": 1},
                      test=("-1.png", "=2.png", "a,b.png", "ok.png", "1.png"))
    message = expect_error(config(root), tmp_path / "out", str(root / "test" / "-1.png"),
                           "starts with '-'", "rename it, e.g. to '1_2.png'",
                           str(root / "test" / "=2.png"), "rename it, e.g. to '2.png'",
                           str(root / "test" / "a,b.png"), "contains a comma",
                           "rename it, e.g. to 'a_b.png'")
    assert "ok.png" not in message and "-001.png" not in message, message


def test_csv_names_without_extension(tmp_path: Path) -> None:
    data = make_plain(tmp_path / "d", {"001.png": 0, "002.png": 1})
    write_csv(data / "labels.csv", ["image name", "DR grade"], [["001", 0], ["002", 1]])
    result = ingest.run(config(data), tmp_path / "out", verbose=False)
    assert [r["grade"] for r in read_manifest(result.manifest_path)] == ["0", "1"]


def test_natural_order_and_summary(tmp_path: Path) -> None:
    data = make_plain(tmp_path / "d", {"1000.png": 0, "999.png": 1, "010.png": 0, "2.png": 1})
    result = ingest.run(config(data, grades=TWO_GRADES), tmp_path / "out", verbose=False)
    assert [r["id"] for r in read_manifest(result.manifest_path)] == \
        ["2.png", "010.png", "999.png", "1000.png"]
    summary = ingest.format_summary(result)
    assert "fold 0" in summary and "fold 1" in summary and "warnings: 0" in summary
    assert result.summary_path.is_file()


# --------------------------------------------------------------------------------------
# Validation corpus: each defect gives its message


def _truncated(root: Path) -> Path:
    path = root / "002.png"
    path.write_bytes(path.read_bytes()[:-200])
    return path


def _text_as_png(root: Path) -> Path:
    path = root / "002.png"
    path.write_text("this is not a PNG\n")
    return path


def _non_image(root: Path) -> Path:
    path = root / "notes.txt"
    path.write_text("scan notes")
    return path


def _unlabelled(root: Path) -> Path:
    return write_png(root / "009.png", smooth_image(99))


def _label_without_image(root: Path) -> Path:
    (root / "003.png").unlink()
    return root / "labels.csv"


def _duplicate_name(root: Path) -> Path:
    return write_png(root / "001.PNG", smooth_image(55))


def _repeated_row(root: Path) -> Path:
    with open(root / "labels.csv", "a", encoding="utf-8") as fh:
        fh.write("002.png,2\n")  # another grade: a row written again as it was is a warning
    return root / "labels.csv"


def _rewrite_grade(value: str) -> Callable[[Path], Path]:
    def edit(root: Path) -> Path:
        text = (root / "labels.csv").read_text().replace("002.png,1", f"002.png,{value}")
        (root / "labels.csv").write_text(text)
        return root / "labels.csv"
    return edit


def _identical(root: Path) -> Path:
    shutil.copy(root / "001.png", root / "004.png")
    with open(root / "labels.csv", "a", encoding="utf-8") as fh:
        fh.write("004.png,0\n")
    return root / "004.png"


def _in_both_splits(root: Path) -> Path:
    return write_png(root / "test" / "002.png", smooth_image(77))


def _identical_across_splits(root: Path) -> Path:
    (root / "test").mkdir()
    return Path(shutil.copy(root / "003.png", root / "test" / "900.png"))


CORPUS = {
    "truncated png": (_truncated, ["truncated PNG"]),
    "text file named .png": (_text_as_png, ["not an image (it holds plain text)"]),
    "non-image file": (_non_image, ["not an image file (.txt)", "move it out"]),
    "image without label": (_unlabelled, ["image without label"]),
    "label without image": (_label_without_image, ["label without image: 003.png"]),
    "duplicate name": (_duplicate_name, ["duplicate name", "001.PNG"]),
    "repeated csv row": (_repeated_row, ["002.png is listed 2 times"]),
    "grade 3": (_rewrite_grade("3"), ["grade 3 of 002.png is outside {0, 1, 2}"]),
    "grade x": (_rewrite_grade("x"), ["grade 'x' of 002.png is not an integer"]),
    # a blank or NA cell is an ungraded image, not a scale problem: its fix names no --grades
    "empty grade": (_rewrite_grade(""), ["002.png has no grade (an empty cell; an ungradable image?)",
                                         "delete the row and move the image out of the folder"]),
    "NA grade": (_rewrite_grade("NA"), ["002.png has no grade ('NA'; an ungradable image?)"]),
    "byte-identical": (_identical, ["byte-identical", "001.png", "004.png"]),
    "same name in train and test": (_in_both_splits, ["a training and a test image share the name "
                                                      "002.png (different contents"]),
    "same image in train and test": (_identical_across_splits,
                                     ["in both the training and the test set", "900.png"]),
}


@pytest.mark.parametrize("case", list(CORPUS))
def test_bad_input_is_reported(tmp_path: Path, case: str) -> None:
    data = make_plain(tmp_path / "d", {"001.png": 0, "002.png": 1, "003.png": 2})
    defect, fragments = CORPUS[case]
    where = defect(data)
    message = expect_error(config(data), tmp_path / "out", *fragments)
    assert f"{where}" in message  # the line names the file (or the CSV)
    assert " -> " in message  # ... and says what to do


def test_all_problems_collected_in_one_pass(tmp_path: Path) -> None:
    data = make_plain(tmp_path / "d", {"001.png": 0, "002.png": 1, "003.png": 2})
    for defect in (_truncated, _non_image, _unlabelled, _rewrite_grade("7")):
        defect(data)
    # the folder listing's and the label CSV's problems stop the ingest before any image is
    # decoded (a trial: 6 minutes of decoding 1,500 images before 'image without label'),
    # all of them at once; the truncated PNG is told by decoding, on the rerun
    message = expect_error(config(data), tmp_path / "out", "not an image file",
                           "image without label", "grade 7", "not opened yet")
    assert "3 problem(s)" in message and "truncated PNG" not in message
    (data / "notes.txt").unlink()
    (data / "009.png").unlink()
    (data / "labels.csv").write_text((data / "labels.csv").read_text().replace("002.png,7", "002.png,1"))
    message = expect_error(config(data), tmp_path / "out", "truncated PNG")
    assert "1 problem(s)" in message


def test_a_repeated_row_shows_its_grades_as_the_csv_writes_them(tmp_path: Path) -> None:
    """A row repeated with an out-of-range grade: the repeat shows the grades as written, in
    file order ([0, 7], not [None, 0]), and the bad grade keeps its own error at its line."""
    data = make_plain(tmp_path / "d", {"001.png": 0, "002.png": 1, "003.png": 2})
    csv_path = data / "labels.csv"
    with open(csv_path, "a", encoding="utf-8") as fh:
        fh.write("001.png,7\n")  # line 5; line 2 gives 001.png grade 0
    message = expect_error(config(data), tmp_path / "out")
    assert (f"{csv_path}:5: 001.png is listed 2 times (lines 2, 5) with conflicting grades "
            "['0', '7'] -> keep exactly one row per image") in message
    assert f"{csv_path}:5: grade 7 of 001.png is outside {{0, 1, 2}}" in message
    # the same grade written two ways is no conflict; two bad cells that differ are one
    csv_path.write_text("image name,DR grade\n001.png,0\n002.png,1\n003.png,2\n002.png,1.0\n"
                        "003.png,x\n003.png,9\n")
    message = expect_error(config(data), tmp_path / "out")
    assert f"{csv_path}:5: 002.png is listed 2 times (lines 3, 5) with grade 1 on both (written '1', '1.0') -> keep" in message
    assert "003.png is listed 3 times (lines 4, 6, 7) with conflicting grades ['2', 'x', '9']" in message


def test_a_repeated_row_with_the_same_grade_names_the_grade(tmp_path: Path) -> None:
    """A new-user review found agreeing grades unsaid ('pt07_OD.png is listed 2 times (lines
    16, 32) -> keep exactly one row per image'): the grade is said, so the user sees that
    deleting either row loses nothing. A row written again exactly (same name, grade cell and
    patient) is now a warning that keeps the first row (an OCTA researcher's review F6: a hand
    edit for nothing lost); the grade written another way (1 and 1.0) stays an error."""
    data = make_plain(tmp_path / "d", {"001.png": 0, "002.png": 1, "003.png": 2})
    csv_path = data / "labels.csv"
    with open(csv_path, "a", encoding="utf-8") as fh:
        fh.write("002.png,1\n003.png,2\n003.png,2\n002.png,1.0\n")  # lines 5, 6, 7, 8
    message = expect_error(config(data), tmp_path / "out")
    assert (f"{csv_path}:5: 002.png is listed 3 times (lines 3, 5, 8) with grade 1 on all 3 (written "
            "'1', '1', '1.0') -> keep exactly one row per image") in message, message
    assert "1 problem(s) must be fixed" in message, message  # 003.png's rows are identical: a warning
    assert ("warnings (converted or not honoured; fatal with --strict): 1\n  "
            f"{csv_path}:6: 003.png is listed 3 times (lines 4, 6, 7) with grade 2 on all 3, the rows "
            "identical") in message, message
    csv_path.write_text("image name,DR grade\n001.png,0\n002.png,1\n003.png,2\n002.png,1\n"
                        "003.png,2\n003.png,2\n")
    result = ingest.run(config(data), tmp_path / "out", verbose=False)
    assert f"{csv_path}:5: 002.png is listed 2 times (lines 3, 5) with grade 1 on both, the rows identical: " \
           "the first is kept, line 5 left out -> nothing to do; delete line 5 to silence this" in result.warnings
    assert any(w.startswith(f"{csv_path}:6: 003.png is listed 3 times (lines 4, 6, 7) with grade 2 on "
                            "all 3, the rows identical: the first is kept, lines 6, 7 left out")
               for w in result.warnings), result.warnings
    rows = read_manifest(result.manifest_path)
    assert [(r["id"], r["grade"]) for r in rows] == [("001.png", "0"), ("002.png", "1"), ("003.png", "2")]
    expect_error(config(data, strict=True), tmp_path / "strict", "002.png is listed 2 times",
                 "rejected by --strict")
    # rows that agree on an empty grade cell say so in words, not as grade ''
    csv_path.write_text("image name,DR grade\n001.png,0\n002.png,1\n003.png,\n003.png,\n003.png,\n")
    message = expect_error(config(data), tmp_path / "empty")
    assert ("003.png is listed 3 times (lines 4, 5, 6) with no grade (empty cells) on all 3 -> keep"
            in message), message
    assert "grade ''" not in message, message


@pytest.mark.parametrize("spelling, grade", [("1", "2"), ("001", "2"), ("1", "0")])
def test_two_rows_naming_one_image_in_different_spellings_are_an_error(
        tmp_path: Path, spelling: str, grade: str) -> None:
    """``001.png,0`` and ``1,2`` (a spreadsheet ate the leading zeros) or ``001,2`` (no
    extension) name one image: the ingest kept the first row's grade without a word. Now it
    is an error at the second row naming both lines, both spellings and both grades, with the
    other problems of the pass (here a row without its image), whether the grades differ or
    not."""
    data = make_plain(tmp_path / "d", {"001.png": 0, "002.png": 1, "003.png": 2})
    csv_path = data / "labels.csv"
    with open(csv_path, "a", encoding="utf-8") as fh:
        fh.write(f"{spelling},{grade}\n")  # line 5
        fh.write("009.png,1\n")  # line 6: no image, reported in the same pass
    message = expect_error(config(data), tmp_path / "out", "label without image: 009.png")
    clash = " with conflicting grades ['0', '2']" if grade != "0" else ""
    assert (f"{csv_path}:5: 001.png is named by 2 rows spelled differently (line 2 '001.png' "
            f"grade 0, line 5 '{spelling}' grade {grade}){clash} -> keep exactly one row per "
            "image: delete line 2 or line 5") in message
    assert "2 problem(s)" in message


def test_rows_naming_one_image_in_three_spellings_and_a_repeat_are_each_said_once(
        tmp_path: Path) -> None:
    """An exact repeat (any case) stays duplicate_label_rows' 'listed N times'; a third
    spelling joins the other error, which then names every row of the image."""
    data = make_plain(tmp_path / "d", {"001.png": 0, "002.png": 1, "003.png": 2})
    csv_path = data / "labels.csv"
    with open(csv_path, "a", encoding="utf-8") as fh:
        fh.write("002.PNG,1\n1,2\n001,0\n")  # lines 5, 6, 7
    message = expect_error(config(data), tmp_path / "out")
    assert f"{csv_path}:5: 002.png is listed 2 times (lines 3, 5) with grade 1 on both; spelt 002.png / 002.PNG -> keep" in message
    assert "002.png is named by" not in message
    assert (f"{csv_path}:6: 001.png is named by 3 rows spelled differently (line 2 '001.png' "
            "grade 0, line 6 '1' grade 2, line 7 '001' grade 0) with conflicting grades "
            "['0', '2', '0'] -> keep exactly one row per image: delete all but one of lines 2, 6, 7"
            ) in message


def test_an_ungradable_row_in_another_spelling_of_a_labelled_image_is_an_error(
        tmp_path: Path) -> None:
    """With --ungradable leave_out a row ``1,NA`` would leave out 001.png, which ``001.png,0``
    grades: the two rows are named together, and 001.png stays to be matched (its graded row
    is not called a label without image)."""
    data = make_plain(tmp_path / "d", {"001.png": 0, "002.png": 1, "003.png": 1, "004.png": 0})
    csv_path = data / "labels.csv"
    with open(csv_path, "a", encoding="utf-8") as fh:
        fh.write("1,NA\n")  # line 6
    message = expect_error(config(data, grades=TWO_GRADES, ungradable="leave_out"),
                           tmp_path / "out",
                           f"{csv_path}:6: 001.png is named by 2 rows spelled differently (line 2 "
                           "'001.png' grade 0, line 6 '1' grade NA) with conflicting grades "
                           "['0', 'NA']")
    assert "1 problem(s)" in message and "label without image" not in message


@pytest.mark.parametrize("file_form, csv_form", [("NFD", "NFC"), ("NFC", "NFD")])
def test_a_name_in_another_unicode_form_matches_its_image(
        tmp_path: Path, file_form: str, csv_form: str) -> None:
    """``é04.png`` written in NFC in the CSV and stored in NFD (as macOS writes names) gave
    'label without image: é04.png ... did you mean é04.png?'. Names match whatever their
    Unicode form; the manifest keeps the file's own name (the one that opens it)."""
    data = make_plain(tmp_path / "d", {"001.png": 0, "002.png": 1})
    stored = unicodedata.normalize(file_form, "é04.png")
    written = unicodedata.normalize(csv_form, "é04.png")
    assert stored != written
    write_png(data / stored, smooth_image(9))
    with open(data / "labels.csv", "a", encoding="utf-8") as fh:
        fh.write(f"{written},1\n")
    result = ingest.run(config(data, grades=TWO_GRADES), tmp_path / "out", verbose=False)
    rows = {r["id"]: r for r in read_manifest(result.manifest_path)}
    assert set(rows) == {"001.png", "002.png", stored} and rows[stored]["grade"] == "1"
    assert (data / rows[stored]["id"]).is_file()

    # both forms stored side by side are two files for one name
    write_png(data / written, smooth_image(10))
    expect_error(config(data, grades=TWO_GRADES), tmp_path / "out2", "duplicate name", stored,
                 written)


def test_a_typo_in_a_label_row_pairs_the_row_with_the_image_it_likely_names(tmp_path: Path) -> None:
    """A CSV with 0l7.png for 017.png gave two unrelated lines (a label without image, an
    image without label). Now the row's fix asks 'did you mean 017.png?' and the image's line
    names the row; names that differ only by case, extension or leading zeros pair too, while
    an unrelated row and image stay unpaired."""
    root = make_plain(tmp_path / "d", {"001.png": 0, "002.png": 1, "017.png": 2, "5.jpg": 1,
                                       "abc.png": 0})
    csv_path = write_csv(root / "labels.csv", ["image name", "DR grade"],
                         [["001.png", 0], ["002.png", 1], ["0l7.png", 2], ["005.png", 1],
                          ["zzz_unrelated.png", 0]])
    message = expect_error(config(root), tmp_path / "out")
    assert (f"{csv_path}:4: label without image: 0l7.png is not in {root} -> did you mean "
            f"017.png? (the image 017.png has no row)") in message, message
    assert (f"{root / '017.png'}: image without label: no row for 017.png in labels.csv; "
            f"line 4 names 0l7.png: a typo? -> ") in message, message
    assert (f"{csv_path}:5: label without image: 005.png is not in {root} -> did you mean "
            f"5.jpg? (the image 5.jpg has no row)") in message, message
    assert "line 5 names 005.png: a typo?" in message, message
    # no close name: the plain messages
    assert (f"{csv_path}:6: label without image: zzz_unrelated.png is not in {root} -> add the "
            "image or delete the row") in message, message
    assert (f"{root / 'abc.png'}: image without label: no row for abc.png in labels.csv -> add "
            "a row") in message, message
    assert message.count("did you mean") == 2 and message.count("a typo?") == 2, message


def test_the_images_of_an_ambiguous_row_are_neither_unlabelled_nor_offered_to_a_typo(tmp_path: Path) -> None:
    """Review s52 F1/F2: a row 'eye06' (no extension) beside eye06.png and eye06.jpg gave, besides
    its one error, 'image without label' for both files ('add a row with its grade': a second row
    for one image), and a missing eye05.png's row was told 'did you mean eye06.png? (the image
    eye06.png has no row): write eye06.png in the row', so doing as told graded eye06.png 1
    instead of the 2 its own row gives. The candidates of an ambiguous row are that row's: one
    error says so, and no other row is offered them."""
    root = make_plain(tmp_path / "d", {"eye01.png": 0, "eye02.png": 1, "eye06.png": 2,
                                       "eye06.jpg": 2, "eye07.png": 0})
    csv_path = write_csv(root / "labels.csv", ["image name", "DR grade"],
                         [["eye01.png", 0], ["eye02.png", 1], ["eye05.png", 1], ["eye06", 2],
                          ["eye07.png", 0]])
    message = expect_error(config(root), tmp_path / "out")
    assert f"{csv_path}:5: eye06 (no extension) matches 2 images: eye06.jpg, eye06.png" in message, message
    assert "image without label" not in message, message
    assert "did you mean" not in message and "a typo?" not in message, message
    assert f"{csv_path}:4: label without image: eye05.png is not in {root} -> add the image" in message, message


def test_a_row_that_names_one_of_two_case_variants_exactly_is_not_said_to_match_the_other(
        tmp_path: Path) -> None:
    """Review s52 F3: with eye01.png and EYE01.png in one folder (a duplicate name, fatal), the
    row 'eye01.png' was noted as matched 'only by ignoring letter case (e.g. eye01.png ->
    EYE01.png) -> nothing to do', beside the error that says to keep one file. A row that
    names a file exactly gets no case note."""
    root = make_plain(tmp_path / "d", {"eye01.png": 0, "eye02.png": 1})
    write_png(root / "EYE01.png", smooth_image(11))
    with pytest.raises(validate.IngestError) as caught:
        ingest.run(config(root), tmp_path / "out", verbose=False)
    said = [p.line for p in caught.value.problems]
    assert any("duplicate name" in line for line in said), said
    assert not any("letter case" in line for line in said), said


def test_a_label_csv_of_other_images_gets_no_spelling_guesses(tmp_path: Path) -> None:
    """A CSV written for another folder (img_001..img_012 beside img_101..img_112) had every
    row 'paired' by spelling with an unrelated image: twelve wrong 'did you mean' guesses.
    A typo is a few rows; when many rows lack their image the guesses are left out and the
    summary asks whether this is the CSV of these images."""
    root = make_plain(tmp_path / "d", {f"img_{100 + i + 1:03d}.png": i % 3 for i in range(12)})
    csv_path = write_csv(root / "labels.csv", ["image name", "DR grade"],
                         [[f"img_{i + 1:03d}.png", i % 3] for i in range(12)])
    message = expect_error(config(root), tmp_path / "out")
    assert f"{csv_path}:2: label without image: img_001.png is not in {root}" in message, message
    assert "did you mean" not in message and "a typo?" not in message, message
    assert "is labels.csv the label CSV of these images?" in message, message


def test_many_label_rows_without_images_print_ten_a_count_and_a_summary(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The official 611-row label CSV beside 3 images printed 608 identical error lines and no
    summary. Now: the first 10 of the kind, one line with the count and a summary that says
    what is likely wrong, and every line in ingest_problems.txt (the only file written);
    IngestError.problems keeps them all."""
    root = make_plain(tmp_path / "d", {"001.png": 0, "002.png": 1, "003.png": 2})
    with open(root / "labels.csv", "a", encoding="utf-8") as fh:
        fh.writelines(f"{i:03d}.png,{i % 3}\n" for i in range(4, 41))  # 37 rows without an image
    out = tmp_path / "out"
    with pytest.raises(validate.IngestError) as caught:
        ingest.run(config(root), out, verbose=False)
    assert sum("label without image" in p.what for p in caught.value.problems) == 37
    assert ingest_cli(root, out, "--folds", "2") == 2
    err = capsys.readouterr().err
    assert err.count("label without image") == 10, err
    listed = out / ingest.PROBLEMS_NAME
    assert (f"  ... and 27 more 'no-image' error(s) of this kind: 37 of the 40 label rows have no "
            f"image in {root} (3 images there): is the training set fully unzipped there? To train on "
            f"the images that are there, rerun with --missing leave_out (the rows without an image are "
            f"then left out, listed in ingest_summary.json) (all "
            f"listed in {listed})") in err, err
    assert "ingest of" in err and "37 problem(s) must be fixed first" in err
    full = listed.read_text(encoding="utf-8")
    assert full.count("label without image") == 37 and "labels.csv:41: label without image: 040.png" in full
    assert sorted(p.name for p in out.iterdir()) == [ingest.PROBLEMS_NAME]  # no manifest, no cache
    # fixed, the ingest succeeds and the stale list goes
    (root / "labels.csv").write_text("image name,DR grade\n001.png,0\n002.png,1\n003.png,2\n")
    assert ingest_cli(root, out, "--folds", "2") == 0
    assert not listed.exists() and (out / ingest.MANIFEST_NAME).exists()


@pytest.mark.parametrize(("header", "fragments"), [
    (["image name", "DR_grade"], ["no grade column 'DR grade'", "'image name', 'DR_grade'",
                                  "did you mean 'DR_grade'", "--grade-column"]),
    (["Image", "DR grade"], ["no image-name column 'image name'", "did you mean 'Image'",
                             "--image-column"]),
])
def test_misnamed_column_suggests_closest(tmp_path: Path, header: list[str],
                                          fragments: list[str]) -> None:
    data = make_plain(tmp_path / "d", {"001.png": 0, "002.png": 1})
    write_csv(data / "labels.csv", header, [["001.png", 0], ["002.png", 1]])
    expect_error(config(data), tmp_path / "out", *fragments)


def test_missing_root_and_missing_csv(tmp_path: Path) -> None:
    expect_error(config(tmp_path / "nowhere"), tmp_path / "out", "nowhere: data root path does not exist", "--root")
    # a MedMNIST archive or a CSV is a file, never "folder" (trial finding F7)
    for name in ("retinamnist.npz", "labels.CSV"):
        expect_error(config(tmp_path / name), tmp_path / "out", f"{name}: data root file does not exist", "--root")
    data = make_plain(tmp_path / "d", {"001.png": 0, "002.png": 1})
    (data / "labels.csv").unlink()
    expect_error(config(data), tmp_path / "out", "no label CSV", "--labels-csv")


def _rgb(path: Path) -> np.ndarray:
    image = np.dstack([smooth_image(5), smooth_image(6), smooth_image(7)])
    write_png(path, image)
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def _sixteen_bit(path: Path) -> np.ndarray:
    image = smooth_image(8).astype(np.uint16) * 257
    write_png(path, image)
    return smooth_image(8)


def _small(path: Path) -> np.ndarray:
    image = smooth_image(9, side=512)
    write_png(path, image)
    return image


CONVERSIONS = {"rgb": (_rgb, "RGB image"),
               # a 16-bit file among 8-bit ones: the set's depths differ (one line for the set);
               # its values are 8-bit ones x 257, read exactly (data_prep.decode.X257_WORDS)
               "16-bit": (_sixteen_bit, "1 file is 16-bit grey read as 8-bit data, 8-bit values, "
                                        "divided by 257 where stored x257"),
               "512x512": (_small, "size 512x512")}


@pytest.mark.parametrize("kind", list(CONVERSIONS))
def test_conversions_warn_and_strict_rejects(tmp_path: Path, kind: str) -> None:
    data = make_plain(tmp_path / "d", {"001.png": 0, "002.png": 1})
    make, fragment = CONVERSIONS[kind]
    gray = make(data / "002.png")

    # channels=1: the UW-OCTA conversions (a plain folder's default is auto, which keeps an
    # RGB file's colour); a plain folder expects no size unless --expected-side says one
    result = ingest.run(config(data, grades=TWO_GRADES, channels="1", expected_side=1024),
                        tmp_path / "out", verbose=False)
    assert len(result.warnings) == 1 and fragment in result.warnings[0], result.warnings
    cached = np.load(result.cache_paths[SIZE])
    np.testing.assert_array_equal(
        cached[1], cv2.resize(gray, (SIZE, SIZE), interpolation=cv2.INTER_AREA))

    expect_error(config(data, grades=TWO_GRADES, strict=True, channels="1", expected_side=1024),
                 tmp_path / "strict", fragment, "rejected by --strict")


def test_a_blank_image_is_ingested_with_a_warning_and_strict_rejects_it(
        tmp_path: Path, count_decodes: Counter[str]) -> None:
    """An all-black training image and a constant test image were ingested without a word,
    while the app and the export call such an image blank (validate.is_blank). Each gets a
    warning naming it; both stay in the manifest; the check reads the pixels already decoded
    (one decode per file) and its finding is cached with the file's other findings."""
    data = make_plain(tmp_path / "d", {"001.png": 0, "002.png": 1, "003.png": 0},
                      test=("900.png", "901.png"))
    write_png(data / "003.png", np.zeros((1024, 1024), np.uint8))
    write_png(data / "test" / "901.png", np.full((1024, 1024), 180, np.uint8))
    cfg = config(data, grades=TWO_GRADES)
    result = ingest.run(cfg, tmp_path / "out", verbose=False)
    assert count_decodes["decodes"] == 5
    blank = [w for w in result.warnings if "blank" in w]
    assert len(blank) == 2 and len(result.warnings) == 2, result.warnings
    assert blank[0].startswith(f"{data / '003.png'}: blank or near-constant image (grey levels "
                               "0..0, std 0.0): the app and the export would call it blank")
    assert blank[1].startswith(f"{data / 'test' / '901.png'}: blank or near-constant image "
                               "(grey levels 180..180")
    assert {r["id"] for r in read_manifest(result.manifest_path)} == \
        {"001.png", "002.png", "003.png", "900.png", "901.png"}
    again = ingest.run(cfg, tmp_path / "out", verbose=False)  # rows and findings reused
    assert count_decodes["decodes"] == 5 and again.warnings == result.warnings

    expect_error(config(data, grades=TWO_GRADES, strict=True), tmp_path / "strict",
                 f"{data / '003.png'}: blank or near-constant image", "rejected by --strict",
                 "901.png")


def _blank_by_definition(image: np.ndarray) -> bool:
    """validate.is_blank as first written, with np.std and np.percentile on the sample."""
    grey = image if image.ndim == 2 else image.mean(axis=2)
    h, w = grey.shape[:2]
    sample = grey[:: max(1, h // 512), :: max(1, w // 512)]
    lo, hi = np.percentile(sample, [1, 99])
    return bool(float(sample.std()) < validate.BLANK_STD or hi - lo < validate.BLANK_RANGE)


def test_is_blank_from_a_histogram_gives_the_verdict_of_its_definition() -> None:
    """is_blank reads the sample's histogram (the ingest runs it on every image it decodes, so
    it must cost next to nothing) and must say what np.std and np.percentile say, near both
    thresholds too: a spread of noise around the std and the percentile range, outliers just
    inside and outside the 1 % tails, colour (the channel mean), odd sizes, 1024 x 1024."""
    rng = np.random.default_rng(0)
    images: list[np.ndarray] = [np.zeros((1024, 1024), np.uint8), smooth_image(3)]
    for amplitude in range(0, 14):  # uniform noise of width amplitude: std ~ amplitude / 3.5
        images.append((100 + rng.integers(0, amplitude + 1, (300, 517))).astype(np.uint8))
        images.append((100 + rng.integers(0, amplitude + 1, (1031, 777, 3))).astype(np.uint8))
    for share in (0.005, 0.009, 0.0101, 0.011, 0.02, 0.2):  # bright outliers on grey 50
        image = np.full((200, 200), 50, np.uint8)
        image.flat[rng.choice(image.size, int(share * image.size), replace=False)] = 250
        images.append(image)
    images.append(np.dstack([np.full((64, 64), v, np.uint8) for v in (10, 13, 19)]))  # no spread
    verdicts = [validate.is_blank(image) for image in images]
    assert verdicts == [_blank_by_definition(image) for image in images]
    assert True in verdicts and False in verdicts


def test_cli_reports_without_traceback(tmp_path: Path) -> None:
    data = make_plain(tmp_path / "d", {"001.png": 0, "002.png": 1, "003.png": 2})
    _truncated(data)  # told by decoding (a label CSV's error stops the ingest before it)
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", "data_prep", "ingest", "--root", str(data), "--out",
         str(tmp_path / "out"), "--folds", "2", "--sizes", str(SIZE), "--workers", "2"],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=120)
    assert proc.returncode == 2  # a user error, as argparse's and drac_ssl.train's: not 1 (a crash)
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "error: ingest of" in proc.stderr
    assert "truncated PNG" in proc.stderr
    assert not (tmp_path / "out" / "manifest.csv").exists()


@pytest.mark.parametrize("options", [["--folds", "1"], ["--workers", "-1"], ["--grades", "a"]])
def test_a_settings_error_exits_2_like_the_argument_errors(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], options: list[str]) -> None:
    """A bad setting (IngestError before any image is read, or ConfigError from the grade
    names) is a user error: exit 2 with one ``error:`` line, as argparse's own errors and
    ``python -m drac_ssl.train`` give; exit 1 is left to crashes so scripts can tell them apart."""
    root = make_plain(tmp_path / "d", {"001.png": 0, "002.png": 1, "003.png": 2})
    assert ingest_cli(root, tmp_path / "out", *options) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and options[0] in err and "Traceback" not in err, err
    assert not (tmp_path / "out" / ingest.MANIFEST_NAME).exists()


@pytest.mark.parametrize("under", ["", "sub"])
def test_an_out_that_is_a_file_or_under_one_is_said_before_any_image_is_read(tmp_path: Path,
                                                                             under: str) -> None:
    """A review: `--out <an existing file>` answered "check free disk space and the permissions
    of --out" after the ingest's work."""
    afile = tmp_path / "train.csv"
    afile.write_text("id,grade\n")
    with pytest.raises(ingest.IngestError) as caught:
        ingest.run(DataConfig(root=str(tmp_path / "no-such-root")), afile / under if under else afile,
                   verbose=False)
    assert f"{afile}: is a file, not a folder" in str(caught.value) and "give --out a folder" in str(caught.value)
    assert afile.read_text() == "id,grade\n"


def test_help_shows_the_defaults() -> None:
    """`python -m data_prep ingest --help` showed no defaults for --folds, --seed, --sizes,
    --workers."""
    import argparse

    parser = argparse.ArgumentParser(prog="ingest")
    ingest.add_arguments(parser)
    text = " ".join(parser.format_help().split())  # argparse wraps the lines
    d = DataConfig()
    for option, default in (("--folds FOLDS", d.n_folds), ("--seed SEED", d.fold_seed),
                            ("--cache-sizes SIZES", ",".join(map(str, d.cache_sizes))),
                            ("--workers WORKERS", d.workers), ("--layout", d.layout)):
        after = text.split(option, 2)[-1]  # its help, after the usage line's mention
        assert f"(default: {default}" in after.split(" --")[0], (option, after[:200])


# --------------------------------------------------------------------------------------
# Incremental re-runs and atomic writes


def test_incremental_rerun(tmp_path: Path, count_decodes: Counter[str]) -> None:
    grades = {f"{i:03d}.png": i % 3 for i in range(1, 7)}
    data = make_plain(tmp_path / "d", grades)
    out = tmp_path / "out"
    first = ingest.run(config(data), out, verbose=False)
    assert count_decodes["decodes"] == 6 and first.n_decoded == 6
    before = np.load(first.cache_paths[SIZE])

    count_decodes.clear()
    second = ingest.run(config(data), out, verbose=False)
    assert count_decodes["decodes"] == 0 and (second.n_decoded, second.n_reused) == (0, 6)
    np.testing.assert_array_equal(np.load(second.cache_paths[SIZE]), before)

    os.utime(data / "001.png", ns=(1, 1))  # touched, same bytes: re-hashed, not decoded
    ingest.run(config(data), out, verbose=False)
    assert count_decodes["decodes"] == 0

    changed = 255 - smooth_image(0)
    write_png(data / "003.png", changed)
    third = ingest.run(config(data), out, verbose=False)
    assert count_decodes["decodes"] == 1 and third.n_decoded == 1
    after = np.load(third.cache_paths[SIZE])
    np.testing.assert_array_equal(
        after[2], cv2.resize(changed, (SIZE, SIZE), interpolation=cv2.INTER_AREA))
    assert not np.array_equal(after[2], before[2])
    np.testing.assert_array_equal(np.delete(after, 2, axis=0), np.delete(before, 2, axis=0))
    assert read_manifest(third.manifest_path)[2]["sha256"] == \
        hashlib.sha256((data / "003.png").read_bytes()).hexdigest()

    # a new image in the middle of the order shifts rows; only it is decoded
    count_decodes.clear()
    write_png(data / "0035.png", smooth_image(42))
    with open(data / "labels.csv", "a", encoding="utf-8") as fh:
        fh.write("0035.png,1\n")
    fourth = ingest.run(config(data), out, verbose=False)
    assert count_decodes["decodes"] == 1 and fourth.n_train == 7
    fresh = ingest.run(config(data), tmp_path / "fresh", verbose=False)
    np.testing.assert_array_equal(np.load(fourth.cache_paths[SIZE]),
                                  np.load(fresh.cache_paths[SIZE]))


def test_crash_mid_write_is_not_trusted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = make_plain(tmp_path / "d", {f"{i:03d}.png": i % 3 for i in range(1, 7)})
    out = tmp_path / "out"
    cfg = config(data, cache_sizes=[32, SIZE])
    ingest.run(cfg, out, verbose=False)
    write_png(data / "002.png", 255 - smooth_image(1))  # forces the arrays to be rewritten

    real_header = np.lib.format.write_array_header_1_0
    calls = Counter[str]()

    def crashing_header(fh: object, header: dict) -> None:
        calls["arrays"] += 1
        if calls["arrays"] == 2:
            raise RuntimeError("simulated crash while writing the second array")
        real_header(fh, header)  # type: ignore[arg-type]

    monkeypatch.setattr(np.lib.format, "write_array_header_1_0", crashing_header)
    with pytest.raises(RuntimeError, match="simulated crash"):
        ingest.run(cfg, out, verbose=False)
    monkeypatch.setattr(np.lib.format, "write_array_header_1_0", real_header)

    # nothing half-written under a real name, and nothing that claims to be consistent
    assert not (out / "cache" / "state.json").exists()
    assert not (out / ingest.MANIFEST_NAME).exists()
    assert not list(out.rglob(".*.tmp-*"))
    for size in (32, SIZE):
        assert np.load(out / "cache" / f"{size}px.npy").shape == (6, size, size)

    recovered = ingest.run(cfg, out, verbose=False)
    # the state is gone, but nothing is decoded again: 002.png's rows were kept by the crashed
    # run, the five others come from the finished cache it held aside while writing (hold_state)
    assert (recovered.n_decoded, recovered.n_reused) == (0, 6)
    assert not list(out.rglob(f"{cache.HELD_PREFIX}*")) and (out / "cache" / "state.json").is_file()
    fresh = ingest.run(cfg, tmp_path / "fresh", verbose=False)
    for size in (32, SIZE):
        np.testing.assert_array_equal(np.load(recovered.cache_paths[size]),
                                      np.load(fresh.cache_paths[size]))
    assert read_manifest(recovered.manifest_path) == read_manifest(fresh.manifest_path)


def test_arrays_disagreeing_with_state_are_rebuilt(tmp_path: Path) -> None:
    data = make_plain(tmp_path / "d", {"001.png": 0, "002.png": 1, "003.png": 2})
    out = tmp_path / "out"
    ingest.run(config(data), out, verbose=False)
    np.save(out / "cache" / f"{SIZE}px.npy", np.zeros((2, SIZE, SIZE), np.uint8))
    leftover = out / "cache" / f".{SIZE}px.npy.tmp-999999999"
    leftover.write_bytes(b"partial")
    result = ingest.run(config(data), out, verbose=False)
    assert result.n_decoded == 3
    assert np.load(result.cache_paths[SIZE]).shape == (3, SIZE, SIZE)
    assert not leftover.exists()
    assert any("interrupted run" in line for line in result.notes)


# --------------------------------------------------------------------------------------
# Folds


DRAC_GRADES = [0] * 329 + [1] * 212 + [2] * 70


def test_folds_are_stratified_and_reproducible() -> None:
    folds, caveats = assign_folds(DRAC_GRADES, 5, seed=0)
    assert caveats == [] and set(folds) == set(range(5))
    grades = np.asarray(DRAC_GRADES)
    for grade, total in Counter(DRAC_GRADES).items():
        for fold in range(5):
            assert abs(int(np.sum((folds == fold) & (grades == grade))) - total / 5) <= 1
    np.testing.assert_array_equal(folds, assign_folds(DRAC_GRADES, 5, seed=0)[0])
    assert not np.array_equal(folds, assign_folds(DRAC_GRADES, 5, seed=1)[0])


def test_folds_when_no_grade_fills_every_fold_are_as_even_as_the_counts_allow(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """4 images per grade and 5 folds: scikit-learn cannot stratify, and KFold put 0/2/1 and
    1/0/2 images of the grades in two folds, with a note 'check the fold counts below' and no
    fix. The images are now dealt grade by grade (at most one of a grade per fold), each grade
    gets the note the preflight words too, with the fold count every grade can fill; followed,
    the folds are stratified. Data that can be stratified keep StratifiedKFold's folds."""
    from sklearn.model_selection import StratifiedKFold

    grades = [i % 3 for i in range(12)]
    folds, caveats = assign_folds(grades, 5, seed=0, source="labels.csv",
                                  grade_names=("Normal", "NPDR", "PDR"))
    y = np.asarray(grades)
    assert all(np.sum((folds == f) & (y == g)) <= 1 for f in range(5) for g in range(3))
    assert sorted(np.bincount(folds, minlength=5).tolist()) == [2, 2, 2, 3, 3]
    assert [p.line for p in caveats] == [
        f"labels.csv: grade {g} ({name}) has only 4 labelled images; stratified 5-fold "
        f"cross-validation needs at least 5 of every grade (1 of the 5 folds will validate "
        f"without any grade {g} ({name}) image) -> --folds 4, or add labelled grade {g} ({name}) "
        "images (at least 5 for 5 folds)" for g, name in enumerate(("Normal", "NPDR", "PDR"))]
    np.testing.assert_array_equal(folds, assign_folds(grades, 5, seed=0)[0])
    assert not np.array_equal(folds, assign_folds(grades, 5, seed=1)[0])
    # where stratification works, the folds are StratifiedKFold's as before (the default job's
    # out-of-fold files stay byte-identical)
    expected = np.full(len(DRAC_GRADES), -1)
    splitter = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    for fold, (_, val) in enumerate(splitter.split(np.zeros(len(DRAC_GRADES)), DRAC_GRADES)):
        expected[val] = fold
    np.testing.assert_array_equal(assign_folds(DRAC_GRADES, 5, seed=0)[0], expected)
    # the standalone ingest says it with the fix, and the fix works
    root = make_plain(tmp_path / "d", {f"{i:03d}.png": g for i, g in enumerate(grades, 1)})
    assert ingest_cli(root, tmp_path / "out", "--folds", "5") == 0
    printed = capsys.readouterr().out
    assert printed.count("-> --folds 4, or add labelled grade") == 3
    assert ingest_cli(root, tmp_path / "out", "--folds", "4") == 0
    printed = capsys.readouterr().out
    assert "stratified" not in printed and "warnings: 0   notes: 0" in printed
    for per_grade in ingest.run(config(root, n_folds=4), tmp_path / "out", verbose=False).counts_per_fold.values():
        assert per_grade == {0: 1, 1: 1, 2: 1}


def test_folds_grouped_by_patient() -> None:
    rng = np.random.default_rng(0)
    patients = [f"p{i}" for i in rng.integers(0, 150, len(DRAC_GRADES))]
    folds, _ = assign_folds(DRAC_GRADES, 5, seed=0, patients=patients)
    for patient in set(patients):
        assert len({int(f) for f, p in zip(folds, patients, strict=True) if p == patient}) == 1
    np.testing.assert_array_equal(folds, assign_folds(DRAC_GRADES, 5, 0, patients)[0])


def test_too_few_images_for_folds(tmp_path: Path) -> None:
    data = make_plain(tmp_path / "d", {"001.png": 0, "002.png": 1, "003.png": 2})
    expect_error(config(data, n_folds=5), tmp_path / "out", "only 3 training images for 5 folds",
                 "--folds 3")


def summary_counts(text: str) -> tuple[int, int, int, int]:
    """(warnings, notes) of the printed summary's count line, and the sums of its 'findings
    by kind' line per severity."""
    counts = re.search(r"warnings: (\d+)\s+notes: (\d+)", text)
    assert counts is not None, text
    by_kind = re.search(r"^findings by kind: (.*)$", text, re.MULTILINE)
    kinds = re.findall(r"(\d+) (warning|note)\(s\)", by_kind.group(1) if by_kind else "")
    return (int(counts[1]), int(counts[2]), sum(int(n) for n, s in kinds if s == "warning"),
            sum(int(n) for n, s in kinds if s == "note"))


def test_a_grade_with_fewer_images_than_folds_is_named_with_its_fix(tmp_path: Path) -> None:
    """One grade-1 image among grades 0 and 2, 5 folds: the folds are made (training can run
    on them), and the note says which grade, how many images, how many folds validate without
    it and what to do (naming the image and its line), in the preflight's words; never
    scikit-learn's raw warning."""
    grades = {f"{i:03d}.png": 2 if i > 9 else int(i == 6) for i in range(1, 16)}
    root = make_plain(tmp_path / "plain", grades)
    (root / ".DS_Store").write_bytes(b"\0")  # a note of the kind 'hidden'
    (root / "docs").mkdir()  # a note of no kind: counted in the summary too
    result = ingest.run(config(root, n_folds=5), tmp_path / "out", verbose=False)
    rows = read_manifest(result.manifest_path)
    without = 5 - len({r["fold"] for r in rows if r["grade"] == "1"})
    assert without == 4
    (line,) = [n for n in result.notes if "stratified" in n]
    assert line == (
        f"{root / 'labels.csv'}: grade 1 (NPDR) has only 1 labelled image; stratified 5-fold "
        "cross-validation needs at least 5 of every grade (4 of the 5 folds will validate without "
        "any grade 1 (NPDR) image) -> add labelled grade 1 (NPDR) images (at least 5 for 5 folds, "
        "2 for --folds 2), or merge grade 1 (NPDR) into a neighbouring grade (a coarser scale for this run, not a correction: the images keep their clinical grades in labels.csv): in a copy of "
        "labels.csv, passed with --labels-csv, give its image 006.png (line 7) grade 0 (Normal) or "
        "2 (PDR) instead of 1, then renumber the copy's grades, the merged ones too, so that they "
        'run 0..1 (2 -> 1), and pass --grades "Normal,PDR"')
    assert not any("least populated class" in n for n in result.notes)
    assert [p.kind for p in result.findings if "stratified" in p.what] == ["folds"]
    # the count line and the findings by kind agree (the JSON's 'other' kind is printed too)
    printed = ingest.format_summary(result)
    warned, noted, warned_by_kind, noted_by_kind = summary_counts(printed)
    assert (warned, noted) == (warned_by_kind, noted_by_kind) == (0, 3), printed
    assert "folds 1 note(s)" in printed and "other 1 note(s)" in printed and "hidden 1 note(s)" in printed
    # a grade of 3 images: fewer folds are the fix; 6 images of grade 0 are enough
    three = make_plain(tmp_path / "three", {f"{i:03d}.png": int(i > 6) for i in range(1, 10)})
    (line,) = ingest.run(config(three, n_folds=5), tmp_path / "out3", verbose=False).notes
    assert "grade 1 (NPDR) has only 3 labelled images;" in line and "2 of the 5 folds" in line
    assert line.endswith("-> --folds 3, or add labelled grade 1 (NPDR) images (at least 5 for 5 folds)")
    assert "grade 0" not in line


def grades_options(fix: str, csv_path: Path, neighbour: int = 0) -> list[str]:
    """:func:`grade_fix.follow_grade_fix` for the ingest: the ``--grades`` arguments it says to pass."""
    return shlex.split(follow_grade_fix(fix, csv_path, r'--grades "[^"]*"', neighbour))


def ingest_cli(root: Path, out: Path, *options: str) -> int:
    """``python -m data_prep ingest`` (its argument parser and entry point) on ``root``."""
    import argparse

    parser = argparse.ArgumentParser()
    ingest.add_arguments(parser)
    args = parser.parse_args(["--root", str(root), "--out", str(out), "--sizes", str(SIZE),
                              "--workers", "1", *options])
    return ingest.cli(args)


ICDR_WITHOUT_MILD = [0, 0, 0, 2, 2, 2, 3, 3, 3, 4, 4, 4]


def test_a_grade_without_images_is_warned_and_its_fix_works(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """ICDR labels with no Mild image: the ingest warns as the preflight does (it printed
    '1 Mild 0' and nothing else); following its fix (renumber, --grades) ingests cleanly,
    where dropping the name alone left grades 2..4 outside 0..3."""
    root = make_plain(tmp_path / "d", {f"{i:03d}.png": g for i, g in enumerate(ICDR_WITHOUT_MILD, 1)})
    assert ingest_cli(root, tmp_path / "out", "--grades", "icdr", "--folds", "3") == 0
    printed = capsys.readouterr().out
    (line,) = [w for w in printed.splitlines() if "no labelled image" in w and w.startswith("  ")]
    # said again as the summary's last line, where it is seen (a review: 1 warning in 63)
    assert printed.splitlines()[-1] == f"needs attention before training: {line.strip()}"
    assert line == (
        f"  {root / 'labels.csv'}: grade 1 (Mild): no labelled image; the grading model never sees "
        "it -> check the label CSV, or add labelled grade 1 (Mild) images; if the data has none, "
        "take it out of the scale: renumber the grades in the label CSV so that they run 0..3 "
        '(2 -> 1, 3 -> 2, 4 -> 3, in this order), and pass --grades "No DR,Moderate,Severe,PDR"')
    assert "warnings (converted or not honoured; fatal with --strict): 1" in printed
    message = expect_error(config(root, grades=["icdr"], n_folds=3, strict=True), tmp_path / "strict",
                           "grade 1 (Mild): no labelled image", "(rejected by --strict)",
                           "or run without --strict to ingest the labels as they are")
    assert "convert it automatically" not in message
    # follow the fix: the grades are numbered 0..3 and named, and nothing is left to say
    fix = line.split(" -> ", 1)[1]
    options = grades_options(fix, root / "labels.csv")
    assert options == ["--grades", "No DR,Moderate,Severe,PDR"]
    assert ingest_cli(root, tmp_path / "after", *options, "--folds", "3") == 0
    printed = capsys.readouterr().out
    assert "warnings: 0   notes: 0" in printed and "errors" not in printed
    assert "0 No DR  1 Moderate  2 Severe  3 PDR" in printed
    rows = read_manifest(tmp_path / "after" / ingest.MANIFEST_NAME)
    assert [int(r["grade"]) for r in rows] == [max(g - 1, 0) for g in ICDR_WITHOUT_MILD]


@pytest.mark.parametrize("neighbour", [0, 1], ids=["into the grade below", "into the grade above"])
def test_merging_a_grade_of_one_image_as_the_note_says_works(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], neighbour: int) -> None:
    """One Mild image on the ICDR scale, 3 folds: the note names the image and its line and
    says to renumber the grades above it; a user who relabelled 1 -> 2 and named four grades
    got 6 errors ('grade 4 ... is outside {0, 1, 2, 3}'). Followed, either way, it works."""
    grades = [0, 0, 0, 2, 1, 2, 2, 3, 3, 3, 4, 4, 4]  # 005.png is Mild, on line 6
    root = make_plain(tmp_path / "d", {f"{i:03d}.png": g for i, g in enumerate(grades, 1)})
    assert ingest_cli(root, tmp_path / "out", "--grades", "icdr", "--folds", "3") == 0
    (line,) = [n for n in capsys.readouterr().out.splitlines() if "stratified" in n]
    fix = line.split(" -> ", 1)[1]
    assert fix.endswith(
        "or merge grade 1 (Mild) into a neighbouring grade (a coarser scale for this run, not a correction: the images keep their clinical grades in labels.csv): in a copy of labels.csv, passed "
        "with --labels-csv, give its image 005.png (line 6) grade 0 (No DR) or 2 (Moderate) instead "
        "of 1, then renumber the copy's grades, the merged ones too, so that they run 0..3 (2 -> 1, "
        '3 -> 2, 4 -> 3, in this order), and pass --grades "No DR,Moderate,Severe,PDR"')
    options = grades_options(fix, root / "labels.csv", neighbour)
    assert ingest_cli(root, tmp_path / "after", *options, "--folds", "3") == 0
    printed = capsys.readouterr().out
    assert "warnings: 0   notes: 0" in printed and "errors" not in printed
    rows = read_manifest(tmp_path / "after" / ingest.MANIFEST_NAME)
    merged = 0 if neighbour == 0 else 1  # No DR, or Moderate (grade 2 renumbered to 1)
    assert [int(r["grade"]) for r in rows] == [merged if g == 1 else max(g - 1, 0) for g in grades]


@pytest.mark.parametrize(("n_images", "named"), [
    (2, "its images 006.png, 007.png (lines 8, 9)"), (6, "its 6 images")])
def test_a_grade_of_one_patient_names_its_images_when_they_are_few(n_images: int, named: str) -> None:
    """Folds grouped by patient, one patient of grade 1: its images (up to 5) and their CSV
    lines are named in the merge fix; more are counted."""
    grades = [0] * 6 + [1] * n_images + [2] * 6
    patients = [f"p{i}" for i in range(6)] + ["q"] * n_images + [f"r{i}" for i in range(6)]
    rows = [(f"{i:03d}.png", i + 2) for i in range(len(grades))]  # line 2 holds 000.png
    _, caveats = assign_folds(grades, 3, 0, patients, "/data/labels.csv", ("A", "B", "C"), rows)
    (fix,) = [p.fix for p in caveats if "grade 1 (B) has only 1 patient" in p.what]
    assert f"merge grade 1 (B) into a neighbouring grade (a coarser scale for this run, not a correction: the images keep their clinical grades in labels.csv): in a copy of labels.csv, passed " \
           f"with --labels-csv, give {named} grade 0 (A) or 2 (C) instead of 1, then" in fix


def test_too_few_images_for_two_folds_says_one_image_and_a_fix_that_works() -> None:
    with pytest.raises(validate.IngestError) as caught:
        assign_folds([0], 2, seed=0, source="labels.csv")
    assert str(caught.value) == ("labels.csv: only 1 training image for 2 folds -> cross-validation "
                                 "needs at least one training image per fold: add at least 1 more "
                                 "training image")  # no '--folds 2' for 2 folds already


def test_ingest_folds_reproducible_end_to_end(tmp_path: Path) -> None:
    data = make_plain(tmp_path / "d", {f"{i:03d}.png": i % 3 for i in range(1, 13)})
    folds = {}
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        result = ingest.run(config(data, n_folds=3, fold_seed=seed), tmp_path / name,
                            verbose=False)
        folds[name] = [r["fold"] for r in read_manifest(result.manifest_path)]
        assert all(sum(c.values()) == 4 for c in result.counts_per_fold.values())
    assert folds["a"] == folds["b"]
    assert folds["a"] != folds["c"]


def test_a_label_row_whose_image_sits_in_a_subfolder_says_so(tmp_path: Path) -> None:
    root = make_plain(tmp_path / "plain", {f"{i:03d}.png": i % 3 for i in range(1, 7)})
    (root / "left_eye").mkdir()
    (root / "005.png").rename(root / "left_eye" / "005.png")
    expect_error(config(root), tmp_path / "out",
                 "label without image: 005.png is not in", "but in its subfolder left_eye/",
                 "move the images of left_eye/ up into")
    rows = (root / "labels.csv").read_text().replace("005.png", "005")  # a name without extension
    (root / "labels.csv").write_text(rows)
    expect_error(config(root), tmp_path / "out", "label without image: 005 is not in",
                 "but in its subfolder left_eye/")
    (root / "test").mkdir()
    (root / "left_eye" / "005.png").rename(root / "test" / "005.png")  # the test split: never "move it up"
    message = expect_error(config(root), tmp_path / "out", "but in its test folder test/",
                           "delete the row if it is a test image")
    assert "move the images of test/" not in message
    (root / "test" / "005.png").rename(tmp_path / "gone.png")  # nowhere at all: the plain fix
    message = expect_error(config(root), tmp_path / "out", "label without image: 005 is not in",
                           "add the image or delete the row")
    assert "subfolder" not in message.split("-> add the image")[0]


def test_ingest_messages_read_as_pipeline_settings_in_the_pipeline() -> None:
    from data_prep.problems import as_config_keys

    assert as_config_keys("pass --labels-csv FILE") == "pass data.labels_csv=FILE"
    assert as_config_keys("check the --root path") == "check the data.root path"
    assert as_config_keys("use --folds 3 or fewer") == "use data.n_folds=3 or fewer"
    assert as_config_keys("e.g. --channels auto") == "e.g. data.channels=auto"
    assert as_config_keys("run without --strict to convert") == "run without data.strict=true to convert"
    # a flag that turns a setting off, and --graham not read inside it
    assert as_config_keys("run with --no-graham-mask") == "run with data.graham_mask=false"


def test_source_changes_after_an_ingest_are_found_without_decoding(
        tmp_path: Path, count_decodes: Counter[str]) -> None:
    from data_prep.source_check import source_changes

    grades = {f"{i:03d}.png": i % 2 for i in range(1, 7)}
    data = make_plain(tmp_path / "d", grades, test=("t1.png",))
    out = tmp_path / "out"
    ingest.run(config(data, grades=TWO_GRADES), out, verbose=False)
    summary = ingest_summary(out)
    assert summary["source_files"]["labels_csv"]["path"] == str(data / "labels.csv")
    count_decodes.clear()
    assert source_changes(out) == []
    os.utime(data / "001.png", ns=(1, 1))  # touched, same bytes: no change
    shutil.copy(data / "labels.csv", tmp_path / "copy.csv")
    shutil.copy(tmp_path / "copy.csv", data / "labels.csv")  # copied back: same bytes
    assert source_changes(out) == []

    write_png(data / "002.png", 255 - smooth_image(1))  # replaced
    write_png(data / "0035.png", smooth_image(42))  # added
    (data / "test" / "t1.png").unlink()  # removed
    with open(data / "labels.csv", "a", encoding="utf-8") as fh:
        fh.write("0035.png,1\n")
    assert source_changes(out) == [f"the label CSV {data / 'labels.csv'} was edited",
                                   "1 image added (0035.png)", "1 image removed (test/t1.png)",
                                   "1 image replaced or edited (002.png)"]
    assert count_decodes["decodes"] == 0
    (data / "labels.csv").unlink()
    assert source_changes(out)[0] == f"the label CSV {data / 'labels.csv'} is gone"
    assert source_changes(tmp_path / "no-ingest-here") == []


def test_source_changes_hash_within_a_budget_so_a_resume_never_rereads_a_data_set(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A copy that did not keep file times changes every image's mtime, not its bytes: the
    check hashes at most HASH_BUDGET_BYTES of them per call and counts the rest."""
    from data_prep import source_check

    grades = {f"{i:03d}.png": i % 2 for i in range(1, 9)}
    data = make_plain(tmp_path / "d", grades)
    out = tmp_path / "out"
    ingest.run(config(data, grades=TWO_GRADES), out, verbose=False)
    hashed: list[str] = []
    real = source_check.sha256_file
    monkeypatch.setattr(source_check, "sha256_file", lambda path: hashed.append(path.name) or real(path))
    for name in grades:
        os.utime(data / name, ns=(7, 7))
    assert source_check.source_changes(out) == [] and sorted(hashed) == sorted(grades)  # same bytes: no change
    sizes = sorted((data / name).stat().st_size for name in grades)
    monkeypatch.setattr(source_check, "HASH_BUDGET_BYTES", sum(sizes[:3]))
    hashed.clear()
    (changes,) = source_check.source_changes(out)
    assert 1 <= len(hashed) <= 3  # what the budget allows
    assert re.match(r"\d images with new file times, of the same size, not compared byte by byte", changes)
    assert int(changes.split()[0]) == 8 - len(hashed)


def test_source_changes_say_what_cannot_be_read_instead_of_raising(tmp_path: Path) -> None:
    from data_prep.source_check import source_changes

    data = make_plain(tmp_path / "d", {f"{i:03d}.png": i % 2 for i in range(4)})
    out = tmp_path / "out"
    ingest.run(config(data, grades=TWO_GRADES), out, verbose=False)
    shutil.rmtree(data)
    assert source_changes(out) == [f"the data root {data} no longer exists (moved or renamed, or a drive "
                                   "not mounted?)"]


def ingest_summary(out: Path) -> dict[str, object]:
    import json

    return json.loads((out / ingest.SUMMARY_NAME).read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", ["subject_id", "Participant", "PID", "pat_id"])
def test_other_patient_column_names_are_recognised(tmp_path: Path, name: str) -> None:
    """Not only 'patient': a subject / participant column or a bare PID is a patient id too."""
    data = make_plain(tmp_path / "d", {f"{i:03d}.png": i % 2 for i in range(1, 5)})
    write_csv(data / "labels.csv", ["image name", "DR grade", name],
              [[f"{i:03d}.png", i % 2, f"S{(i + 1) // 2}"] for i in range(1, 5)])
    result = ingest.run(config(data, grades=TWO_GRADES), tmp_path / "out", verbose=False)
    assert any(f"column {name!r} looks like a patient id" in w for w in result.warnings)


@pytest.mark.parametrize("name", ["exam_id", "Examination", "visit_id", "EncounterID"])
def test_an_examination_or_visit_column_draws_the_patient_column_hint(tmp_path: Path, name: str) -> None:
    """A new-contributor trial (Messidor-2, F2): an ``exam_id`` column naming the two eyes of
    one examination drew no hint, while a patient id does. An examination or visit id groups
    images of one patient too: the same warning and fix (--patient-column), the summary's
    unused column; a grade named after the examination is no id."""
    data = make_plain(tmp_path / "d", {f"{i:03d}.png": i % 2 for i in range(1, 5)})
    write_csv(data / "labels.csv", ["image name", "DR grade", name],
              [[f"{i:03d}.png", i % 2, f"E{(i + 1) // 2}"] for i in range(1, 5)])
    result = ingest.run(config(data, grades=TWO_GRADES), tmp_path / "out", verbose=False)
    (said,) = [w for w in result.warnings if f"column {name!r} looks like" in w]
    assert "an examination or visit id (of one patient)" in said, said
    assert f"pass --patient-column {name!r} to keep each patient's images in one fold" in said, said
    assert ingest_summary(tmp_path / "out")["patients"]["unused_column"] == name
    for grade in ("exam_grade", "visit_DR_level", "examination score"):
        assert not validate.looks_like_patient_column(grade), grade


NOT_VISIT_IDS = ("examiner", "exam_date", "example_id", "ExamplePath", "examined_by", "Exam eye",
                 "visitor", "revisit", "visit_number", "VisitNo", "visit_id_date", "Exam time")
"""Names holding exam / visit / encounter that are no examination id (review s57r2, F1): they
were matched as substrings, hinted as "an examination or visit id" with --patient-column."""


@pytest.mark.parametrize("name", NOT_VISIT_IDS)
def test_a_name_merely_holding_exam_or_visit_is_no_examination_id(tmp_path: Path, name: str) -> None:
    """Whole words only: an examiner, an exam date, an example path, a visitor or a visit's
    ordinal (visit_number 1, 2, ... is shared by every patient) draws no --patient-column hint,
    and ingest_summary.json names no unused column (which adds caveats to the report)."""
    assert not validate.looks_like_patient_column(name), name
    data = make_plain(tmp_path / "d", {f"{i:03d}.png": i % 2 for i in range(1, 5)})
    write_csv(data / "labels.csv", ["image name", "DR grade", name],
              [[f"{i:03d}.png", i % 2, f"E{(i + 1) // 2}"] for i in range(1, 5)])
    result = ingest.run(config(data, grades=TWO_GRADES), tmp_path / "out", verbose=False)
    assert not any("--patient-column" in w for w in result.warnings), result.warnings
    assert ingest_summary(tmp_path / "out")["patients"]["unused_column"] is None


def test_examination_ids_are_whole_words_alone_or_before_an_id_word() -> None:
    for name in ("exam", "Examination", "ExamID", "exam no", "Exam_Number", "Encounter Number",
                 "visit_key", "VisitID", "encounter"):
        assert validate.looks_like_patient_column(name), name
        assert validate.id_words(name) == "an examination or visit id (of one patient)", name
    assert validate.id_words("patient_exam_id") == "a patient id"


def test_a_patient_column_is_guessed_before_an_examination_column(tmp_path: Path) -> None:
    """The patient is the coarser group: ``exam_id, patient_id`` suggests patient_id (the
    first-column rule suggested exam_id)."""
    assert validate.patient_column_guess(["image", "exam_id", "patient_id", "grade"], "grade",
                                         "image") == "patient_id"
    assert validate.patient_column_guess(["image", "exam_id", "grade"], "grade", "image") == "exam_id"
    data = make_plain(tmp_path / "d", {f"{i:03d}.png": i % 2 for i in range(1, 5)})
    write_csv(data / "labels.csv", ["image name", "DR grade", "exam_id", "patient_id"],
              [[f"{i:03d}.png", i % 2, f"E{i}", f"P{(i + 1) // 2}"] for i in range(1, 5)])
    result = ingest.run(config(data, grades=TWO_GRADES), tmp_path / "out", verbose=False)
    assert any("pass --patient-column 'patient_id'" in w for w in result.warnings), result.warnings
    assert ingest_summary(tmp_path / "out")["patients"]["unused_column"] == "patient_id"


def test_the_summary_line_says_examination_id_for_an_exam_column(tmp_path: Path) -> None:
    """The printed summary repeated "looks like a patient id" for an exam_id column the warning
    had called an examination or visit id."""
    data = make_plain(tmp_path / "d", {f"{i:03d}.png": i % 2 for i in range(1, 9)})
    write_csv(data / "labels.csv", ["image name", "DR grade", "exam_id"],
              [[f"{i:03d}.png", i % 2, f"E{(i + 1) // 2}"] for i in range(1, 9)])
    result = ingest.run(config(data, grades=TWO_GRADES, n_folds=2), tmp_path / "out", verbose=False)
    assert ("folds: each training image its own unit, although column 'exam_id' looks like an "
            "examination or visit id (of one patient) (see the warning): --patient-column "
            "'exam_id' groups a patient's images into one fold") in ingest.format_summary(result)


def test_columns_that_are_not_patient_ids_give_no_warning() -> None:
    for name in ("image name", "DR grade", "id_code", "diagnosis", "Retinopathy grade", "personal"):
        assert not validate.looks_like_patient_column(name), name


def test_grade_columns_named_after_the_patient_are_not_patient_ids() -> None:
    """DeepDRiD's ``patient_DR_Level`` is a grade: grouping folds by it would be wrong, so a
    name that also says grade / level / DR / label / class / quality / score (as a word, any
    case) is not taken for a patient id, while real patient-id columns still are."""
    for name in ("patient_DR_Level", "PatientGrade", "patient level", "Patient-Label",
                 "patient_class", "PatientQuality", "patient_score", "subject_DR"):
        assert not validate.looks_like_patient_column(name), name
    for name in ("patient_id", "PatientID", "patient", "Patient Number", "subject_id",
                 # an id word outweighs a grade word (a diff review: these were let through)
                 "Patient ID (DR study)", "DR patient ID", "patient_id_dr", "Patient No. (grading)"):
        assert validate.looks_like_patient_column(name), name
    for name in ("patientdrgrade", "patient_drgrade", "patient severity", "PatientStage"):
        assert not validate.looks_like_patient_column(name), name
    assert validate.patient_column_guess(["image", "Patient ID (DR study)", "DR grade"], "DR grade",
                                         "image") == "Patient ID (DR study)"


def test_the_grade_column_itself_is_never_suggested_as_the_patient_column() -> None:
    assert validate.patient_column_guess(["image", "patient", "pid"], grade_column="patient") == "pid"
    assert validate.patient_column_guess(["image", "patient"], grade_column="patient") is None


def test_a_deepdrid_grade_column_gives_no_patient_warning(tmp_path: Path) -> None:
    """The finding: ``patient_DR_Level`` beside the grade column said "pass --patient-column
    'patient_DR_Level'" (fatal with --strict), and the summary named it as unused."""
    data = make_plain(tmp_path / "d", {f"{i:03d}.png": i % 2 for i in range(1, 5)})
    write_csv(data / "labels.csv", ["image name", "DR grade", "patient_DR_Level"],
              [[f"{i:03d}.png", i % 2, i % 2] for i in range(1, 5)])
    result = ingest.run(config(data, grades=TWO_GRADES), tmp_path / "out", verbose=False)
    assert not any("patient" in w for w in result.warnings), result.warnings
    assert ingest_summary(tmp_path / "out")["patients"]["unused_column"] is None


def test_the_summary_and_the_warning_name_the_same_unused_column(tmp_path: Path) -> None:
    """The ingest's warning and ingest_summary.json's ``unused_column`` come from one guess."""
    data = make_plain(tmp_path / "d", {f"{i:03d}.png": i % 2 for i in range(1, 5)})
    write_csv(data / "labels.csv", ["image name", "patient_DR_Level", "patient_id"],
              [[f"{i:03d}.png", i % 2, f"P{i}"] for i in range(1, 5)])
    result = ingest.run(config(data, grades=TWO_GRADES, grade_column="patient_DR_Level"),
                        tmp_path / "out", verbose=False)
    assert any("column 'patient_id' looks like a patient id" in w for w in result.warnings)
    assert ingest_summary(tmp_path / "out")["patients"]["unused_column"] == "patient_id"


def test_the_summary_says_how_the_folds_were_grouped(tmp_path: Path) -> None:
    """ingest_summary.json and the printed table name the patient column and the count of
    patients (or say each image was its own unit), so a reader need not open the manifest."""
    data = make_plain(tmp_path / "d", {f"{i:03d}.png": i % 2 for i in range(1, 9)})
    write_csv(data / "labels.csv", ["image name", "DR grade", "PatientID"],
              [[f"{i:03d}.png", i % 2, f"P{(i + 1) // 2}"] for i in range(1, 9)])

    grouped = ingest.run(config(data, grades=TWO_GRADES, patient_column="PatientID", n_folds=2),
                         tmp_path / "grouped", verbose=False)
    assert ingest_summary(tmp_path / "grouped")["patients"] == {
        "grouped": True, "source": "column 'PatientID'", "column": "PatientID",
        "n_patients": 4, "n_images": 8, "unused_column": None}
    assert ("folds: grouped by patient (column 'PatientID'): 4 patients for 8 training images"
            in ingest.format_summary(grouped))

    alone = ingest.run(config(data, grades=TWO_GRADES, n_folds=2), tmp_path / "alone", verbose=False)
    assert ingest_summary(tmp_path / "alone")["patients"] == {
        "grouped": False, "source": None, "column": None, "n_patients": None, "n_images": 8,
        "unused_column": "PatientID"}  # the report and the model card repeat the warning
    assert ("folds: each training image its own unit, although column 'PatientID' looks like a "
            "patient id (see the warning)") in ingest.format_summary(alone)

    write_csv(data / "labels.csv", ["image name", "DR grade"], [[f"{i:03d}.png", i % 2] for i in range(1, 9)])
    bare = ingest.run(config(data, grades=TWO_GRADES, n_folds=2), tmp_path / "bare", verbose=False)
    assert ingest_summary(tmp_path / "bare")["patients"]["unused_column"] is None
    assert "folds: each training image its own unit (no patient column" in ingest.format_summary(bare)


def test_an_unused_patient_column_warns_and_strict_stops_on_it(tmp_path: Path) -> None:
    """A CSV with a PatientID column ingested without --patient-column: the eyes of one
    patient may be split across folds, so it is a warning (fatal with --strict), not a note."""
    data = make_plain(tmp_path / "d", {f"{i:03d}.png": i % 2 for i in range(1, 5)})
    write_csv(data / "labels.csv", ["image name", "DR grade", "PatientID"],
              [[f"{i:03d}.png", i % 2, f"P{(i + 1) // 2}"] for i in range(1, 5)])

    result = ingest.run(config(data, grades=TWO_GRADES), tmp_path / "out", verbose=False)
    (line,) = [w for w in result.warnings if "looks like a patient id" in w]
    assert "'PatientID'" in line and "different folds" in line and "optimistic" in line
    assert "-> pass --patient-column 'PatientID' to keep each patient's images in one fold" in line

    expect_error(config(data, grades=TWO_GRADES, strict=True), tmp_path / "strict",
                 "looks like a patient id", "(rejected by --strict)",
                 "or run without --strict to fold the images as if independent")

    grouped = ingest.run(config(data, grades=TWO_GRADES, patient_column="PatientID", strict=True),
                         tmp_path / "grouped", verbose=False)
    assert not any("patient" in w for w in grouped.warnings)


# --------------------------------------------------------------------------------------
# Rows a dataset marks ungradable (data.ungradable / --ungradable)

UNGRADABLE_SET = {"001.png": 0, "002.png": "", "003.png": 1, "004.png": "NA", "005.png": 0,
                  "006.png": "", "007.png": 1, "008.png": 0, "009.png": 1}
"""Two empty grade cells and one NA (Messidor-2 leaves ungradable images' grade empty)."""


def make_ungradable(root: Path) -> Path:
    return make_plain(root, UNGRADABLE_SET, test=("900.png",))  # type: ignore[arg-type]


def test_ungradable_rows_are_an_error_by_default_whose_fix_names_the_option(tmp_path: Path) -> None:
    data = make_ungradable(tmp_path / "d")
    message = expect_error(config(data, grades=TWO_GRADES), tmp_path / "out",
                           "002.png has no grade (an empty cell; an ungradable image?)",
                           "004.png has no grade ('NA'; an ungradable image?)",
                           "006.png has no grade (an empty cell; an ungradable image?)")
    assert "3 problem(s)" in message
    assert message.count("or, to leave an ungradable image out, rerun with --ungradable leave_out "
                         "(every row with no grade is then left out with its image, listed in "
                         "ingest_summary.json) or delete the row and move the image out of the "
                         "folder") == 1  # the old fix stays, the option comes first
    assert message.count("-> as for line 3 above") == 2  # a long fix is printed once
    assert "data.ungradable" not in message  # the ingest names its own flag; train its setting
    from data_prep.problems import as_config_keys

    assert "rerun with data.ungradable=leave_out" in as_config_keys(message)


def test_leave_out_ingests_without_the_ungradable_rows_and_lists_them(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = make_ungradable(tmp_path / "d")
    assert ingest_cli(data, tmp_path / "out", "--grades", "Normal,DR", "--folds", "2",
                      "--ungradable", "leave_out") == 0
    printed = capsys.readouterr().out
    rows = read_manifest(tmp_path / "out" / ingest.MANIFEST_NAME)
    left_out = {"002.png", "004.png", "006.png"}
    assert {r["id"] for r in rows} == set(UNGRADABLE_SET) - left_out | {"900.png"}
    assert [r["id"] for r in rows if r["split"] == "test"] == ["900.png"]
    assert all(r["fold"] in ("0", "1") for r in rows if r["split"] == "train")
    assert np.load(tmp_path / "out" / "cache" / f"{SIZE}px.npy").shape[0] == 7  # not cached
    summary = ingest_summary(tmp_path / "out")
    assert summary["ungradable"] == "leave_out" and summary["config"]["ungradable"] == "leave_out"
    assert summary["left_out_ungradable"] == [
        {"name": "002.png", "line": 3, "grade_cell": "", "image": "002.png", "patient": ""},
        {"name": "004.png", "line": 5, "grade_cell": "NA", "image": "004.png", "patient": ""},
        {"name": "006.png", "line": 7, "grade_cell": "", "image": "006.png", "patient": ""}]
    assert summary["counts"]["per_split"] == {"train": 6, "test": 1, "unlabelled": 0}
    (line,) = [n for n in summary["notes"] if "marked ungradable" in n]
    assert line.startswith(f"{data / 'labels.csv'}: 3 rows marked ungradable (an empty or NA "
                           "grade cell) were left out with their images (--ungradable leave_out): "
                           "labels.csv:3 002.png, labels.csv:5 004.png, labels.csv:7 006.png")
    assert "ingest_summary.json" in line
    assert line in printed
    assert ("left out: 3 rows marked ungradable (--ungradable leave_out), listed in "
            "ingest_summary.json (left_out_ungradable)") in printed
    assert "image without label" not in printed

    # no ungradable row: a leave_out run says nothing extra
    plain = make_plain(tmp_path / "p", {f"{i:03d}.png": i % 2 for i in range(1, 7)})
    result = ingest.run(config(plain, grades=TWO_GRADES, ungradable="leave_out"), tmp_path / "o2",
                        verbose=False)
    assert not any("ungradable" in n for n in result.notes + result.warnings)
    assert "ungradable" not in ingest.format_summary(result)
    assert ingest_summary(tmp_path / "o2")["left_out_ungradable"] == []


def test_leave_out_names_only_the_first_rows_and_a_row_without_its_image(tmp_path: Path) -> None:
    """Seven ungradable rows: the note shows the first five and counts the rest; a row whose
    image is already gone is left out too (the user need not edit the CSV), its image None."""
    grades: dict[str, object] = {f"{i:03d}.png": i % 2 for i in range(1, 7)}
    grades.update({f"{i:03d}.png": "" for i in range(7, 14)})
    data = make_plain(tmp_path / "d", grades)  # type: ignore[arg-type]
    (data / "013.png").unlink()
    result = ingest.run(config(data, grades=TWO_GRADES, ungradable="leave_out"), tmp_path / "out",
                        verbose=False)
    (line,) = [n for n in result.notes if "marked ungradable" in n]
    assert "labels.csv:12 011.png, and 2 more" in line and "012.png" not in line
    listed = ingest_summary(tmp_path / "out")["left_out_ungradable"]
    assert [e["name"] for e in listed] == [f"{i:03d}.png" for i in range(7, 14)]
    assert listed[-1]["image"] is None and listed[0]["image"] == "007.png"


@pytest.mark.parametrize("grade", ["7", "x"])
def test_leave_out_keeps_other_bad_grades_errors(tmp_path: Path, grade: str) -> None:
    """Only a "no grade" cell (empty, NA ...) is left out: a 7 or an x is a wrong grade."""
    data = make_plain(tmp_path / "d", {**UNGRADABLE_SET, "002.png": 1})  # type: ignore[arg-type]
    _rewrite_grade(grade)(data)
    message = expect_error(config(data, grades=TWO_GRADES, ungradable="leave_out"), tmp_path / "out",
                           f"grade {grade if grade == '7' else repr(grade)} of 002.png is")
    assert "1 problem(s)" in message and "has no grade" not in message


@pytest.mark.parametrize("cell", ["NA", "nan", " n/a "])
def test_an_na_gradable_mark_says_nothing_as_an_empty_one(tmp_path: Path, cell: str) -> None:
    """Review s57r2 F9: an NA / nan cell in adjudicated_gradable was an error ("neither 1 nor
    0") while an empty one was ignored; both leave the grade cell to decide now (the scorer
    reads them alike)."""
    data = make_plain(tmp_path / "d", {f"{i:03d}.png": i % 2 for i in range(1, 7)})
    write_csv(data / "labels.csv", ["image name", "DR grade", "adjudicated_gradable"],
              [["001.png", 1, cell], ["002.png", 0, cell], ["003.png", "", cell],
               ["004.png", 1, 1], ["005.png", 0, 1], ["006.png", 1, 0]])
    message = expect_error(config(data, grades=TWO_GRADES), tmp_path / "refused",
                           "003.png has no grade", "006.png is marked ungradable (adjudicated_gradable 0)")
    assert "neither 1 (gradable) nor 0" not in message, message
    result = ingest.run(config(data, grades=TWO_GRADES, ungradable="leave_out"), tmp_path / "out",
                        verbose=False)
    assert result.n_train == 4
    left = ingest_summary(tmp_path / "out")["left_out_ungradable"]
    assert sorted((r["line"], r.get("marked_by", "")) for r in left) == [
        (4, ""), (7, "adjudicated_gradable 0")], left


def test_leave_out_when_every_row_is_ungradable(tmp_path: Path) -> None:
    data = make_plain(tmp_path / "d", {"001.png": "", "002.png": "NA"})  # type: ignore[dict-item]
    message = expect_error(config(data, ungradable="leave_out"), tmp_path / "out",
                           "all 2 rows of the label CSV are marked ungradable")
    assert "header but no rows" not in message


def test_an_unknown_ungradable_setting_is_refused(tmp_path: Path) -> None:
    data = make_ungradable(tmp_path / "d")
    expect_error(config(data, ungradable="drop"), tmp_path / "out",
                 "--ungradable 'drop' is not one of error, leave_out")


def test_the_train_command_passes_data_ungradable_to_the_ingest(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``python -m drac_ssl.train data.ungradable=leave_out`` ingests as ``--ungradable leave_out``
    does, and says it in its own terms."""
    from drac_ssl.config import load_config
    from drac_ssl.train import stage_ingest

    data = make_ungradable(tmp_path / "d")
    cfg = load_config(None, [f"data.root={data}", "data.grades=[Normal,DR]", "data.n_folds=2",
                             "data.workers=1", f"data.cache_sizes=[{SIZE}]", "data.ungradable=leave_out"])
    stage_ingest(cfg, tmp_path / "run")
    printed = capsys.readouterr().out
    summary = ingest_summary(tmp_path / "run" / "data")
    assert [e["name"] for e in summary["left_out_ungradable"]] == ["002.png", "004.png", "006.png"]
    (line,) = [n for n in summary["notes"] if "marked ungradable" in n]
    assert "(data.ungradable=leave_out)" in line and "--ungradable" not in printed


# --------------------------------------------------------------------------------------
# Label rows whose image is missing (data.missing / --missing): a partial download


def make_partial(root: Path, n_rows: int = 30, kept: int = 12) -> Path:
    """A plain folder whose label CSV has ``n_rows`` rows (grades 0, 1 alternating) but only
    the first ``kept`` images, and a test image: EyePACS downloaded in part."""
    data = make_plain(root, {f"{i:03d}.png": i % 2 for i in range(1, n_rows + 1)}, test=("900.png",))
    for i in range(kept + 1, n_rows + 1):
        (data / f"{i:03d}.png").unlink()
    return data


def test_missing_images_stop_the_ingest_by_default_with_the_option_in_the_summary(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """18 of 30 rows without an image: an error per row (the default, as before); the count
    line now names --missing leave_out instead of a hand-made copy of the CSV."""
    data = make_partial(tmp_path / "d")
    assert ingest_cli(data, tmp_path / "out", "--grades", "Normal,DR", "--folds", "2") == 2
    err = capsys.readouterr().err
    assert (f"18 of the 30 label rows have no image in {data} (12 images there): is the training "
            "set fully unzipped there? To train on the images that are there, rerun with --missing "
            "leave_out (the rows without an image are then left out, listed in ingest_summary.json)"
            ) in err, err
    from data_prep.problems import as_config_keys

    assert "rerun with data.missing=leave_out (the rows" in as_config_keys(err)


def test_missing_leave_out_ingests_the_rows_with_an_image_and_records_the_others(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--missing leave_out``: the rows whose image is nowhere are left out, on the record: a
    warning (most rows left out) naming the first five and how many more, a line of the
    printed summary, every one in ingest_summary.json (left_out_missing: name, CSV line, the
    grade as written) beside the setting (missing); the manifest holds the 12 images."""
    data = make_partial(tmp_path / "d")
    assert ingest_cli(data, tmp_path / "out", "--grades", "Normal,DR", "--folds", "2",
                      "--missing", "leave_out") == 0
    printed = capsys.readouterr().out
    rows = read_manifest(tmp_path / "out" / ingest.MANIFEST_NAME)
    assert sorted(r["id"] for r in rows if r["split"] == "train") == [f"{i:03d}.png" for i in range(1, 13)]
    summary = ingest_summary(tmp_path / "out")
    assert summary["missing"] == "leave_out" and summary["config"]["missing"] == "leave_out"
    listed = summary["left_out_missing"]
    assert [e["name"] for e in listed] == [f"{i:03d}.png" for i in range(13, 31)]
    assert listed[0] == {"name": "013.png", "line": 14, "grade_cell": "1", "grade": 1}
    (line,) = [w for w in summary["notes"] if "(--missing leave_out)" in w]
    assert not any("(--missing leave_out)" in w for w in summary["warnings"])
    assert line.startswith(f"{data / 'labels.csv'}: 18 of the 30 label rows have no image in {data} "
                           "and were left out (--missing leave_out): labels.csv:14 013.png, "
                           "labels.csv:15 014.png"), line
    assert "and 13 more" in line and "is the training set fully unzipped there?" in line, line
    assert ("left out: 18 rows whose image is missing (--missing leave_out), listed in "
            "ingest_summary.json (left_out_missing)") in printed, printed
    assert "label without image" not in printed

    # a few rows left out: a note; none: nothing said, an empty list
    few = make_partial(tmp_path / "few", n_rows=12, kept=11)
    result = ingest.run(config(few, grades=TWO_GRADES, missing="leave_out"), tmp_path / "o2", verbose=False)
    assert any("1 of the 12 label rows has no image" in n for n in result.notes), result.notes
    whole = make_plain(tmp_path / "whole", {f"{i:03d}.png": i % 2 for i in range(1, 7)})
    result = ingest.run(config(whole, grades=TWO_GRADES, missing="leave_out"), tmp_path / "o3", verbose=False)
    assert not any("--missing" in n for n in result.notes + result.warnings)
    assert "--missing" not in ingest.format_summary(result)
    assert ingest_summary(tmp_path / "o3")["left_out_missing"] == []
    # the default records the setting and no row
    result = ingest.run(config(whole, grades=TWO_GRADES), tmp_path / "o4", verbose=False)
    assert ingest_summary(tmp_path / "o4")["missing"] == "error"


def test_missing_leave_out_keeps_misplaced_images_and_typos_errors(tmp_path: Path) -> None:
    """Only a row whose image is nowhere is left out: one whose image sits in a subfolder, or
    whose name is a near miss of an image without a row, is a mistake to mend, not a gap in
    the download; an unknown value is refused."""
    data = make_plain(tmp_path / "d", {f"{i:03d}.png": i % 2 for i in range(1, 9)})
    (data / "sub").mkdir()
    (data / "002.png").rename(data / "sub" / "002.png")
    (data / "003.png").rename(data / "003b.png")
    message = expect_error(config(data, grades=TWO_GRADES, missing="leave_out"), tmp_path / "out",
                           "label without image: 002.png is not in", "but in its subfolder sub/",
                           "did you mean 003b.png?")
    expect_error(config(data, missing="drop"), tmp_path / "out",
                 "--missing 'drop' is not one of error, leave_out")
    assert "were left out" not in message


def test_plain_names_are_asked_for_only_when_the_csv_names_a_folder(tmp_path: Path) -> None:
    """A maintainer review: '(and write the plain file names in the CSV)' was said on every
    row of a train/train tree whose CSV names are plain already; only a name with a folder
    part (``sub/002.png``) needs rewriting."""
    data = make_plain(tmp_path / "d", {f"{i:03d}.png": i % 2 for i in range(1, 7)})
    (data / "sub").mkdir()
    for name in ("002.png", "003.png"):
        (data / name).rename(data / "sub" / name)
    rows = [[f"sub/{n}" if n == "002.png" else n, g]
            for n, g in [(f"{i:03d}.png", i % 2) for i in range(1, 7)]]
    write_csv(data / "labels.csv", ["image name", "DR grade"], rows)
    message = expect_error(config(data, grades=TWO_GRADES), tmp_path / "out")
    (with_folder,) = [m for m in message.splitlines() if "002.png is not in" in m]
    (plain,) = [m for m in message.splitlines() if "003.png is not in" in m]
    assert "(and write the plain file names in the CSV)" in with_folder, with_folder
    assert "(and write the plain file names in the CSV)" not in plain, plain


def test_a_leave_out_asked_for_is_a_note_and_strict_does_not_stop_on_it(tmp_path: Path) -> None:
    """A maintainer review: the warnings' header says 'converted or not honoured; fatal with
    --strict', but the '18 of the 30 label rows ... left out' warning did not stop --strict. A
    leave-out the user asked for is no conversion: a note (still asking whether the set is
    fully unzipped when most rows go), so that --strict ingests with no warning left."""
    data = make_partial(tmp_path / "d")
    result = ingest.run(config(data, grades=TWO_GRADES, missing="leave_out", strict=True),
                        tmp_path / "out", verbose=False)
    assert result.warnings == [], result.warnings
    (line,) = [n for n in result.notes if "(--missing leave_out)" in n]
    assert "is the training set fully unzipped there?" in line, line
    assert result.n_train == 12


def test_the_leave_out_option_is_offered_for_the_rows_it_would_take(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A maintainer review: '13 of the 30 label rows have no image ...; to train without them,
    rerun with --missing leave_out', but leave_out keeps a typo-guessed row an error, so the
    rerun stopped again. The count line counts the rows whose image is nowhere; and with a
    few rows missing (no count line printed) each such row's fix names the option, in the
    train preflight as data.missing=leave_out."""
    from drac_ssl import preflight

    data = make_partial(tmp_path / "d", n_rows=30, kept=18)  # 12 rows whose image is nowhere
    (data / "003.png").rename(data / "03.png")  # and a near miss: "did you mean 03.png?"
    assert ingest_cli(data, tmp_path / "out", "--grades", "Normal,DR", "--folds", "2") == 2
    err = capsys.readouterr().err
    assert (f"13 of the 30 label rows have no image in {data} (18 images there); to leave out the "
            "12 whose image is nowhere, rerun with --missing leave_out") in err, err
    assert "to train without them" not in err, err

    few = make_partial(tmp_path / "few", n_rows=12, kept=11)
    message = expect_error(config(few, grades=TWO_GRADES), tmp_path / "o2",
                           "label without image: 012.png is not in")
    (line,) = [m for m in message.splitlines() if "012.png is not in" in m]
    assert line.endswith("-> add the image or delete the row, or rerun with --missing leave_out"), line
    cfg, sources, _ = preflight.read_config(None, [f"data.root={few}", "data.grades=[Normal,DR]",
                                                   "data.n_folds=2", f"data.cache_sizes=[{SIZE}]"])
    found = [f.line for f in preflight.check(cfg, tmp_path / "runs" / "x", sources, stages=["ingest"])
             if "012.png" in f.line]
    assert found and "or rerun with data.missing=leave_out" in found[0], found


def test_a_grade_whose_rows_were_all_left_out_asks_for_their_images_not_a_smaller_scale(
        tmp_path: Path) -> None:
    """A maintainer review: with ``--missing leave_out``, a grade whose every row lost its image
    got 'no labelled image ... take it out of the scale / --grades' with fewer names, which
    builds a model of fewer grades than the data has. The warning counts the grade's rows
    left out and asks for their images; the train preflight says the same in settings."""
    from drac_ssl import preflight

    three = ["Normal", "Mild", "DR"]
    data = make_plain(tmp_path / "d", {f"{i:03d}.png": i % 3 for i in range(1, 13)})
    for i in range(2, 13, 3):  # every grade-2 image: 002, 005, 008, 011
        (data / f"{i:03d}.png").unlink()
    result = ingest.run(config(data, grades=three, missing="leave_out"), tmp_path / "out", verbose=False)
    (line,) = [w for w in result.warnings if "grade 2 (DR)" in w]
    assert ("grade 2 (DR): no labelled image; its 4 rows were left out (--missing leave_out: "
            "their images are missing)") in line, line
    assert "-> add their images" in line, line
    assert "--grades" not in line and "out of the scale" not in line, line

    cfg, sources, _ = preflight.read_config(None, [f"data.root={data}", "data.grades=[Normal,Mild,DR]",
                                                   "data.n_folds=2", f"data.cache_sizes=[{SIZE}]",
                                                   "data.missing=leave_out"])
    found = [f.line for f in preflight.check(cfg, tmp_path / "runs" / "x", sources, stages=["ingest"])
             if "grade 2 (DR)" in f.line]
    assert found and all("its 4 rows were left out (data.missing=leave_out: their images are "
                         "missing)" in f and "out of the scale" not in f for f in found), found


def test_the_train_command_passes_data_missing_to_the_ingest_and_its_preflight(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``data.missing=leave_out``: the preflight refuses no such row and counts the rows with
    an image; the ingest stage leaves the others out and says it in the setting's terms."""
    from drac_ssl import preflight
    from drac_ssl.config import load_config
    from drac_ssl.train import stage_ingest

    data = make_partial(tmp_path / "d")
    settings = [f"data.root={data}", "data.grades=[Normal,DR]", "data.n_folds=2", "data.workers=1",
                f"data.cache_sizes=[{SIZE}]"]
    cfg, sources, _ = preflight.read_config(None, settings)
    refused = [f.line for f in preflight.check(cfg, tmp_path / "runs" / "x", sources, stages=["ingest"])
               if f.severity == "error"]
    assert any("label without image" in line for line in refused), refused
    cfg, sources, _ = preflight.read_config(None, [*settings, "data.missing=leave_out"])
    found = preflight.check(cfg, tmp_path / "runs" / "x", sources, stages=["ingest"])
    assert [f.line for f in found if f.severity == "error"] == []
    cfg = load_config(None, [*settings, "data.missing=leave_out"])
    stage_ingest(cfg, tmp_path / "run")
    printed = capsys.readouterr().out
    summary = ingest_summary(tmp_path / "run" / "data")
    assert len(summary["left_out_missing"]) == 18
    assert "(data.missing=leave_out)" in printed and "--missing" not in printed, printed


def test_an_image_in_a_format_the_package_does_not_read_is_said_so(tmp_path: Path) -> None:
    """A .webp among the training images is an image the package cannot read, not "not an
    image file": said so, with the fix (convert it to PNG); still a fatal non-image error."""
    folder = tmp_path / "train"
    folder.mkdir()
    cv2.imwrite(str(folder / "001.png"), np.zeros((8, 8), np.uint8))
    (folder / "002.webp").write_bytes(b"RIFF\x1a\x00\x00\x00WEBPVP8L")
    (folder / "notes.txt").write_text("scan notes")
    found = {Path(p.path).name: p for p in scan_image_folder(folder).problems}
    webp = found["002.webp"]
    assert (webp.severity, webp.kind) == ("error", "non-image")
    assert "not an image file" not in webp.what
    assert "WEBP image" in webp.what and "format this package does not read" in webp.what
    assert "convert it to PNG" in webp.fix
    assert found["notes.txt"].what.startswith("not an image file (.txt)")


@pytest.mark.parametrize("row_name", ["004.webp", "004", "004.WEBP"])
def test_a_labelled_image_in_a_format_not_read_is_not_also_a_label_without_image(
        tmp_path: Path, row_name: str) -> None:
    """A plain folder holding ``004.webp`` with a label row for it gave two contradictory
    errors: the .webp is an image of a format this package does not read (convert it) AND
    "label without image: 004.webp is not in FOLDER -> add the image", although the file is
    there. The row of a file the folder scan already reported (by name, or by stem as APTOS
    writes ids) is no longer a label without image; the format error stands."""
    data = make_plain(tmp_path / "d", {"001.png": 0, "002.png": 1, "003.png": 1})
    (data / "004.webp").write_bytes(b"RIFF\x1a\x00\x00\x00WEBPVP8L")
    csv_path = data / "labels.csv"
    with open(csv_path, "a", encoding="utf-8") as fh:
        fh.write(f"{row_name},0\n")  # line 5
    message = expect_error(config(data, grades=TWO_GRADES), tmp_path / "out",
                           "004.webp: a WEBP image, a format this package does not read",
                           "convert it to PNG")
    assert "label without image" not in message, message
    assert "1 problem(s)" in message, message
    # a row whose file is truly missing is still one
    (data / "004.webp").unlink()
    expect_error(config(data, grades=TWO_GRADES), tmp_path / "out2",
                 f"{csv_path}:5: label without image: {row_name} is not in {data}")


def test_cache_sizes_is_the_flag_of_data_cache_sizes_and_sizes_still_works() -> None:
    """A DRAC trial typed `--cache-sizes 128` (the setting is data.cache_sizes, as --fundus-crop
    is data.fundus_crop) and got 'unrecognized arguments'; the older --sizes keeps working."""
    import argparse

    parser = argparse.ArgumentParser(prog="ingest")
    ingest.add_arguments(parser)
    base = ["--root", "r", "--out", "o"]
    assert ingest.config_from_args(parser.parse_args([*base, "--cache-sizes", "128"])).cache_sizes == [128]
    assert ingest.config_from_args(parser.parse_args([*base, "--sizes", "64,128"])).cache_sizes == [64, 128]
    assert ingest.config_from_args(parser.parse_args(base)).cache_sizes == DataConfig().cache_sizes
    text = " ".join(parser.format_help().split())
    assert "--cache-sizes SIZES" in text and "--sizes SIZES" not in text  # one name shown
    assert "data.cache_sizes" in text and "--sizes" in text  # the setting, and the older name said
    # the ingest's advice names the flag its command has, and the train settings translate it
    from data_prep.problems import as_config_keys

    with pytest.raises(ingest.IngestError, match=r"--cache-sizes \[4\].*e\.g\. --cache-sizes 256,512"):
        ingest.check_settings(DataConfig(cache_sizes=[4]))
    assert as_config_keys("use cache sizes near 64 px (--cache-sizes) to save memory") == (
        "use cache sizes near 64 px (data.cache_sizes) to save memory")
    assert as_config_keys("--cache-sizes 256,512") == "data.cache_sizes=256,512"


def test_a_successful_ingest_sets_its_threads_without_importing_torch(tmp_path: Path, aptos_dir: Path) -> None:
    """A review: ``python -m data_prep ingest`` imported torch (2-5 s) only to set torch's
    thread count, which nothing of the ingest uses (OpenCV decodes and resizes, in this
    process and in its workers). A real ingest of the APTOS samples now ends without torch
    loaded, OpenCV's threads set as asked."""
    out = tmp_path / "out"
    code = ("import sys, cv2\n"
            "from data_prep.__main__ import main\n"
            f"rc = main(['ingest', '--root', {str(aptos_dir)!r}, '--out', {str(out)!r}, '--sizes', "
            f"'{SIZE}', '--threads', '3'])\n"
            "print(rc, 'torch' in sys.modules, cv2.getNumThreads())\n")
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                          env=env, timeout=300)
    assert proc.stdout.split()[-3:] == ["0", "False", "3"], proc.stdout + proc.stderr
    assert (out / ingest.MANIFEST_NAME).is_file()



def test_a_long_ingest_prints_a_progress_line_a_minute_off_a_terminal(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A review: piped through a timestamper (stderr not a terminal, so no bar), an ingest of
    400 images printed every line at the same second after 10 s; an EyePACS-size one would sit
    silent for many minutes in a cluster log. Off a terminal, one plain line at most a minute
    (the engine's rule, drac_ssl.console) says how many images of how many, the rate and the
    time left; on a terminal the bar says it and no line is printed. The outputs are the same."""
    from drac_ssl import console

    data = make_plain(tmp_path / "d", {f"{i}.png": i % 2 for i in range(6)})
    monkeypatch.setattr(console, "progress_clock", StepClock(61.0))  # a minute a read: a line per image
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    logged = ingest.run(config(data, grades=TWO_GRADES), tmp_path / "log", verbose=False)
    # the decoding's lines (the cache write's and hashing's follow: "[ingest] writing the cache: ...")
    lines = [line for line in capsys.readouterr().err.splitlines() if re.match(r"\[ingest\] \d", line)]
    assert lines, lines
    assert re.fullmatch(r"\[ingest\] 1 of 6 images \([\d.,]+ img/s, about \d+ (s|min|h) left\)", lines[0]), lines
    assert lines[-1].startswith("[ingest] 6 of 6 images ("), lines
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    quiet = ingest.run(config(data, grades=TWO_GRADES), tmp_path / "tty", verbose=False)
    assert "[ingest] 1 of" not in capsys.readouterr().err
    assert logged.manifest_path.read_bytes() == quiet.manifest_path.read_bytes()
    # a clock that barely moves: no line at all
    monkeypatch.setattr(console, "progress_clock", StepClock(0.001))
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    ingest.run(config(data, grades=TWO_GRADES), tmp_path / "fast", verbose=False)
    assert "[ingest] 1 of" not in capsys.readouterr().err


@pytest.mark.parametrize("inside", [(), (TASK_DIR,), (TASK_DIR, IMAGES_DIR, TEST_DIR)])
def test_a_root_inside_the_testing_sets_folder_names_the_drac_folder_beside_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], inside: tuple[str, ...]) -> None:
    """A review: ``--root '.../DRAC 2022/DRAC2022_Testing_Set'`` (the folder the testing archive
    unzips to) exited 0 with 0 training images and a note that said the training folder was
    missing in a folder it said held it ('no 'a. Training Set' folder ... in .../1. Original
    Images (it holds 'a. Training Set')'), then asked to put the images where they were. The
    root one level off now stops, naming the DRAC folder that holds both sets."""
    base = make_drac(tmp_path / "DRAC 2022")
    root = base.joinpath(TEST_ROOT_DIR, *inside)
    assert ingest_cli(root, tmp_path / "out", "--folds", "2") == 2
    err = capsys.readouterr().err
    assert f"did you mean --root {shlex.quote(str(base))} (a DRAC 2022 layout" in err, err
    assert f"(it holds '{TRAIN_DIR}')" not in err and "put the training images" not in err, err
    assert not (tmp_path / "out" / ingest.MANIFEST_NAME).exists()
    result = ingest.run(config(base), tmp_path / "out", verbose=False)  # the root it names
    assert (result.n_train, result.n_test) == (6, 2)


def test_a_testing_set_root_without_a_training_set_beside_it_is_a_note_that_holds_true(
        tmp_path: Path) -> None:
    """The testing set's folder with no training set beside it: the testing set alone is
    ingested, and the note names the folder it looked in as it is (never 'no folder' in a
    folder said to hold it)."""
    base = make_drac(tmp_path / "DRAC 2022", train=False)
    shutil.rmtree(base / TASK_DIR / GROUNDTRUTH_DIR)
    (base / TASK_DIR / IMAGES_DIR).mkdir(parents=True)
    result = ingest.run(config(base / TEST_ROOT_DIR), tmp_path / "out", verbose=False)
    assert (result.n_train, result.n_test) == (0, 2)
    (line,) = [n for n in result.notes if "no training set found" in n]
    assert f"no '{TRAIN_DIR}' folder of training images in {base / TASK_DIR / IMAGES_DIR} (it is empty)" \
        in line, line


def unzip_as_said(message: str) -> list[str]:
    """Run the ``(cd DIR && unzip A && unzip B)`` of ``message`` (extracted with zipfile, as
    ``unzip`` would); returns the archives it names."""
    command = re.search(r"\(cd (.+?) && (unzip .+?)\)(?: and run again| to ingest|;)", message)
    assert command is not None, message
    folder = Path(shlex.split(command[1])[0])
    names = [shlex.split(part)[1] for part in command[2].split(" && ")]
    for name in names:
        with zipfile.ZipFile(folder / name) as archive:
            archive.extractall(folder)
    return names


def zip_tree(archive: Path, folder: Path, base: Path) -> Path:
    """``folder``'s files in ``archive``, named relative to ``base`` (as the official zips)."""
    with zipfile.ZipFile(archive, "w") as out:
        for path in sorted(folder.rglob("*")):
            out.write(path, path.relative_to(base).as_posix())
    return archive


@pytest.mark.parametrize("test_zip", [f"{TEST_ROOT_DIR}.zip", f"{TEST_ROOT_DIR} (1).zip"])
def test_the_unzip_advice_names_both_drac_archives(tmp_path: Path, test_zip: str) -> None:
    """A review: a folder holding both official zips was told to unzip only the training
    archive; the user did, and a full training ended with no submission. Both are named, in
    one command that works; a testing zip renamed by a second download is known by what it
    holds (a review: only a renamed training zip was)."""
    made = make_drac(tmp_path / "made")
    zips = tmp_path / "zips"
    zips.mkdir()
    zip_tree(zips / f"{TASK_DIR}.zip", made / TASK_DIR, made)
    zip_tree(zips / test_zip, made / TEST_ROOT_DIR, made)
    message = expect_error(config(zips), tmp_path / "out")
    assert (f"unzip both here (cd {zips} && unzip '{TASK_DIR}.zip' && unzip {shlex.quote(test_zip)}) "
            "and run again") in message, message
    assert unzip_as_said(message) == [f"{TASK_DIR}.zip", test_zip]
    result = ingest.run(config(zips), tmp_path / "out", verbose=False)
    assert (result.n_train, result.n_test) == (6, 2)


def test_a_missing_testing_set_whose_archive_lies_in_the_root_names_it(tmp_path: Path) -> None:
    """The training archive unzipped, DRAC2022_Testing_Set.zip beside it still zipped: the
    note names that zip and the command that unzips it."""
    made = make_drac(tmp_path / "made")
    root = make_drac(tmp_path / "DRAC 2022", test=False)
    zip_tree(root / f"{TEST_ROOT_DIR}.zip", made / TEST_ROOT_DIR, made)
    for point_at in (root, root / TASK_DIR):
        result = ingest.run(config(point_at), tmp_path / "out", verbose=False)
        (line,) = [n for n in result.notes if "no testing set found" in n]
        assert (f"-> found {TEST_ROOT_DIR}.zip in {root}: unzip it there (cd {shlex.quote(str(root))} "
                f"&& unzip {TEST_ROOT_DIR}.zip); without it no submission is written") in line, line
    assert unzip_as_said(line) == [f"{TEST_ROOT_DIR}.zip"]
    result = ingest.run(config(root), tmp_path / "out", verbose=False)
    assert (result.n_train, result.n_test) == (6, 2)


def test_a_missing_training_set_whose_archive_lies_in_the_root_names_it(tmp_path: Path) -> None:
    """The other way round: the testing archive unzipped, the training archive still zipped
    beside it: the note names that zip and its unzip command, which works."""
    made = make_drac(tmp_path / "made")
    root = tmp_path / "DRAC 2022"
    shutil.copytree(made / TEST_ROOT_DIR, root / TEST_ROOT_DIR)
    zip_tree(root / f"{TASK_DIR} (1).zip", made / TASK_DIR, made)  # a second download's name
    result = ingest.run(config(root), tmp_path / "out", verbose=False)
    (line,) = [n for n in result.notes if "no training set found" in n]
    assert (f"-> found '{TASK_DIR} (1).zip' in {root}: unzip it there (cd {shlex.quote(str(root))} "
            f"&& unzip '{TASK_DIR} (1).zip') to ingest the training set") in line, line
    assert unzip_as_said(line) == [f"{TASK_DIR} (1).zip"]
    result = ingest.run(config(root), tmp_path / "out", verbose=False)
    assert (result.n_train, result.n_test) == (6, 2)


def test_repeated_rows_that_differ_say_what_differs_and_which_to_keep(tmp_path: Path) -> None:
    """r4 F4: rows of one image that agree on the grade but differ in the patient or the case
    of the name (an error: they are not one row written twice) said only "with grade 1 on
    both -> keep exactly one row per image", as if deleting either lost nothing. Now the
    message names what differs and the fix which row to keep."""
    data = make_plain(tmp_path / "d", {"001.png": 0, "002.png": 1, "003.png": 2})
    csv_path = data / "labels.csv"
    csv_path.write_text("image name,DR grade,patient_id\n001.png,0,p1\n002.png,1,p0\n002.png,1,p9\n"
                        "003.png,2,p3\n")
    message = expect_error(config(data, patient_column="patient_id"), tmp_path / "out")
    assert (f"{csv_path}:4: 002.png is listed 2 times (lines 3, 4) with grade 1 on both; patient p0 "
            "on line 3, p9 on line 4 -> keep exactly one row per image: the row with the image's "
            "right patient, deleting the other") in message, message
    csv_path.write_text("image name,DR grade\n001.png,0\n002.png,1\n003.png,2\n003.PNG,2\n")
    message = expect_error(config(data), tmp_path / "case")
    assert (f"{csv_path}:5: 003.png is listed 2 times (lines 4, 5) with grade 2 on both; spelt "
            "003.png / 003.PNG -> keep exactly one row per image (the spellings name the same "
            "image: delete all but one)") in message, message


def test_unwritable_stdout_is_named_not_the_out_folder(tmp_path, monkeypatch, capsys):
    """``ingest ... > /dev/full``: stdout named (exit 2), not "cannot write the ingest output ...
    check free disk space and the permissions of --out" with OUT fully written."""
    import errno
    import sys

    class Full:
        def write(self, text):
            raise OSError(errno.ENOSPC, "No space left on device")

        def flush(self):
            raise OSError(errno.ENOSPC, "No space left on device")

    root = make_plain(tmp_path / "d", {f"{i:03d}.png": i % 3 for i in range(1, 7)})
    monkeypatch.setattr(sys, "stdout", Full())
    assert ingest_cli(root, tmp_path / "out", "--folds", "2") == 2
    err = capsys.readouterr().err
    assert "error: stdout could not be written (No space left on device)" in err
    assert "cannot write the ingest output" not in err
    assert f"the ingest output in {tmp_path / 'out'} is written" in err  # the run goes on, OUT whole
    assert (tmp_path / "out" / ingest.MANIFEST_NAME).is_file()
