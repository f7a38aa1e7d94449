"""The public DR layouts found by themselves, K grades, colour kept, fundus preprocessing.

Each layout is built in the test from the 30 real APTOS 2019 samples (6 per ICDR grade) in
``aptos_samples/`` of the real data folder (``$DRAC_SSL_SHARED_DATA``, else ``../shared/data``:
tests/helpers/shared_data.py); RetinaMNIST is the real ``.npz``. Skipped with the reason when
they are absent."""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shlex
import sys
from collections import Counter
from dataclasses import replace as dataclasses_replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from shared_data import SHARED_DATA, need

from data_prep import ingest, layout, validate
from data_prep.fundus import crop_to_disc, graham, has_dark_surround
from data_prep.layout import (
    GROUNDTRUTH_DIR,
    IDRID_DIR,
    IDRID_LABELS_CSV_NAME,
    IMAGES_DIR,
    TEST_DIR,
    TRAIN_DIR,
)
from drac_ssl.config import ConfigError, DataConfig, load_config
from drac_ssl.datasets import load_octa_cache
from drac_ssl.starting import python_command

RETINAMNIST = SHARED_DATA / "retinamnist" / "retinamnist_public.npz"
SIZE = 32
ICDR = ["No DR", "Mild", "Moderate", "Severe", "PDR"]


def config(root: Path, **overrides: object) -> DataConfig:
    settings: dict[str, object] = {"root": str(root), "cache_sizes": [SIZE], "n_folds": 2,
                                   "workers": 1}
    settings.update(overrides)
    return DataConfig(**settings)  # type: ignore[arg-type]


def manifest(result: ingest.IngestResult) -> list[dict[str, str]]:
    with open(result.manifest_path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def summary(result: ingest.IngestResult) -> dict:
    return json.loads(result.summary_path.read_text(encoding="utf-8"))


def run_error(cfg: DataConfig, out: Path) -> str:
    with pytest.raises(validate.IngestError) as caught:
        ingest.run(cfg, out, verbose=False)
    return str(caught.value)


def split(aptos: list[tuple[str, int, np.ndarray]]) -> tuple[list, list]:
    """25 training images (5 per grade) and 5 test images (the first of each grade)."""
    test, train, seen = [], [], set()
    for item in aptos:
        (train if item[1] in seen else test).append(item)
        seen.add(item[1])
    return train, test


def save(path: Path, rgb: np.ndarray, **kwargs: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path, **kwargs)


def write_rows(path: Path, header: list[str], rows: list[list[object]], newline: str = "\r\n") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator=newline)
        writer.writerow(header)
        writer.writerows(rows)


def rgb_rows(images: list[np.ndarray], size: int = SIZE) -> np.ndarray:
    return np.stack([cv2.resize(im, (size, size), interpolation=cv2.INTER_AREA) for im in images])


# --------------------------------------------------------------------------------------
# Each public layout


def test_aptos_layout(tmp_path: Path, aptos: list) -> None:
    train, test = split(aptos)
    root = tmp_path / "aptos2019"
    for code, _, rgb in train:
        save(root / "train_images" / f"{code}.png", rgb)
    for code, _, rgb in test:
        save(root / "test_images" / f"{code}.png", rgb)
    write_rows(root / "train.csv", ["id_code", "diagnosis"], [[c, g] for c, g, _ in train])
    write_rows(root / "test.csv", ["id_code"], [[c] for c, _, _ in test])
    (root / "sample_submission.csv").write_text("id_code,diagnosis\n")

    result = ingest.run(config(root, n_folds=5), tmp_path / "out", verbose=False)

    assert result.layout == "aptos" and (result.n_train, result.n_test) == (25, 5)
    assert result.grade_names == tuple(ICDR) and result.channels == 3
    assert result.counts_per_grade == dict.fromkeys(range(5), 5)
    for per_grade in result.counts_per_fold.values():  # stratified over the 5 grades
        assert per_grade == dict.fromkeys(range(5), 1)
    # APTOS's id_code never has an extension: matching by stem is its convention, no note
    # (a new-contributor trial, F7: DeepDRiD's layout noted it on every run)
    assert not any("without extension" in n for n in result.notes), result.notes
    rows = manifest(result)
    train_rows = [r for r in rows if r["split"] == "train"]
    assert {r["id"] for r in train_rows} == {f"{c}.png" for c, _, _ in train}
    by_id = {f"{c}.png": (g, rgb) for c, g, rgb in aptos}
    assert all(int(r["grade"]) == by_id[r["id"]][0] for r in train_rows)
    cached = np.load(result.cache_paths[SIZE])
    assert cached.shape == (30, SIZE, SIZE, 3)
    np.testing.assert_array_equal(cached, rgb_rows([by_id[r["id"]][1] for r in rows]))
    info = summary(result)
    assert info["grades"] == {"names": ICDR, "k": 5, "source": "the APTOS layout's default (icdr)"}
    assert info["channels"]["value"] == 3 and "auto" in info["channels"]["reason"]
    assert info["cache"][str(SIZE)]["shape"] == [30, SIZE, SIZE, 3]
    assert "fold 4" in ingest.format_summary(result) and "4 PDR" in ingest.format_summary(result)



def test_a_thumbnail_among_full_size_photographs_is_said(tmp_path: Path, aptos: list,
                                                          drac_samples: list[np.ndarray]) -> None:
    """A trial's 20 x 20 crop among 224 px photographs was enlarged to the cache without a word
    (fundus layouts have no expected size): it is a warning naming the file and the
    enlargement; a UW-OCTA image already warned of its size is not warned twice."""
    train, test = split(aptos)
    root = tmp_path / "aptos"
    for code, _, rgb in train:
        save(root / "train_images" / f"{code}.png", rgb if code != train[3][0] else rgb[100:120, 100:120])
    write_rows(root / "train.csv", ["id_code", "diagnosis"], [[c, g] for c, g, _ in train])
    result = ingest.run(config(root, n_folds=3, cache_sizes=[64]), tmp_path / "out", verbose=False)
    (small,) = [w for w in result.warnings if "far smaller" in w]
    assert f"{train[3][0]}.png" in small and "20x20 px" in small and "typically 224 px" in small
    assert "enlarged 3x to the 64 px cache" in small and "thumbnail or a crop" in small
    # grey UW-OCTA expected at 1024 px: the crop's own size warning says it once
    octa = tmp_path / "octa"
    for i, sample in enumerate([*drac_samples, drac_samples[0][:200, :200]]):
        save(octa / f"{i + 1:03d}.png", sample)
    write_rows(octa / "labels.csv", ["image name", "DR grade"], [[f"{i:03d}.png", (i - 1) % 3] for i in range(1, 5)])
    grey = ingest.run(config(octa, n_folds=2, expected_side=1024), tmp_path / "grey", verbose=False)
    assert [w for w in grey.warnings if "004.png" in w and "200x200" in w] and not any(
        "far smaller" in w for w in grey.warnings)
    # a plain folder expects no size by default (data.expected_side): the crop is far smaller
    plain = ingest.run(config(octa, n_folds=2), tmp_path / "plain", verbose=False)
    (small,) = [w for w in plain.warnings if "004.png" in w]
    assert "200x200 px, far smaller than the other images (typically 1024 px)" in small

def test_aptos_test_list_is_checked(tmp_path: Path, aptos: list) -> None:
    train, test = split(aptos)
    root = tmp_path / "aptos"
    for code, _, rgb in train:
        save(root / "train_images" / f"{code}.png", rgb)
    for code, _, rgb in test[:4]:
        save(root / "test_images" / f"{code}.png", rgb)
    save(root / "test_images" / "stray.png", test[4][2])
    write_rows(root / "train.csv", ["id_code", "diagnosis"], [[c, g] for c, g, _ in train])
    write_rows(root / "test.csv", ["id_code"], [[c] for c, _, _ in test])
    message = run_error(config(root), tmp_path / "out")
    assert f"test image {test[4][0]} is listed but not in" in message
    assert "stray.png: test image not listed in test.csv" in message
    # --missing leave_out covers the training label rows only (docs/data.md says so): a test
    # list row without its image stays an error
    (root / "test_images" / "stray.png").unlink()
    message = run_error(config(root, missing="leave_out"), tmp_path / "out2")
    assert f"test image {test[4][0]} is listed but not in" in message, message


def test_eyepacs_layout(tmp_path: Path, aptos: list) -> None:
    train, test = split(aptos)
    root = tmp_path / "kaggle-dr-2015"
    names = []
    for i, (_, grade, rgb) in enumerate(train):
        name = f"{10 + i}_{'left' if i % 2 else 'right'}"
        save(root / "train" / f"{name}.jpeg", rgb, format="JPEG", quality=95)
        names.append([name, grade])
    for i, (_, _, rgb) in enumerate(test):
        save(root / "test" / f"{i + 1}_left.jpeg", rgb, format="JPEG", quality=95)
    write_rows(root / "trainLabels.csv", ["image", "level"], names, newline="\n")

    result = ingest.run(config(root, n_folds=5), tmp_path / "out", verbose=False)

    assert result.layout == "eyepacs" and (result.n_train, result.n_test) == (25, 5)
    assert not any("without extension" in n for n in result.notes), result.notes  # its ids never have one
    assert result.grade_names == tuple(ICDR) and result.channels == 3
    rows = manifest(result)
    assert rows[0]["id"] == "10_right.jpeg" and rows[0]["path"] == "train/10_right.jpeg"
    assert [int(r["grade"]) for r in rows if r["split"] == "train"][:3] == [g for _, g in names[:3]]
    info = summary(result)  # one column pair: the config records the columns read, not the defaults
    assert info["label_columns"] == {"image": "image", "grade": "level"}
    assert (info["config"]["image_column"], info["config"]["grade_column"]) == ("image", "level")
    assert {r["patient"] for r in rows if r["split"] == "train"} == {str(10 + i) for i in range(25)}

    # both eyes of a patient (10_left, 10_right) are never in two folds: no leak between them
    pairs = root.parent / "pairs"
    rows_csv = []
    for i, (_, grade, rgb) in enumerate(train[:24]):
        name = f"{100 + i // 2}_{'left' if i % 2 else 'right'}"
        save(pairs / "train" / f"{name}.jpeg", rgb, format="JPEG", quality=95)
        rows_csv.append([name, grade])
    write_rows(pairs / "trainLabels.csv", ["image", "level"], rows_csv, newline="\n")
    paired = ingest.run(config(pairs, n_folds=3), tmp_path / "pairs-out", verbose=False)
    fold_of: dict[str, set[str]] = {}
    for r in manifest(paired):
        fold_of.setdefault(r["patient"], set()).add(r["fold"])
    assert len(fold_of) == 12 and all(len(folds) == 1 for folds in fold_of.values())
    assert any("two eyes of a patient are kept in one fold" in n for n in paired.notes)
    assert summary(paired)["patients"] == {
        "grouped": True, "source": "the EyePACS image ids <patient>_left / _right", "column": None,
        "n_patients": 12, "n_images": 24, "unused_column": None}


def test_idrid_layout_with_official_folder_names(tmp_path: Path, aptos: list) -> None:
    train, test = split(aptos)
    task = tmp_path / "IDRiD" / IDRID_DIR
    rows = []
    for i, (_, grade, rgb) in enumerate(train):
        save(task / IMAGES_DIR / TRAIN_DIR / f"IDRiD_{i + 1:03d}.jpg", rgb, format="JPEG")
        rows.append([f"IDRiD_{i + 1:03d}", grade, 0, "", ""])
    for i, (_, _, rgb) in enumerate(test):  # the official test names restart at IDRiD_001
        save(task / IMAGES_DIR / TEST_DIR / f"IDRiD_{i + 1:03d}.jpg", rgb, format="JPEG")
    truth = task / GROUNDTRUTH_DIR
    write_rows(truth / IDRID_LABELS_CSV_NAME,
               ["Image name", "Retinopathy grade", "Risk of macular edema ", "", ""], rows)
    write_rows(truth / "b. IDRiD_Disease Grading_Testing Labels.csv",
               ["Image name", "Retinopathy grade", "Risk of macular edema "], [["IDRiD_001", 0, 0]])

    result = ingest.run(config(tmp_path / "IDRiD", n_folds=5), tmp_path / "out", verbose=False)

    assert result.layout == "idrid" and (result.n_train, result.n_test) == (25, 5)
    assert result.channels == 3 and result.counts_per_grade == dict.fromkeys(range(5), 5)
    assert not any("without extension" in n for n in result.notes), result.notes  # its ids never have one
    info = summary(result)
    assert info["label_columns"] == {"image": "Image name", "grade": "Retinopathy grade"}
    assert {k: info["config"][k] for k in ("image_column", "grade_column")} == {
        "image_column": "Image name", "grade_column": "Retinopathy grade"}
    assert any("also name training images" in n for n in result.notes)
    # the testing labels are not read, and the note names the command that scores against them
    assert any("Testing Labels.csv: CSV not read" in n and "python -m drac_ssl.export --score "
               "SUBMISSION.csv --labels '" in n for n in result.notes), result.notes
    ids = [r["id"] for r in manifest(result)]
    assert ids[0] == "IDRiD_001.jpg" and ids[25] == "IDRiD_001.jpg"  # per split unique
    assert len(load_octa_cache(tmp_path / "out", SIZE)[1]) == 30  # and the stages read them
    # a root inside the task (the DRAC layout uses the same folder names) is IDRiD, not DRAC
    for inside in (task / IMAGES_DIR, task / IMAGES_DIR / TRAIN_DIR):
        assert layout.detect_kind(inside) == "idrid", inside
        again = ingest.run(config(inside, n_folds=5), tmp_path / f"out-{inside.name}", verbose=False)
        assert again.layout == "idrid" and again.channels == 3 and (again.n_train, again.n_test) == (25, 5)


def test_an_idrid_root_without_its_testing_set_says_where_it_looked_as_aptos_and_eyepacs_do(
        tmp_path: Path) -> None:
    """Review s52 F4: an IDRiD root without 'b. Testing Set' said nothing until the export's
    'no submission written' at the very end, while APTOS and EyePACS said at the ingest that
    only the training set is ingested. Each of these layouts now gives the same note (kind
    no-testing-set, the DRAC layout's words): where it looked and where the test images go;
    none once the testing folder is there."""
    task = tmp_path / "IDRiD" / IDRID_DIR
    images = task / IMAGES_DIR
    (images / TRAIN_DIR).mkdir(parents=True)
    (images / TRAIN_DIR / "IDRiD_001.jpg").write_bytes(b"not decoded here")
    write_rows(task / GROUNDTRUTH_DIR / IDRID_LABELS_CSV_NAME, ["Image name", "Retinopathy grade"],
               [["IDRiD_001", 0]])
    aptos = tmp_path / "aptos"
    (aptos / "train_images").mkdir(parents=True)
    write_rows(aptos / "train.csv", ["id_code", "diagnosis"], [["a", 0]])
    eyepacs = tmp_path / "eyepacs"
    (eyepacs / "train").mkdir(parents=True)
    write_rows(eyepacs / "trainLabels.csv", ["image", "level"], [["1_left", 0]])

    def said(root: Path) -> list[validate.Problem]:
        return [p for p in layout.discover(config(root)).problems if p.kind == "no-testing-set"]

    for root, folder, name in ((tmp_path / "IDRiD", images, TEST_DIR), (aptos, aptos, "test_images"),
                               (eyepacs, eyepacs, "test")):
        (note,) = said(root)
        assert note.severity == "note", note
        assert note.what == (f"no testing set found, only the training set is ingested: no '{name}' "
                             f"folder of test images in {folder}"), note.what
        assert note.fix == f"put the test images in '{folder / name}'; without it no submission is written"
        (folder / name).mkdir()
        assert said(root) == [], root


def test_public_layout_names_differing_in_case_or_spacing_are_read_with_a_note(tmp_path: Path) -> None:
    """APTOS's and IDRiD's fixed names are matched as DRAC's are: without letter case and
    whitespace, the folder or file taken named in a note (the folder listing only)."""
    aptos = tmp_path / "aptos"
    (aptos / "Train_Images ").mkdir(parents=True)  # a trailing space, and capitals
    (aptos / "Test_images").mkdir()
    write_rows(aptos / "Train.csv", ["id_code", "diagnosis"], [["a", 0]])
    assert layout.detect_kind(aptos) == "aptos"
    found = layout.discover(config(aptos))
    assert (found.train_dir, found.test_dir, found.labels_csv) == (
        aptos / "Train_Images ", aptos / "Test_images", aptos / "Train.csv")
    said = [p.line for p in found.problems]
    for name, official, what in (("Train_Images ", "train_images", "folder"),
                                 ("Train.csv", "train.csv", "file"),
                                 ("Test_images", "test_images", "folder")):
        assert f"{aptos / name}: read as the official '{official}' (the {what} name differs only " \
               "in letter case or spacing)" in " ".join(said), said

    task = tmp_path / "IDRiD" / "B. Disease grading"
    (task / "1. original images" / "a. Training set").mkdir(parents=True)
    (task / "1. original images" / "b.Testing Set").mkdir()
    write_rows(task / "2. Groundtruths" / IDRID_LABELS_CSV_NAME, ["Image name", "Retinopathy grade"],
               [["IDRiD_001", 0]])
    assert layout.detect_kind(tmp_path / "IDRiD") == "idrid"
    found = layout.discover(config(tmp_path / "IDRiD"))
    images = task / "1. original images"
    assert (found.train_dir, found.test_dir) == (images / "a. Training set", images / "b.Testing Set")
    assert found.labels_csv == task / "2. Groundtruths" / IDRID_LABELS_CSV_NAME
    said = " ".join(p.line for p in found.problems)
    for path, official in ((task, IDRID_DIR), (images, IMAGES_DIR),
                           (images / "a. Training set", TRAIN_DIR), (images / "b.Testing Set", TEST_DIR)):
        assert f"{path}: read as the official '{official}'" in said, said


def test_a_plain_folder_with_idrid_columns_is_read_as_the_idrid_layout(tmp_path: Path,
                                                                     aptos: list) -> None:
    """Images + a CSV with IDRiD's grading columns in a plain folder: read at once with those
    columns, the ICDR grades and colour kept, exactly as the official IDRiD layout reads the
    same files; a note says so and how to choose other columns; set columns are never replaced."""
    train, _ = split(aptos)
    header = ["Image name", "Retinopathy grade", "Risk of macular edema "]
    rows = [[f"IDRiD_{i + 1:03d}", grade, 0] for i, (_, grade, _) in enumerate(train)]
    official = tmp_path / "IDRiD" / IDRID_DIR
    plain = tmp_path / "plain"
    for i, (_, _, rgb) in enumerate(train):
        save(official / IMAGES_DIR / TRAIN_DIR / f"IDRiD_{i + 1:03d}.jpg", rgb, format="JPEG")
        save(plain / f"IDRiD_{i + 1:03d}.jpg", rgb, format="JPEG")
    write_rows(official / GROUNDTRUTH_DIR / IDRID_LABELS_CSV_NAME, header, rows)
    write_rows(plain / "labels.csv", header, rows)

    result = ingest.run(config(plain, n_folds=5), tmp_path / "plain-out", verbose=False)
    reference = ingest.run(config(official, n_folds=5), tmp_path / "idrid-out", verbose=False)

    assert result.layout == "plain" and reference.layout == "idrid"
    assert result.warnings == [] and result.n_train == 25
    assert (result.grade_names, result.channels) == (tuple(ICDR), 3)
    info, ref = summary(result), summary(reference)
    for key in ("grades", "channels", "modality", "label_columns", "counts"):
        assert info[key] == ref[key], key
    np.testing.assert_array_equal(np.load(result.cache_paths[SIZE]),
                                  np.load(reference.cache_paths[SIZE]))
    (said,) = [n for n in result.notes if "IDRiD layout's" in n]
    assert "no 'image name' / 'DR grade' columns, but the IDRiD layout's 'Image name' / " \
           "'Retinopathy grade'" in said and "icdr grades, colour fundus photographs" in said
    assert "--image-column NAME and --grade-column NAME" in said
    assert any("findings by kind: layout 1 note(s)" in line
               for line in ingest.format_summary(result).splitlines())

    # columns the user names are never replaced: the plain folder's defaults then apply, but
    # for its scale: colour photographs graded 0..4 (0 and 4 among them) are read as ICDR's
    inferred = ingest.run(config(plain, image_column="Image name", grade_column="Retinopathy grade"),
                          tmp_path / "named", verbose=False)
    assert inferred.grade_names == tuple(ICDR) and inferred.channels == 3
    assert summary(inferred)["grades"]["source"] == ingest.INFERRED_ICDR
    (note,) = [n for n in inferred.notes if "the scale was inferred" in n]
    assert "every grade of the label CSV is within 0..4, 0 and 4 among them" in note
    assert "--grades icdr to say so" in note
    # said otherwise (DRAC's 3 grades by name), the scale's error stands
    message = run_error(config(plain, image_column="Image name", grade_column="Retinopathy grade",
                               grades=["drac"]), tmp_path / "named-drac")
    assert "rows have a grade outside {0, 1, 2}" in message and "(IDRiD_" in message
    assert "no image-name column 'file'" in run_error(config(plain, image_column="file"),
                                                      tmp_path / "file")
    named = ingest.run(config(plain, image_column="Image name", grade_column="Retinopathy grade",
                              grades=["icdr"], channels="auto"), tmp_path / "named-ok", verbose=False)
    assert not any("IDRiD layout's" in n for n in named.notes) and named.channels == 3


@pytest.mark.parametrize("kind", ["aptos", "eyepacs"])
def test_a_plain_folder_with_other_public_columns(tmp_path: Path, aptos: list, kind: str) -> None:
    """APTOS's id_code / diagnosis and EyePACS's image / level in a plain folder: their
    layouts' defaults (ICDR, colour, EyePACS eye pairs in one fold); columns of two layouts at
    once are not guessed between."""
    train, _ = split(aptos)
    root = tmp_path / kind
    names = [f"{10 + i // 2}_{'left' if i % 2 else 'right'}" if kind == "eyepacs" else code
             for i, (code, _, _) in enumerate(train[:24])]
    for name, (_, _, rgb) in zip(names, train, strict=False):
        save(root / f"{name}.png", rgb)
    columns = list(layout.COLUMNS[kind])
    write_rows(root / "labels.csv", columns, [[n, g] for n, (_, g, _) in zip(names, train, strict=False)])
    result = ingest.run(config(root, n_folds=3), tmp_path / "out", verbose=False)
    assert result.layout == "plain" and result.grade_names == tuple(ICDR) and result.channels == 3
    assert summary(result)["modality"]["value"] == "fundus" and not result.warnings
    shown = {"aptos": "APTOS", "eyepacs": "EyePACS"}[kind]  # as people write it
    assert any(f"the {shown} layout's {columns[0]!r} / {columns[1]!r}" in n for n in result.notes)
    # a plain folder's names matched by stem are still said (its CSV may name files either way)
    assert any("24 name(s) without extension, each matched to the one image with that stem" in n
               for n in result.notes), result.notes
    if kind == "eyepacs":
        assert any("two eyes of a patient are kept in one fold" in n for n in result.notes)
        folds: dict[str, set[str]] = {}
        for row in manifest(result):
            folds.setdefault(row["patient"], set()).add(row["fold"])
        assert len(folds) == 12 and all(len(f) == 1 for f in folds.values())
    both = ["id_code", "diagnosis", "image", "level"]
    write_rows(root / "labels.csv", both, [[n, g, n, g] for n, (_, g, _) in zip(names, train, strict=False)])
    assert "no grade column 'DR grade'" in run_error(config(root), tmp_path / "both")


def test_plain_fundus_folder_and_the_channel_rules(tmp_path: Path, aptos: list) -> None:
    """A plain folder ingested with channels=1 is UW-OCTA (grey, colour converted and said;
    this was the plain folder's default until it became auto); channels=auto keeps colour; a
    red-only image does not become its grey copy."""
    train, _ = split(aptos)
    root = tmp_path / "plain"
    for code, _, rgb in train[:10]:
        save(root / f"{code}.png", rgb)
    red = train[0][2].copy()
    red[..., 1:] = 0
    save(root / "red.png", red)
    red_grey = cv2.cvtColor(red, cv2.COLOR_RGB2GRAY)
    red_grey[0, 0] ^= 1  # one level off: with --channels 1, red.png's grey is not an identical copy
    save(root / "red_grey.png", red_grey)
    write_rows(root / "labels.csv", ["image name", "DR grade"],
               [[f"{c}.png", g] for c, g, _ in train[:10]] + [["red.png", 4], ["red_grey.png", 4]])

    grey = ingest.run(config(root, grades=["icdr"], channels="1"), tmp_path / "grey", verbose=False)
    assert grey.channels == 1 and np.load(grey.cache_paths[SIZE]).shape == (12, SIZE, SIZE)
    assert sum("RGB image (converted to grayscale" in w for w in grey.warnings) == 11
    # a plain folder is held to no size unless data.expected_side says one (an OCTA device's
    # own sizes are not DRAC's 1024 px)
    assert not any("not 1024x1024" in w for w in grey.warnings)

    colour = ingest.run(config(root, grades=["icdr"], channels="auto"), tmp_path / "colour",
                        verbose=False)
    assert colour.channels == 3
    rows = {r["id"]: int(r["cache_index"]) for r in manifest(colour)}
    cached = np.load(colour.cache_paths[SIZE])
    assert cached.shape == (12, SIZE, SIZE, 3)
    red_row, grey_row = cached[rows["red.png"]], cached[rows["red_grey.png"]]
    assert red_row[..., 1:].max() == 0 and red_row[..., 0].max() > 100
    assert np.array_equal(grey_row[..., 0], grey_row[..., 1])  # replicated
    assert not np.array_equal(red_row, grey_row)
    assert any("1 grey image(s) replicated to 3 identical channels (red_grey.png)" in w
               for w in colour.warnings)
    # what grading will do with a grey picture, and the count the bundle words it from
    assert any("marks it not reliably gradable (1 of the 12 labelled training images is grey"
               in w for w in colour.warnings), colour.warnings
    assert colour.n_grey_train == 1 and summary(colour)["channels"]["grey_train"] == 1
    assert "channels 1 warning(s)" in ingest.format_summary(colour)
    strict = run_error(config(root, grades=["icdr"], channels="auto", strict=True),
                       tmp_path / "strict")
    assert "replicated to 3 identical channels" in strict and "rejected by --strict" in strict

    # what the images are travels with the ingest: a plain folder made grey reads as UW-OCTA ...
    from drac_ssl.scale import read_ingest_facts

    assert summary(grey)["modality"] == {"value": "octa", "setting": "auto"}
    assert read_ingest_facts(grey.out_dir).describe_images() == "UW-OCTA images (plain layout)"
    assert summary(colour)["modality"]["value"] == "fundus"  # a colour plain folder is fundus
    assert read_ingest_facts(colour.out_dir).describe_images() == "colour fundus photographs (plain layout)"
    # ... and fundus photographs ingested as grey on purpose get no UW-OCTA checks or advice
    fundus = ingest.run(config(root, grades=["icdr"], modality="fundus", channels="1"),
                        tmp_path / "fundus", verbose=False)
    assert fundus.channels == 1 and summary(fundus)["modality"]["value"] == "fundus"
    assert not any("UW-OCTA" in w or "not 1024x1024" in w or "grayscale PNG" in w
                   for w in fundus.warnings + fundus.notes)
    assert sum("converted to grey" in n and "--channels 1 asks" in n for n in fundus.notes) == 11
    assert read_ingest_facts(fundus.out_dir).describe_images() == "grey fundus photographs (plain layout)"
    np.testing.assert_array_equal(np.load(fundus.cache_paths[SIZE]), np.load(grey.cache_paths[SIZE]))
    assert "--modality 'photo' is not one of" in run_error(config(root, modality="photo"), tmp_path / "bad")


def test_grey_uw_octa_is_expected_at_1024_px_under_channels_auto(
        tmp_path: Path, aptos: list, drac_samples: list[np.ndarray]) -> None:
    """``channels=auto`` (or 3) on UW-OCTA data (a plain folder, the DRAC layout) dropped the
    check of the 1024 px export size that ``channels=1`` makes: grey images are checked whatever
    the channels; a colour image kept in colour is a photograph, not checked against it (a
    non-square one is said squeezed, as in the fundus layouts)."""
    octa = tmp_path / "octa"
    for i, sample in enumerate([*drac_samples, drac_samples[0][:200, :200]]):
        save(octa / f"{i + 1:03d}.png", sample)
    write_rows(octa / "labels.csv", ["image name", "DR grade"],
               [[f"{i:03d}.png", (i - 1) % 3] for i in range(1, 5)])
    # a plain folder's expected side is data.expected_side's (the DRAC layout's is 1024 by default)
    grey = ingest.run(config(octa, channels="auto", expected_side=1024), tmp_path / "grey", verbose=False)
    assert grey.channels == 1
    (size,) = [p for p in grey.findings if p.kind == "size"]
    assert size.path.endswith("004.png") and "size 200x200, not 1024x1024" in size.what
    np.testing.assert_array_equal(  # the check changes no pixel
        np.load(grey.cache_paths[SIZE]),
        np.load(ingest.run(config(octa, channels="1", expected_side=1024), tmp_path / "one",
                           verbose=False).cache_paths[SIZE]))
    train, _ = split(aptos)
    photos = tmp_path / "photos"
    for code, _, rgb in train:
        save(photos / f"{code}.png", rgb[:180] if code == train[0][0] else rgb)
    write_rows(photos / "labels.csv", ["image name", "DR grade"], [[f"{c}.png", g] for c, g, _ in train])
    colour = ingest.run(config(photos, channels="auto", grades=["icdr"]), tmp_path / "colour",
                        verbose=False)
    assert colour.channels == 3 and not any("1024" in w for w in colour.warnings)
    (squeezed,) = [p for p in colour.findings if p.kind == "size" and p.severity == "warning"]
    assert f"{train[0][0]}.png" in squeezed.path and "non-square image 224x180 squeezed" in squeezed.what


def test_a_plain_folder_is_ingested_as_what_its_images_are(tmp_path: Path, aptos: list) -> None:
    """No channels setting on a plain folder means auto (a fresh-user review: 25 colour
    photographs + CSV, ICDR, were converted to grey with 50 warnings and recorded as UW-OCTA):
    colour photographs stay colour (fundus), grey images stay grey (octa), an RGB file whose
    channels are equal (a UW-OCTA export saved as RGB) is grey, and a folder of both is colour
    with the grey ones replicated, said once."""
    train, _ = split(aptos)
    rows = [[f"{c}.png", g] for c, g, _ in train]
    folders = {"colour": [rgb for _, _, rgb in train],
               "grey": [cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) for _, _, rgb in train]}
    folders["rgb_grey"] = [np.repeat(g[..., None], 3, axis=2) for g in folders["grey"]]
    folders["mixed"] = folders["colour"][:-1] + folders["grey"][-1:]
    results = {}
    for kind, images in folders.items():
        for (code, _, _), image in zip(train, images, strict=True):
            save(tmp_path / kind / f"{code}.png", image)
        write_rows(tmp_path / kind / "labels.csv", ["image name", "DR grade"], rows)
        results[kind] = ingest.run(config(tmp_path / kind, grades=["icdr"]), tmp_path / f"{kind}-out",
                                   verbose=False)
    colour = results["colour"]
    assert colour.layout == "plain" and colour.channels == 3 and not colour.warnings
    assert np.load(colour.cache_paths[SIZE]).shape == (25, SIZE, SIZE, 3)
    assert summary(colour)["channels"] == {
        "value": 3, "setting": "auto",
        "reason": "3 (the plain layout's default = auto: 25 colour image(s))", "grey_train": 0}
    assert summary(colour)["modality"]["value"] == "fundus"
    assert not any("grey" in n or "grayscale" in n for n in colour.notes)
    for kind, encoded in (("grey", ""), ("rgb_grey", ", 25 of them in RGB files")):
        grey = results[kind]
        assert grey.channels == 1 and summary(grey)["modality"]["value"] == "octa", kind
        assert summary(grey)["channels"]["reason"] == (
            f"1 (the plain layout's default = auto: all images are grey{encoded})")
        # an RGB file of a grey picture gets the note that channels=1 gives (a review F4)
        noted = [p for p in grey.findings if p.kind == "channels"]
        assert len(noted) == (25 if encoded else 0) and all(
            p.severity == "note" and "channels identical, nothing lost" in p.what for p in noted), kind
    np.testing.assert_array_equal(np.load(results["rgb_grey"].cache_paths[SIZE]),
                                  np.load(results["grey"].cache_paths[SIZE]))
    mixed = results["mixed"]
    assert mixed.channels == 3 and summary(mixed)["modality"]["value"] == "fundus"
    (said,) = [p.what for p in mixed.findings if p.kind == "channels"]
    assert said.startswith(f"1 grey image(s) replicated to 3 identical channels ({train[-1][0]}")
    assert "because of --channels auto and 24 colour image(s)" in said
    # a grey image among colour photographs (a red-free shot) is a photograph too: not held to
    # the 1024 px of a UW-OCTA export, as the grey folder's images are (a review)
    assert not any("not 1024x1024" in p.what for p in mixed.findings), mixed.warnings
    # nor is a plain grey folder since data.expected_side (a clinic's device has its own sizes)
    assert not any(p.kind == "size" for p in results["grey"].findings)


def test_grey_octa_with_channels_3_is_replicated_once(tmp_path: Path,
                                                      drac_samples: list[np.ndarray]) -> None:
    root = tmp_path / "octa"
    for i, sample in enumerate(drac_samples):
        save(root / f"{i + 1:03d}.png", sample)
    write_rows(root / "labels.csv", ["image name", "DR grade"], [[f"{i:03d}.png", i - 1]
                                                                 for i in range(1, 4)])
    grey = ingest.run(config(root), tmp_path / "grey", verbose=False)
    assert grey.channels == 1 and not grey.warnings
    rgb = ingest.run(config(root, channels="3"), tmp_path / "rgb", verbose=False)
    cached = np.load(rgb.cache_paths[SIZE])
    assert cached.shape == (3, SIZE, SIZE, 3)
    np.testing.assert_array_equal(cached[..., 2], np.load(grey.cache_paths[SIZE]))
    (line,) = rgb.warnings
    assert "3 grey image(s) replicated" in line and "--channels 3" in line


def aptos_train_folder(root: Path, train: list[tuple[str, int, np.ndarray]]) -> Path:
    """``root`` in the APTOS layout with the ``train`` images and their ``train.csv``."""
    for code, _, rgb in train:
        save(root / "train_images" / f"{code}.png", rgb)
    write_rows(root / "train.csv", ["id_code", "diagnosis"], [[c, g] for c, g, _ in train])
    return root


def test_colour_cache_is_incremental_and_options_rebuild(tmp_path: Path, aptos: list) -> None:
    train, _ = split(aptos)
    root = aptos_train_folder(tmp_path / "aptos", train)
    out = tmp_path / "out"
    first = ingest.run(config(root), out, verbose=False)
    again = ingest.run(config(root), out, verbose=False)
    assert (again.n_decoded, again.n_reused) == (0, 25)
    np.testing.assert_array_equal(np.load(again.cache_paths[SIZE]), np.load(first.cache_paths[SIZE]))
    cropped = ingest.run(config(root, fundus_crop=True, graham=True), out, verbose=False)
    assert cropped.n_decoded == 25 and any("other decoding options" in n for n in cropped.notes)
    assert summary(cropped)["preprocessing"]["graham"] is True
    assert summary(cropped)["preprocessing"]["graham_reflect_padding"] is True  # replayed as such
    # the console summary says what was done to the cached copies (only when something was); the
    # shared samples have no dark surround, so the crop left each as it was
    assert ("preprocessing of the cached copies: crop to the fundus disc (requested; not applied "
            "to 25 of 25 images: no dark surround around the disc), "
            "then Graham local-mean subtraction (reflect padding), grey (128) outside 90 % of the disc radius"
            ) in ingest.format_summary(cropped)
    assert "preprocessing" not in ingest.format_summary(first)


# --------------------------------------------------------------------------------------
# MedMNIST


def test_retinamnist_npz(tmp_path: Path) -> None:
    need(RETINAMNIST, "RetinaMNIST")
    result = ingest.run(config(RETINAMNIST, cache_sizes=[28], n_folds=5), tmp_path / "out",
                        verbose=False)
    assert result.layout == "medmnist" and (result.n_train, result.n_test) == (1200, 400)
    info = summary(result)  # no label CSV, so no columns were read
    assert info["label_columns"] is None
    assert (info["config"]["image_column"], info["config"]["grade_column"]) == (None, None)
    assert result.grade_names == tuple(ICDR) and result.channels == 3
    assert result.counts_per_grade == {0: 540, 1: 140, 2: 234, 3: 214, 4: 72}
    rows = manifest(result)
    assert [r["id"] for r in rows[:2]] == ["train_0000.png", "train_0001.png"]
    assert rows[1080]["id"] == "val_0000.png" and rows[1080]["split"] == "train"
    assert rows[1080]["origin"] == "val" and rows[1199]["id"] == "val_0119.png"
    assert rows[1200]["id"] == "test_0000.png" and rows[-1]["id"] == "test_0399.png"
    assert Counter(r["origin"] for r in rows) == {"train": 1080, "val": 120, "test": 400}
    assert all(r["split"] == "test" and r["grade"] == "" and r["fold"] == "-1" for r in rows[1200:])
    assert rows[5]["path"] == "retinamnist_public.npz:train_images[5]"
    with np.load(RETINAMNIST) as archive:
        expected = np.concatenate([archive["train_images"], archive["val_images"],
                                   archive["test_images"]])
        labels = np.concatenate([archive["train_labels"], archive["val_labels"]])[:, 0]
    cached = np.load(result.cache_paths[28])
    assert cached.shape == (1600, 28, 28, 3)
    np.testing.assert_array_equal(cached, expected)  # colour kept, 28 px unchanged
    assert [int(r["grade"]) for r in rows[:1200]] == labels.tolist()
    for per_grade in result.counts_per_fold.values():  # stratified over 5 grades
        for grade, total in result.counts_per_grade.items():
            assert abs(per_grade[grade] - total / 5) <= 1
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / RETINAMNIST.name).symlink_to(RETINAMNIST)
    again = ingest.run(config(folder, cache_sizes=[28]), tmp_path / "again", verbose=False)
    assert again.layout == "medmnist" and again.n_train == 1200
    # grey on purpose: each converted row is a note, no advice to re-save the array as grey PNGs
    grey = ingest.run(config(RETINAMNIST, cache_sizes=[28], channels="1"), tmp_path / "grey",
                      verbose=False)
    assert grey.channels == 1 and not grey.warnings
    assert sum("as --channels 1 asks" in n for n in grey.notes) == 1600


def test_medmnist_npz_validation(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    path = tmp_path / "tiny.npz"
    np.savez(path, train_images=rng.integers(0, 256, (20, 28, 28, 3), dtype=np.uint8),
             train_labels=(np.arange(20) % 5).reshape(-1, 1).astype(np.uint8),
             test_images=rng.integers(0, 256, (4, 28, 28, 3), dtype=np.uint8),
             test_labels=np.zeros((4, 1), np.uint8))
    result = ingest.run(config(path), tmp_path / "ok", verbose=False)
    assert (result.n_train, result.n_test) == (20, 4)
    assert any("test_labels present but not used" in n for n in result.notes)
    assert any("enlarges the images" in n for n in result.notes) is False
    message = run_error(config(path, grades=["drac"]), tmp_path / "bad")
    assert "8 label(s) outside 0..2 (values 3, 4" in message and "the grade scale (--grades) has 3 grades" in message


# --------------------------------------------------------------------------------------
# Names, grades, settings


def test_ambiguous_stem_is_an_error(tmp_path: Path, aptos: list) -> None:
    train, _ = split(aptos)
    root = tmp_path / "aptos"
    for code, _, rgb in train[:6]:
        save(root / "train_images" / f"{code}.png", rgb)
    save(root / "train_images" / f"{train[0][0]}.jpg", train[0][2], format="JPEG")
    write_rows(root / "train.csv", ["id_code", "diagnosis"], [[c, g] for c, g, _ in train[:6]])
    message = run_error(config(root), tmp_path / "out")
    assert f"{train[0][0]} (no extension) matches 2 images" in message


def test_names_that_lost_their_leading_zeros(tmp_path: Path, drac_samples: list[np.ndarray]) -> None:
    root = tmp_path / "plain"
    for i, sample in enumerate(drac_samples):
        save(root / f"{i + 1:03d}.png", sample[::4, ::4])
    write_rows(root / "labels.csv", ["image name", "DR grade"], [[1, 0], [2, 1], [3, 2]])
    result = ingest.run(config(root), tmp_path / "out", verbose=False)
    assert [r["grade"] for r in manifest(result)] == ["0", "1", "2"]
    assert any("lost their leading zeros" in n for n in result.notes)


def test_issue_case_semicolon_csv_ingests(tmp_path: Path, drac_samples: list[np.ndarray]) -> None:
    root = tmp_path / "plain"
    for i, sample in enumerate(drac_samples):
        save(root / f"{i + 1:03d}.png", sample)
    (root / "labels.csv").write_bytes(b"image name;DR grade\r\n001.png;0\r\n002.png;1\r\n"
                                      b"003.png;2\r\n\r\n")
    result = ingest.run(config(root), tmp_path / "out", verbose=False)
    assert [r["grade"] for r in manifest(result)] == ["0", "1", "2"]
    assert summary(result)["labels_csv_dialect"] == "semicolon-separated, utf-8"


def test_k_grades_from_the_config(tmp_path: Path, drac_samples: list[np.ndarray]) -> None:
    root = tmp_path / "plain"
    for i in range(10):
        save(root / f"{i:03d}.png", np.roll(drac_samples[i % 3], i, axis=0)[::8, ::8])
    write_rows(root / "labels.csv", ["image name", "DR grade"],
               [[f"{i:03d}.png", i % 5] for i in range(10)])
    message = run_error(config(root), tmp_path / "drac")
    assert "4 rows have a grade outside {0, 1, 2}" in message and "line 5 (003.png, grade 3)" in message
    assert "pass --grades icdr" in message  # 3 grades: the 5-grade ICDR scale is a useful hint ...
    write_rows(root / "labels.csv", ["image name", "DR grade"],
               [[f"{i:03d}.png", 7 if i == 0 else i % 5] for i in range(10)])
    message = run_error(config(root, grades=["icdr"]), tmp_path / "icdr")
    assert "grade 7 of 000.png is outside" in message
    assert "e.g. icdr" not in message  # ... but not when the scale already is ICDR


def test_grey_pictures_in_colour_files_keep_drac_s_scale(tmp_path: Path, drac_samples: list[np.ndarray]) -> None:
    """The ICDR scale is inferred for colour photographs only: grey pictures saved as RGB files
    (their headers say colour; decoded, they are grey: a plain folder read as UW-OCTA) keep the
    plain folder's default scale, DRAC's 3 grades, and its error, with the note taken back."""
    root = tmp_path / "plain"
    for i in range(10):
        grey = np.roll(drac_samples[i % 3], i, axis=0)[::8, ::8]
        save(root / f"{i:03d}.png", np.stack([grey] * 3, axis=-1))
    write_rows(root / "labels.csv", ["image name", "DR grade"],
               [[f"{i:03d}.png", i % 5] for i in range(10)])
    message = run_error(config(root), tmp_path / "out")
    assert "4 rows have a grade outside {0, 1, 2}" in message and "the scale was inferred" not in message
    write_rows(root / "labels.csv", ["image name", "DR grade"],
               [[f"{i:03d}.png", i % 5] for i in range(10)])
    result = ingest.run(config(root, grades=["A", "B", "C", "D", "E"]), tmp_path / "k5",
                        verbose=False)
    assert result.grade_names == ("A", "B", "C", "D", "E")
    assert result.counts_per_grade == dict.fromkeys(range(5), 2)
    assert summary(result)["grades"]["source"] == "data.grades"


def test_config_keys_are_validated(tmp_path: Path) -> None:
    cfg = load_config(None, ["data.grades=icdr", "data.channels=3", "data.fundus_crop=true",
                             "data.graham=true", "data.layout=aptos"])
    assert cfg.data.grades == ["icdr"] and cfg.data.channels == "3" and cfg.data.graham
    assert load_config(None, ["data.grades=[Normal,NPDR,PDR]"]).data.grades == ["Normal", "NPDR", "PDR"]
    for bad, fragment in [("data.grades=[only]", "at least 2"), ("data.grades=[a,a]", "twice"),
                          ("data.channels=2", "data.channels"), ("data.layout=messidor", "data.layout")]:
        with pytest.raises(ConfigError, match=fragment):
            load_config(None, [bad])
    message = run_error(config(tmp_path, grades=["x"]), tmp_path / "out")
    assert '--grades "x"' in message and "at least 2" in message


# --------------------------------------------------------------------------------------
# Fundus preprocessing


def test_crop_to_disc_and_graham(aptos: list) -> None:
    rgb = aptos[7][2]
    side = rgb.shape[0]
    yy, xx = np.ogrid[:side, :side]
    disc = (yy - side / 2 + 0.5) ** 2 + (xx - side / 2 + 0.5) ** 2 <= (side / 2) ** 2
    fundus = np.where(disc[..., None], np.maximum(rgb, 20), 0).astype(np.uint8)
    framed = np.zeros((side + 60, side + 200, 3), np.uint8)  # a wide black frame, off centre
    framed[40:40 + side, 150:150 + side] = fundus
    framed[2:6, 2:30] = 255  # burnt-in text in the border
    cropped, found = crop_to_disc(framed)
    assert found and abs(cropped.shape[0] - side) <= 2 and cropped.shape[0] == cropped.shape[1]
    top = (cropped.shape[0] - side) // 2
    assert np.abs(cropped[top:top + side, top:top + side].astype(int) - fundus).mean() < 3
    blank, found = crop_to_disc(np.zeros((40, 60, 3), np.uint8))
    assert not found and blank.shape == (60, 60, 3)

    filtered = graham(cv2.resize(cropped, (128, 128), interpolation=cv2.INTER_AREA))
    assert filtered.dtype == np.uint8 and filtered[0, 0].tolist() == [128, 128, 128]
    inside = filtered[40:88, 40:88].astype(float)
    assert abs(inside.mean() - 128) < 20  # the local mean is removed
    flat = graham(np.full((64, 64), 90, np.uint8), mask=False)
    assert np.all(flat == 128)  # 4 * 90 - 4 * 90 + 128


def _black_surround_disc(rgb: np.ndarray) -> np.ndarray:
    """An APTOS sample (grey surround, already Graham-filtered) on a black surround: the
    pixels outside its inscribed circle set to 0, the inside kept at >= 20."""
    side = rgb.shape[0]
    yy, xx = np.ogrid[:side, :side]
    disc = (yy - side / 2 + 0.5) ** 2 + (xx - side / 2 + 0.5) ** 2 <= (side / 2) ** 2
    return np.where(disc[..., None], np.maximum(rgb, 20), 0).astype(np.uint8)


def test_the_crop_says_when_an_image_has_no_dark_surround(aptos: list) -> None:
    from data_prep.cache import CacheOptions, cache_rows

    rgb = aptos[7][2]  # the shared samples: cropped to the disc on a grey surround
    assert not has_dark_surround(rgb) and has_dark_surround(_black_surround_disc(rgb))
    options = CacheOptions(target="native", expected_side=0, fundus_crop=True)
    rows, problems = cache_rows(rgb, [64], options, "a.png")
    assert len(problems) == 1 and "no dark surround around the fundus disc" in problems[0].what
    assert "left as it is" in problems[0].what and "graham" not in problems[0].what
    from data_prep.problems import more_of_a_kind

    assert problems[0].kind == "fundus-surround"  # a cut-short list says what they mean together
    assert "a set already cropped to the disc or pre-filtered" in more_of_a_kind(problems * 20)
    np.testing.assert_array_equal(rows[64], cv2.resize(rgb, (64, 64), interpolation=cv2.INTER_AREA))
    _, problems = cache_rows(rgb, [64], CacheOptions(target="native", expected_side=0, fundus_crop=True,
                                                      graham=True), "a.png")
    assert "the Graham filter is applied to it again" in problems[0].what
    assert "run without --fundus-crop (and without --graham" in problems[0].fix
    _, problems = cache_rows(_black_surround_disc(rgb), [64], options, "b.png")
    assert problems == []


def test_graham_on_a_disc_cut_by_the_frame_leaves_no_band_along_the_cut(aptos: list) -> None:
    from data_prep.cache import CacheOptions, cache_rows

    disc = _black_surround_disc(aptos[7][2])
    side = disc.shape[0]
    cut = side // 4  # the photograph lost the top quarter of the disc
    framed = np.zeros((side - cut + 40, side + 120, 3), np.uint8)
    framed[:side - cut, 60:60 + side] = disc[cut:]
    size = 128
    options = CacheOptions(target="native", expected_side=0, fundus_crop=True, graham=True,
                           graham_reflect_padding=True)  # what an ingest with both sets
    rows, problems = cache_rows(framed, [size], options, "cut.png")
    row = rows[size].astype(int)
    assert problems == []
    top = round(cut / side * size / 2)  # the square's top margin at this size (about)
    assert np.all(row[:top - 1] == 128)  # the padding is not photograph: 128, as outside the disc
    centre = slice(size // 2 - 20, size // 2 + 20)
    band = np.abs(row[top + 1:top + 4, centre] - 128).mean()  # the rows along the cut
    inside = np.abs(row[size // 2 - 10:size // 2 + 10, centre] - 128).mean()
    assert band < 2.5 * inside  # black padding blurred into them gave a band ~5x the inside
    # a square crop is filtered as before (no margins), and so is everything of a model trained
    # before the mirrored padding (its metadata has no graham_reflect_padding: black padding)
    def before(image: np.ndarray) -> np.ndarray:
        return graham(cv2.resize(crop_to_disc(image)[0], (size, size), interpolation=cv2.INTER_AREA))

    square, _ = cache_rows(disc, [size], options, "disc.png")
    np.testing.assert_array_equal(square[size], before(disc))
    old_rows, _ = cache_rows(framed, [size], CacheOptions(target="native", expected_side=0,
                                                          fundus_crop=True, graham=True), "cut.png")
    np.testing.assert_array_equal(old_rows[size], before(framed))
    # a state written before the key existed is read as off: equal to off, not to on (rebuilt)
    before_key = {k: v for k, v in CacheOptions(fundus_crop=True, graham=True).state().items()
                  if k != "graham_reflect_padding"}
    assert CacheOptions(fundus_crop=True, graham=True).changes_from(before_key) == []
    assert "Graham padding of a crop not square black -> mirrored" in options.changes_from(before_key)
    # a model records the padding it was trained with, and is replayed with it
    from drac_ssl.grading.model import InputSpec

    spec = InputSpec(channels=3, source_size=size, image_size=size, recipe="fundus", mean=(0.5,) * 3,
                     std=(0.25,) * 3, fundus_crop=True, graham=True, graham_reflect_padding=True)
    again = InputSpec.from_metadata(spec.to_metadata())
    assert again.graham_reflect_padding and again.cache_options().graham_reflect_padding
    older = spec.to_metadata()
    del older["ingest_preprocessing"]["graham_reflect_padding"]  # a model.json written before
    assert not InputSpec.from_metadata(older).cache_options().graham_reflect_padding


def test_the_same_finding_for_many_files_is_one_line(tmp_path: Path) -> None:
    """A trial's 120 colour photographs in a plain folder printed 20 lines of the same two
    warnings; the same words for 3 or more files are one line naming the folder and a few
    files, for warnings and notes, never for errors (each names its own row to fix)."""
    folder = tmp_path / "photos"
    same = [validate.warning(str(folder / f"{i:03d}.png"), "RGB image (converted to grayscale)",
                             "keep colour with --channels auto", "channels") for i in range(120)]
    other = validate.warning(str(folder / "odd.png"), "RGB image (palette)", "fix", "channels")
    two = [validate.note(str(folder / f"{i}.png"), "EXIF orientation 6 applied", "ok", "orientation")
           for i in range(2)]
    errors = [validate.error(str(folder / f"{i}.png"), "truncated", "re-copy", "decode") for i in range(4)]
    lines = [line.strip() for line in validate.format_problems(same + [other] + two + errors).splitlines()]
    assert f"{folder}: 120 files (000.png, 001.png, 002.png and 117 more): RGB image (converted to " \
           "grayscale) -> keep colour with --channels auto" in lines
    assert "warnings (converted or not honoured; fatal with --strict): 121" in lines  # files counted
    assert f"{folder / 'odd.png'}: RGB image (palette) -> fix" in lines
    assert sum("EXIF orientation 6 applied" in line for line in lines) == 2  # two: not merged
    assert sum(": truncated -> re-copy" in line for line in lines) == 4  # errors: never merged
    assert len(validate.format_problems(same, per_kind=None).splitlines()) == 121  # the full list


def test_many_findings_of_one_kind_are_grouped_in_print() -> None:
    problems = [validate.warning(f"{i}.jpg", f"Exif orientation ({i})", "ok", "orientation")
                for i in range(25)] + [validate.error(f"{i}.png", "bad", "fix") for i in range(12)]
    text = validate.format_problems(problems)
    assert text.count("Exif orientation") == 10 and "... and 15 more 'orientation'" in text
    assert text.count(": bad ->") == 12  # errors of no kind (one-off findings) are all printed
    rows = [validate.Problem(f"labels.csv:{n}", f"label without image: {n}.png", "fix", "error",
                             "no-image", "25 of the 25 label rows have no image") for n in range(2, 27)]
    text = validate.format_problems(rows + [validate.error("a.png", "bad", "fix")], full_list="F.txt")
    lines = [line.strip() for line in text.splitlines()]
    assert lines == ["errors (fatal): 26", *[f"labels.csv:{n}: label without image: {n}.png -> fix"
                                             for n in range(2, 12)],
                     "... and 15 more 'no-image' error(s) of this kind: 25 of the 25 label rows "
                     "have no image (all listed in F.txt)", "a.png: bad -> fix"]
    assert validate.format_problems(rows, per_kind=None).count("label without image") == 25
    csv_errors = [validate.error(f"labels.csv:{n}", f"row {n}", "fix") for n in (14, 22, 6, 7, 34)]
    text = validate.format_problems([csv_errors[0], validate.error("a.png", "bad", "fix"), *csv_errors[1:]])
    lines = [line.strip() for line in text.splitlines()[1:]]
    assert lines == [f"labels.csv:{n}: row {n} -> fix" for n in (6, 7, 14, 22, 34)] + ["a.png: bad -> fix"]


def test_a_truncated_colour_image_is_an_error_and_not_called_grey(tmp_path: Path, aptos: list) -> None:
    train, _ = split(aptos)
    root = aptos_train_folder(tmp_path / "aptos2019", train)
    broken = root / "train_images" / f"{train[0][0]}.png"
    broken.write_bytes(broken.read_bytes()[:2000])
    message = run_error(config(root), tmp_path / "out")
    assert "truncated" in message and broken.name in message
    assert "grey image" not in message  # it did not decode: neither grey nor colour


def test_a_case_insensitive_file_system_takes_the_one_folder_without_calling_it_a_second(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On macOS and Windows, folder/'a. Training Set' opens the real 'a. Training set': it was
    read as the exact name and the same folder, listed, as an ignored near miss."""
    from data_prep.layout import find_named

    (tmp_path / "a. Training set").mkdir()
    real_is_dir = Path.is_dir

    def case_insensitive_is_dir(self: Path) -> bool:
        if real_is_dir(self):
            return True
        parent = self.parent
        return real_is_dir(parent) and any(p.name.lower() == self.name.lower() and real_is_dir(p)
                                           for p in parent.iterdir())

    monkeypatch.setattr(Path, "is_dir", case_insensitive_is_dir)
    found, said = find_named(tmp_path, "a. Training Set")
    assert found == tmp_path / "a. Training set"
    assert [p.what for p in said] == ["read as the official 'a. Training Set' (the folder name differs only "
                                      "in letter case or spacing)"]


# --------------------------------------------------------------------------------------
# Advice in the terms of the command that runs the ingest

FLAG = re.compile(r"(?<![\w-])--[a-z][a-z-]*")
SETTING = re.compile(r"\bdata\.[a-z_]+")


def test_advice_names_the_ingest_flags_or_the_pipeline_settings_by_command(
        tmp_path: Path, aptos: list, capsys: pytest.CaptureFixture[str]) -> None:
    """The same findings from ``python -m data_prep ingest`` name its flags (``--fundus-crop``)
    and from ``python -m drac_ssl.train`` its settings (``data.fundus_crop=true``), in the
    printed lines, the errors and ``ingest_summary.json``; never the other command's."""
    from data_prep.__main__ import main
    from drac_ssl.train import stage_ingest

    train, _ = split(aptos)
    root = tmp_path / "eyes"  # EyePACS columns: read as that layout (colour, eye pairs)
    names = [f"{10 + i // 2}_{'left' if i % 2 else 'right'}" for i in range(12)]
    for name, (_, _, rgb) in zip(names, train, strict=False):  # non-square: 24 x 30 px
        save(root / f"{name}.png", cv2.resize(rgb, (24, 30), interpolation=cv2.INTER_AREA))
    save(root / "30_left.png", cv2.cvtColor(cv2.resize(train[12][2], (24, 30)), cv2.COLOR_RGB2GRAY))
    write_rows(root / "labels.csv", ["image", "level"],
               [[n, g] for n, (_, g, _) in zip([*names, "30_left"], train, strict=False)])
    # (ingest flags, the same as pipeline settings): each provokes findings with advice
    cases = [
        (["--graham", "--cache-sizes", "64"], ["data.graham=true", "data.cache_sizes=[64]"]),
        (["--fundus-crop", "--graham"], ["data.fundus_crop=true", "data.graham=true"]),
        (["--modality", "octa", "--channels", "1", "--expected-side", "1024"],
         ["data.modality=octa", "data.channels=1", "data.expected_side=1024"]),
        (["--modality", "fundus", "--channels", "1"], ["data.modality=fundus", "data.channels=1"]),
        (["--grades", "a,b"], ["data.grades=[a,b]"]),  # grades 2..4 outside: an error
        (["--image-column", "imgae"], ["data.image_column=imgae"]),  # did you mean 'image'?
    ]
    said: dict[str, list[str]] = {"ingest": [], "train": []}
    for i, (flags, settings) in enumerate(cases):
        out = tmp_path / f"ingest{i}"
        main(["ingest", "--root", str(root), "--out", str(out), "--folds", "2", "--workers", "1",
              *(["--sizes", "32"] if "--cache-sizes" not in flags else []), *flags])  # the older name too
        captured = capsys.readouterr()
        said["ingest"] += [captured.out, captured.err]
        cfg = load_config(None, [f"data.root={root}", "data.n_folds=2", "data.workers=1",
                                 *(["data.cache_sizes=[32]"] if "--cache-sizes" not in flags else []),
                                 *settings])
        try:
            stage_ingest(cfg, tmp_path / f"run{i}")
        except validate.IngestError as exc:
            said["train"].append(str(exc))
        said["train"].append(capsys.readouterr().out)
        for command, folder in (("ingest", out), ("train", tmp_path / f"run{i}" / "data")):
            if (folder / "ingest_summary.json").exists():
                recorded = json.loads((folder / "ingest_summary.json").read_text(encoding="utf-8"))
                said[command] += recorded["warnings"] + recorded["notes"]
    main(["ingest", "--root", str(root), "--out", str(tmp_path / "one"), "--grades", "x"])
    refused = capsys.readouterr().err  # the pipeline's config refuses data.grades=[x] itself
    assert '--grades "x" names one grade' in refused and '--grades "Normal,NPDR,PDR"' in refused
    said["ingest"].append(refused)
    ingest_text, train_text = "\n".join(said["ingest"]), "\n".join(said["train"])
    assert not SETTING.findall(ingest_text), sorted(set(SETTING.findall(ingest_text)))
    assert not FLAG.findall(train_text), sorted(set(FLAG.findall(train_text)))
    for flag, setting in (("--fundus-crop", "data.fundus_crop=true"), ("--channels 1", "data.channels=1"),
                          ("--modality fundus", "data.modality=fundus"), ("--cache-sizes", "data.cache_sizes"),
                          ("--expected-side 0", "data.expected_side=0"),
                          ("--patient-column", "data.patient_column"), ("--grades", "data.grades"),
                          ("--image-column 'image'", "data.image_column='image'")):
        assert flag in ingest_text and setting in train_text, (flag, setting)


def test_every_layout_is_registered_wherever_layouts_are_listed() -> None:
    """A contributor adding a layout meets several hand-kept lists (docs/design.md names them):
    one left out fails silently (an unknown layout's grades fall back to DRAC's 3; `--layout
    medmnist` was said as 'data.layout medmnist', without the '=')."""
    from data_prep.grades import LAYOUT_SCALES
    from data_prep.problems import as_config_keys
    from drac_ssl import scale
    from drac_ssl.config import DATA_LAYOUTS

    kinds = set(DATA_LAYOUTS) - {"auto"}
    assert set(LAYOUT_SCALES) == kinds
    assert set(scale.FUNDUS_LAYOUTS) == set(layout.FUNDUS_LAYOUTS) == {
        k for k, v in LAYOUT_SCALES.items() if v == "icdr"}
    for kind in kinds:
        assert as_config_keys(f"pass --layout {kind}") == f"pass data.layout={kind}", kind
        assert kind in layout.COLUMNS or kind == "medmnist", kind  # the npz has no label columns
    assert set(layout.FINDERS) == kinds  # discover() reads each through its finder
    detected = [kind for kind, _ in layout.DETECTORS]  # data.layout=auto: plain is the fallback
    assert len(detected) == len(set(detected)) and set(detected) == kinds - {"plain"}
    assert set(layout.LAYOUT_WORDS) == set(detected)  # what a nearby layout is, in a message
    # the names for people, from which the --root help and the flag-value pattern are built
    import data_prep
    from data_prep.problems import flag_value_pattern
    from drac_ssl import preflight
    from drac_ssl.config import LAYOUT_NAMES, layout_root_help

    assert set(LAYOUT_NAMES) == kinds
    helped = layout_root_help()
    assert all(LAYOUT_NAMES[k] in helped for k in kinds), helped
    parser = argparse.ArgumentParser()
    ingest.add_arguments(parser)
    assert " ".join(parser.format_help().split()).count(" ".join(helped.split())) == 1
    # a layout not yet registered, named by itself; fictional, so that registering a real one
    # (docs/design.md's example is Messidor-2) cannot make it a second copy of a registered name
    new = layout_root_help((*DATA_LAYOUTS, "newset"), {**LAYOUT_NAMES, "newset": "New-Set"})
    assert new.count("New-Set") == 1 and "/ New-Set folder" in new, new
    assert new.replace(" / New-Set folder", " folder") == helped, new  # the registered ones unchanged
    assert re.match(flag_value_pattern(["newset"]), "newset")
    assert not re.match(flag_value_pattern(["newset"]), "newsetx")
    for doc in (data_prep.__doc__, ingest.__doc__, preflight.__doc__):  # typed prose: kept in step
        assert all(LAYOUT_NAMES[k] in (doc or "") for k in kinds), doc
    from drac_ssl.config import layouts_in_words  # the finetune stage's words: built, not typed

    words = layouts_in_words((*DATA_LAYOUTS, "newset"), {**LAYOUT_NAMES, "newset": "New-Set"})
    assert all(name in words for name in (*LAYOUT_NAMES.values(), "New-Set")), words
    # the comments that list the layouts by hand (a maintainer review found them unguarded)
    import inspect

    from drac_ssl import config as config_module

    config_source = inspect.getsource(config_module.DataConfig)
    (layout_comment,) = [line for line in config_source.splitlines() if 'layout: str = "auto"  #' in line]
    assert all(f" {k}" in layout_comment for k in DATA_LAYOUTS), layout_comment
    dataset_comment = config_source.partition("whatever data.layout finds:")[2].partition("; the name")[0]
    assert all(LAYOUT_NAMES[k] in dataset_comment for k in kinds), dataset_comment
    (kind_comment,) = [line for line in inspect.getsource(layout.Layout).splitlines()
                       if line.strip().startswith("kind: str  #")]
    assert all(f" {k}" in kind_comment for k in kinds), kind_comment
    formats_doc = inspect.getsource(layout).partition("LABEL_FORMATS = ")[2].split('"""')[1]
    assert all(k in formats_doc for k in layout.LABEL_FORMATS), formats_doc
    # two yes-or-no sets a new layout is silently out of (a trial, F4): each docstring names
    # every layout, in or out, so leaving one out is a decision said, not an omission
    for name in ("STEM_ID_LAYOUTS", "TEST_SPLIT_LAYOUTS"):
        said = inspect.getsource(layout).partition(f"\n{name} = ")[2].split('"""')[1]
        assert all(LAYOUT_NAMES[k] in said for k in kinds), (name, said)


def test_a_layout_without_a_finder_is_a_clear_error(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A layout listed in DATA_LAYOUTS but not registered in layout.FINDERS is said as such,
    naming where to register it (it was a bare KeyError from discover)."""
    (tmp_path / "d").mkdir()
    monkeypatch.delitem(layout.FINDERS, "plain")
    with pytest.raises(validate.IngestError) as caught:
        layout.discover(config(tmp_path / "d", layout="plain"))
    assert "'plain'" in str(caught.value) and "data_prep.layout.FINDERS" in str(caught.value)


@pytest.mark.parametrize("kind", ["aptos", "eyepacs"])
def test_public_layouts_leave_out_ungradable_rows_matched_by_stem(tmp_path: Path, aptos: list,
                                                                   kind: str) -> None:
    """data.ungradable=leave_out in the public layouts, whose CSVs name images without an
    extension: an NA (APTOS) or empty (EyePACS) grade leaves the row and its image out; the
    default stops on them."""
    train, _ = split(aptos)
    root = tmp_path / kind
    folder, csv_name, header = (("train_images", "train.csv", ["id_code", "diagnosis"]) if kind == "aptos"
                                else ("train", "trainLabels.csv", ["image", "level"]))
    cell = "NA" if kind == "aptos" else ""
    rows = []
    for i, (code, grade, rgb) in enumerate(train[:13]):
        name = code if kind == "aptos" else f"{10 + i}_{'left' if i % 2 else 'right'}"
        save(root / folder / f"{name}.png", rgb)
        rows.append([name, cell if i in (0, 7) else grade])
    write_rows(root / csv_name, header, rows)
    assert "has no grade" in run_error(config(root), tmp_path / "refused")
    result = ingest.run(config(root, ungradable="leave_out"), tmp_path / "out", verbose=False)
    assert result.layout == kind and result.n_train == 11
    left_out = {f"{rows[0][0]}.png", f"{rows[7][0]}.png"}
    assert not left_out & {r["id"] for r in manifest(result)}
    assert [(e["name"], e["line"], e["grade_cell"], e["image"]) for e in summary(result)["left_out_ungradable"]] == [
        (rows[0][0], 2, cell, f"{folder}/{rows[0][0]}.png"), (rows[7][0], 9, cell, f"{folder}/{rows[7][0]}.png")]


def test_the_installed_ingest_command_names_itself_and_asks_for_its_subcommand(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A new user's trial: ``drac-ssl-ingest --root X`` (the installed command, whose name says
    ingest) answered ``python -m data_prep: error: argument command: invalid choice: 'X'``.
    The usage names the command as it was typed, and options before the subcommand get the
    fix ``drac-ssl-ingest ingest --root X``."""
    from data_prep.__main__ import main

    monkeypatch.setattr(sys, "argv", ["/venv/bin/drac-ssl-ingest", "--root", "X"])
    with pytest.raises(SystemExit) as stopped:
        main()
    err = capsys.readouterr().err
    assert stopped.value.code == 2
    assert err.startswith("usage: drac-ssl-ingest") and "invalid choice" not in err, err
    assert "drac-ssl-ingest ingest --root X" in err
    with pytest.raises(SystemExit):
        main(["--root", "X"])  # python -m data_prep: its own name
    err = capsys.readouterr().err
    prog = python_command("data_prep")  # the running interpreter, as every printed command
    assert err.startswith(f"usage: {prog}") and f"{prog} ingest --root X" in err, err


# --------------------------------------------------------------------------------------
# A failed ingest's full list, and a root one level off


def photo_folder(root: Path, aptos: list) -> Path:
    """A new user's plain colour folder: the 30 samples as ``ptNN_OD.png`` / ``ptNN_OS.png``
    and ``labels.csv`` with columns the ingest does not know (``filename,dr_grade,patient_id``)."""
    rows = []
    for i, (_, grade, rgb) in enumerate(aptos):
        name = f"pt{i // 2:02d}_{'OD' if i % 2 == 0 else 'OS'}.png"
        save(root / name, rgb)
        rows.append([name, grade, f"pt{i // 2:02d}"])
    write_rows(root / "labels.csv", ["filename", "dr_grade", "patient_id"], rows)
    return root


def test_a_failed_ingest_that_merges_findings_names_the_file_with_every_line(
        tmp_path: Path, aptos: list, capsys: pytest.CaptureFixture[str]) -> None:
    """A new-user review: a failed ingest said 'nothing was written but the full list, named
    below' and wrote ``ingest_problems.txt``, but no line named it: the 30 'converted to
    grayscale' warnings were printed merged into one line (so none was cut), while the file
    was written because 30 unmerged warnings exceed 10 of a kind. Whenever the file is
    written, the printed list names it, in ``python -m data_prep ingest`` and in the train
    pipeline's ingest stage alike; a list printed whole writes no file and promises none."""
    from data_prep.__main__ import main
    from drac_ssl.train import stage_ingest

    root = photo_folder(tmp_path / "my_photos", aptos)
    # one truncated file: an error told by decoding (the label CSV's unknown columns would stop
    # the ingest before it, from the listing alone), so the 29 others' warnings come with it
    truncated = root / "pt14_OS.png"
    truncated.write_bytes(truncated.read_bytes()[:-200])
    out = tmp_path / "x" / "data"
    # --channels 1: the colour photographs converted to grey, 29 warnings of one kind to merge
    main(["ingest", "--root", str(root), "--labels-csv", str(root / "labels.csv"), "--out",
          str(out), "--workers", "1", "--cache-sizes", str(SIZE), "--channels", "1",
          "--image-column", "filename", "--grade-column", "dr_grade", "--grades", "icdr"])
    err = capsys.readouterr().err
    listed = out / ingest.PROBLEMS_NAME
    # the 29 images that decoded are kept for the rerun: no manifest or array, but their rows
    assert "1 problem(s) must be fixed first (no manifest or cache array was written but the full list, " \
           "named below; 29 of 30 images are decoded and kept in" in err, err
    assert "29 files (pt00_OD.png, pt00_OS.png, pt01_OD.png and 26 more)" in err, err
    assert listed.exists() and f"its own line in {listed})" in err, err
    assert listed.read_text(encoding="utf-8").count("RGB image") == 29

    cfg = load_config(None, [f"data.root={root}", f"data.labels_csv={root / 'labels.csv'}",
                             "data.n_folds=2", "data.workers=1", f"data.cache_sizes=[{SIZE}]",
                             "data.channels=1", "data.image_column=filename",
                             "data.grade_column=dr_grade", "data.grades=icdr"])
    run = tmp_path / "run"
    with pytest.raises(validate.IngestError) as caught:
        stage_ingest(cfg, run)
    said = str(caught.value)
    assert "named below" in said and f"its own line in {run / 'data' / ingest.PROBLEMS_NAME}" in said, said
    assert "data.missing=leave_out" in said and not FLAG.findall(said), said

    # two files only: every line printed, no file written or promised
    few = tmp_path / "few"
    for name in ("pt00_OD.png", "pt00_OS.png"):
        save(few / name, np.array(Image.open(root / name)))
    write_rows(few / "labels.csv", ["filename", "dr_grade"], [["pt00_OD.png", 0], ["pt00_OS.png", 1]])
    message = run_error(config(few), tmp_path / "few-out")
    assert "(nothing was written)" in message and ingest.PROBLEMS_NAME not in message, message
    assert not (tmp_path / "few-out" / ingest.PROBLEMS_NAME).exists()


def test_a_merged_line_that_names_only_some_files_says_where_all_are() -> None:
    """The printed list leaves out a file's line when it merges the same finding of many
    files ('and 27 more') as when it cuts a kind short: either way it names where every line
    is, once; merging three files names them all and points nowhere."""
    from data_prep.problems import left_out_of_print

    folder = Path("photos")
    same = [validate.warning(str(folder / f"{i:03d}.png"), "RGB image", "keep colour", "channels")
            for i in range(30)]
    assert left_out_of_print(same) and not left_out_of_print(same[:3])
    text = validate.format_problems(same, full_list="F.txt")
    assert text.count("F.txt") == 1
    assert text.splitlines()[-1] == "  (each file of the merged lines above has its own line in F.txt)"
    assert "F.txt" not in validate.format_problems(same[:3], full_list="F.txt")
    assert "F.txt" not in validate.format_problems(same, per_kind=None, full_list="F.txt")


def eyepacs_folder(root: Path, aptos: list) -> Path:
    train, _ = split(aptos)
    rows = []
    for i, (_, grade, rgb) in enumerate(train):
        name = f"{10 + i}_{'left' if i % 2 else 'right'}"
        save(root / "train" / f"{name}.jpeg", rgb, format="JPEG", quality=95)
        rows.append([name, grade])
    write_rows(root / "trainLabels.csv", ["image", "level"], rows, newline="\n")
    return root


def test_a_root_one_level_inside_a_layout_names_the_layout_root(tmp_path: Path, aptos: list) -> None:
    """A new-user review: ``--root .../eyepacs/train`` (its parent an EyePACS layout) said 'no
    label CSV found here -> put the label CSV here', and 50 warnings of the plain UW-OCTA
    defaults (converted to grey, not 1024 px) that the right root would not give. The error
    names the folder above as the likely root, with the layout it is, before any image is
    decoded; in the train pipeline as ``data.root=``."""
    from drac_ssl.train import stage_ingest

    root = eyepacs_folder(tmp_path / "eyepacs", aptos)
    message = run_error(config(root / "train"), tmp_path / "out")
    assert (f"did you mean --root {root} (an EyePACS layout: trainLabels.csv + train/)?"
            in message), message
    assert "grayscale" not in message and "1024" not in message, message
    cfg = load_config(None, [f"data.root={root / 'train'}", "data.n_folds=2", "data.workers=1",
                             f"data.cache_sizes=[{SIZE}]"])
    with pytest.raises(validate.IngestError) as caught:
        stage_ingest(cfg, tmp_path / "run")
    assert f"did you mean data.root={root} (an EyePACS layout" in str(caught.value), str(caught.value)
    assert not FLAG.findall(str(caught.value)), str(caught.value)


def test_a_root_one_level_above_a_layout_names_the_layout_inside(tmp_path: Path) -> None:
    """``--root downloads`` holding only ``IDRiD/`` said 'no label CSV found here'; it names
    ``downloads/IDRiD`` as the likely root."""
    downloads = tmp_path / "downloads"
    (downloads / "IDRiD" / IDRID_DIR / IMAGES_DIR / TRAIN_DIR).mkdir(parents=True)
    message = run_error(config(downloads), tmp_path / "out")
    assert f"did you mean --root {downloads / 'IDRiD'} (an IDRiD layout" in message, message


def test_images_one_level_down_name_the_folder_and_the_label_csv(tmp_path: Path, aptos: list) -> None:
    """``study/images/*.png`` + ``study/labels.csv`` with ``--root study`` said 'no images found
    -> point --root at the folder that holds the images'. It names the subfolder with the
    images, how many, and the label CSV to pass with it; followed, the ingest runs."""
    study = tmp_path / "study"
    train, _ = split(aptos)
    for code, _, rgb in train:
        save(study / "images" / f"{code}.png", rgb)
    write_rows(study / "labels.csv", ["image name", "DR grade"], [[f"{c}.png", g] for c, g, _ in train])
    message = run_error(config(study, grades=ICDR), tmp_path / "out")
    assert (f"did you mean --root {study / 'images'} with --labels-csv {study / 'labels.csv'} "
            "(25 images)?") in message, message
    # ... and then, as a missing label CSV's message does, what to do if it is not that one
    assert "(25 images)? If not, point --root at the folder that holds the images" in message, message
    # a new-contributor trial (F5): a note beside it said 'images: subfolder ignored ... move
    # its images up one level', the other way out; the suggestion names the folder, no note
    assert "subfolder ignored" not in message and "move its images up" not in message, message
    (study / "notes").mkdir()  # a subfolder the suggestion does not name keeps its note
    (study / "notes" / "readme.txt").write_text("grading protocol\n")
    message = run_error(config(study, grades=ICDR), tmp_path / "out")
    assert f"did you mean --root {study / 'images'} with" in message, message
    assert f"{study / 'notes'}: subfolder ignored" in message, message
    assert f"{study / 'images'}: subfolder ignored" not in message, message
    result = ingest.run(config(study / "images", labels_csv=str(study / "labels.csv"), grades=ICDR),
                        tmp_path / "out", verbose=False)
    assert result.n_train == 25


def test_training_images_one_folder_too_deep_stop_the_ingest_with_the_subfolder(
        tmp_path: Path, aptos: list) -> None:
    """A new-user review: Kaggle's unzip layout ``eyepacs/train/train/*.jpeg`` (IDRiD: ``a.
    Training Set/a. Training Set/``) gave exit 0, 'train 0 test 5' and a manifest without a
    training image: the label CSV was never read when the training folder held no image, so
    its 25 rows were not reported. Each row now says that its image is in the subfolder, and
    'N label rows but 0 training images' is an error with the move to make; the train
    command's preflight stops on the same finding, not on batch sizes or a missing CSV."""
    from drac_ssl import preflight

    train, test = split(aptos)
    nest = eyepacs_folder(tmp_path / "nest", aptos)
    inner = nest / "train" / "train"
    inner.mkdir()
    for image in sorted((nest / "train").glob("*.jpeg")):
        image.rename(inner / image.name)
    for i, (_, _, rgb) in enumerate(test):
        save(nest / "test" / f"{i + 1}_left.jpeg", rgb, format="JPEG", quality=95)
    out = tmp_path / "out"
    message = run_error(config(nest), out)
    assert (f"{nest / 'trainLabels.csv'}: the label CSV has 25 rows but 0 training images were "
            f"found in {nest / 'train'}") in message, message
    assert (f"its images are one folder too deep, in {inner}: move them up into {nest / 'train'} "
            "(25 images) with: mv ") in message, message
    assert (f"label without image: 10_right is not in {nest / 'train'} but in its subfolder "
            "train/") in message, message
    # the CSV's names are plain already: not told, on every row, to write them plain
    assert "(and write the plain file names in the CSV)" not in message, message
    assert "To train on the images that are there" not in message, message  # there are none
    assert not (out / "manifest.csv").exists()

    cfg, sources, parsed = preflight.read_config(None, [f"data.root={nest}", "data.n_folds=2",
                                                        f"data.cache_sizes=[{SIZE}]"])
    assert parsed == []
    found = [f.line for f in preflight.check(cfg, tmp_path / "runs" / "x", sources)
             if f.severity == "error"]
    assert any("the label CSV has 25 rows but 0 training images" in line for line in found), found
    assert not any("batch_size" in line or "give the label CSV" in line for line in found), found

    # IDRiD's training folder unzipped into itself
    task = tmp_path / "IDRiD" / IDRID_DIR
    deep = task / IMAGES_DIR / TRAIN_DIR / TRAIN_DIR
    for i, (_, _, rgb) in enumerate(train):
        save(deep / f"IDRiD_{i + 1:03d}.jpg", rgb, format="JPEG")
    write_rows(task / GROUNDTRUTH_DIR / IDRID_LABELS_CSV_NAME, ["Image name", "Retinopathy grade"],
               [[f"IDRiD_{i + 1:03d}", g] for i, (_, g, _) in enumerate(train)])
    message = run_error(config(tmp_path / "IDRiD"), tmp_path / "out-idrid")
    assert "the label CSV has 25 rows but 0 training images" in message, message
    assert f"its images are one folder too deep, in {deep}" in message, message


def test_the_move_up_command_works_with_hidden_files_and_at_any_size(tmp_path: Path,
                                                                 aptos: list) -> None:
    """A maintainer review: the 'one folder too deep' fix printed ``mv SUB/* TRAIN/ && rmdir
    SUB``: on a full EyePACS download (35,126 files) the shell's ``*`` gives 'Argument list
    too long' and nothing moves, and a ``.DS_Store`` in SUB breaks the rmdir. The printed
    command has no glob (a rename when SUB is TRAIN's only entry, else ``find ... -exec``),
    its paths are shell-quoted, and run by bash it leaves the images in TRAIN and SUB gone."""
    import subprocess

    def nest_at(root: Path, extra: bool) -> tuple[Path, Path]:
        base = eyepacs_folder(root, aptos)
        train_dir = base / "train"
        inner = train_dir / "train"
        inner.mkdir()
        for image in sorted(train_dir.glob("*.jpeg")):
            image.rename(inner / image.name)
        if extra:  # Finder's litter in both folders, and a file beside the subfolder
            (inner / ".DS_Store").write_bytes(b"x")
            (train_dir / ".DS_Store").write_bytes(b"y")
        return base, inner

    for name, extra in (("only entry", False), ("with hidden files", True)):
        base, inner = nest_at(tmp_path / name / "it's here", extra)
        message = run_error(config(base), tmp_path / name / "out")
        match = re.search(r"move them up into .*? with: (.*) and run again", message)
        assert match, message
        command = match.group(1)
        assert "*" not in command and "-t " not in command, command
        done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, check=False)
        assert done.returncode == 0, (command, done.stderr)
        assert not inner.exists(), command
        assert len(list((base / "train").glob("*.jpeg"))) == 25, command
        assert not list(base.glob("train.old*")), command  # no folder left behind
        result = ingest.run(config(base, grades=ICDR), tmp_path / name / "out2", verbose=False)
        assert result.n_train == 25


def test_a_compressed_label_csv_is_named_with_the_command_that_unpacks_it(
        tmp_path: Path, aptos: list) -> None:
    """A new-user review: Kaggle ships ``trainLabels.csv.zip``; ``--root v/zip`` said 'no label
    CSV found here -> did you mean --root v/zip/train (25 images)?', and that root ingested the
    colour photographs as a grey UW-OCTA folder. The compressed CSV is named with the command
    that unpacks it (the images' subfolder is not offered), from the root and from the images'
    folder below it; unpacked, the folder is the EyePACS layout it was meant to be."""
    import gzip
    import zipfile

    base = eyepacs_folder(tmp_path / "zip", aptos)
    labels = base / "trainLabels.csv"
    with zipfile.ZipFile(base / "trainLabels.csv.zip", "w") as archive:
        archive.write(labels, labels.name)
    labels.unlink()
    message = run_error(config(base), tmp_path / "out")
    assert (f"{base}: no label CSV found here -> found trainLabels.csv.zip: unzip it here (cd {base} "
            "&& unzip trainLabels.csv.zip) and run again") in message, message
    assert "did you mean" not in message and "--root" not in message, message
    message = run_error(config(base / "train"), tmp_path / "out")
    assert (f"found trainLabels.csv.zip in the folder above: unzip it there (cd {base} && unzip "
            "trainLabels.csv.zip) and run again") in message, message
    assert "grayscale" not in message, message
    with zipfile.ZipFile(base / "trainLabels.csv.zip") as archive:
        archive.extractall(base)
    result = ingest.run(config(base), tmp_path / "out", verbose=False)
    assert result.layout == "eyepacs" and result.n_train == 25

    # a gzipped CSV; a .zip of any name that holds a CSV; a .zip of images is not named
    study = tmp_path / "study"
    train, _ = split(aptos)
    for code, _, rgb in train[:3]:
        save(study / f"{code}.png", rgb)
    with zipfile.ZipFile(study / "images.zip", "w") as archive:
        archive.writestr("a.png", b"not read")
    (study / "labels.csv.gz").write_bytes(gzip.compress(b"image name,DR grade\n"))
    message = run_error(config(study), tmp_path / "out")
    assert f"found labels.csv.gz: unzip it here (cd {study} && gunzip -k labels.csv.gz)" in message, message
    assert "images.zip" not in message, message
    (study / "labels.csv.gz").unlink()
    with zipfile.ZipFile(study / "export (3).zip", "w") as archive:
        archive.writestr("grades.csv", "image name,DR grade\n")
    message = run_error(config(study), tmp_path / "out")
    assert f"found 'export (3).zip' (it holds grades.csv): unzip it here (cd {study} && unzip " \
           "'export (3).zip')" in message, message


def test_a_stray_npz_is_no_medmnist_root_and_never_hides_the_images(tmp_path: Path,
                                                                   aptos: list) -> None:
    """A review: ``rb/features.npz`` beside the root and ``myroot/cache/emb.npz`` inside it were
    both suggested as MedMNIST roots ('did you mean --root rb (a MedMNIST .npz: features.npz)
    or --root rb/myroot/cache ...?'), hiding ``myroot/images``; following either failed. Only
    an .npz holding MedMNIST's train_images / train_labels is a MedMNIST root, and it comes
    after a subfolder of images."""
    rb = tmp_path / "rb"
    myroot = rb / "myroot"
    train, _ = split(aptos)
    for code, _, rgb in train:
        save(myroot / "images" / f"{code}.png", rgb)
    (myroot / "cache").mkdir()
    np.savez(rb / "features.npz", features=np.zeros((3, 4)))
    np.savez(myroot / "cache" / "emb.npz", emb=np.zeros((3, 4)))
    message = run_error(config(myroot), tmp_path / "out")
    assert f"did you mean --root {myroot / 'images'} (25 images)?" in message, message
    assert "MedMNIST" not in message, message
    # a real MedMNIST .npz above is still named, after the folder of images
    np.savez(rb / "features.npz", train_images=np.zeros((2, 28, 28), np.uint8),
             train_labels=np.zeros((2, 1), np.uint8))
    message = run_error(config(myroot), tmp_path / "out")
    assert (f"did you mean --root {myroot / 'images'} (25 images) or --root {rb} (a MedMNIST "
            ".npz: features.npz)?") in message, message


def test_a_folder_per_grade_tree_is_told_it_needs_a_label_csv_with_a_way_to_make_one(
        tmp_path: Path, aptos: list) -> None:
    """A review: ``bygrade/0..4`` (6 images each, no CSV) was told 'did you mean --root
    bygrade/0 (6 images) or --root bygrade/1 ...?', each a single grade. Several subfolders
    of images and no CSV name no single folder: how many hold images (the first three named
    and 'N more'), that a plain root is one folder of images with a label CSV, and, for
    folders named by grade, the ``python -m data_prep flatten`` command that copies them into
    one folder and writes the CSV from the folder names, and the root (and, for 0..4, the
    grade scale) to pass then; followed, the ingest runs with every image at its grade."""
    import shlex

    from data_prep.__main__ import main

    tree = tmp_path / "bygrade"
    for code, grade, rgb in aptos:
        save(tree / str(grade) / f"{code}.png", rgb)
    message = run_error(config(tree), tmp_path / "out")
    assert f"--root {tree / '0'}" not in message, message
    assert "the images are in 5 subfolders (0/, 1/, 2/ and 2 more)" in message, message
    assert "a folder-per-grade tree needs a label CSV" in message, message
    assert "If not" not in message, message
    (command,) = re.findall(r"^  \S*python -m data_prep (flatten .*)$", message, flags=re.M)
    flat = tmp_path / "bygrade_flat"
    assert f"then pass --root {flat} --grades icdr" in message, message
    assert main(shlex.split(command)) == 0
    result = ingest.run(config(flat, grades=ICDR), tmp_path / "out", verbose=False)
    assert result.n_train == 30 and result.counts_per_grade == dict.fromkeys(range(5), 6)
    by_id = {f"{c}.png": g for c, g, _ in aptos}
    assert all(int(r["grade"]) == by_id[r["id"]] for r in manifest(result))
    # a relative root: the line cds into it, so the copy's folder is said absolute
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        words = layout._image_tree_words(Path("bygrade"), layout.image_subfolders(Path("bygrade")), 0)
    finally:
        os.chdir(cwd)
    assert f"flatten --root {tree}" in words and f"then pass --root {flat}" in words, words

    # many subfolders that are no grades: counted, the cut list says how many more
    many = tmp_path / "many"
    for i in range(120):
        (many / f"s{i:03d}").mkdir(parents=True)
        (many / f"s{i:03d}" / "a.png").write_bytes(b"not decoded: the error comes first")
    message = run_error(config(many), tmp_path / "out2")
    assert f"--root {many / 's000'}" not in message, message
    assert "subfolders (s000/, s001/, s002/ and 97 more; 20 more subfolders not looked at)" \
        in message, message
    assert "folder-per-grade" not in message, message


def test_a_symlinked_root_and_a_folder_below_its_label_csv_get_the_likely_root(
        tmp_path: Path, aptos: list) -> None:
    """A review: ``link_train -> eyepacs/train`` got no hint (the folder above the link is not
    the layout), and ``--root study/images`` (the label CSV one folder up) none either: it
    decoded with the UW-OCTA defaults and gave a warning per image. The link's target's parent
    is tried too; a root of images whose parent holds one CSV is told to pass it, before any
    image is decoded."""
    eyepacs = eyepacs_folder(tmp_path / "eyepacs", aptos)
    link = tmp_path / "link_train"
    link.symlink_to(eyepacs / "train", target_is_directory=True)
    message = run_error(config(link), tmp_path / "out")
    assert f"did you mean --root {eyepacs} (an EyePACS layout: trainLabels.csv + train/)?" in message, message

    study = tmp_path / "study"
    train, _ = split(aptos)
    for code, _, rgb in train:
        save(study / "images" / f"{code}.png", rgb)
    write_rows(study / "labels.csv", ["image name", "DR grade"], [[f"{c}.png", g] for c, g, _ in train])
    message = run_error(config(study / "images"), tmp_path / "out")
    assert (f"did you mean --labels-csv {study / 'labels.csv'} (the one CSV in the folder above)? "
            "If not, put the label CSV here") in message, message
    assert "grey" not in message and "1024" not in message, message
    # a test/ folder of a plain root (the images and the CSV above it): that root is named
    plain = tmp_path / "plain"
    for code, _, rgb in train:
        save(plain / f"{code}.png", rgb)
    save(plain / "test" / "t.png", train[0][2])
    write_rows(plain / "labels.csv", ["image name", "DR grade"], [[f"{c}.png", g] for c, g, _ in train])
    message = run_error(config(plain / "test"), tmp_path / "out")
    assert f"did you mean --root {plain} (25 images and labels.csv)?" in message, message


def test_a_crop_left_undone_is_said_in_the_summary_as_in_the_report(tmp_path: Path,
                                                                    aptos: list) -> None:
    """A review: --fundus-crop on photographs without a dark surround printed 'preprocessing
    of the cached copies: cropped to the fundus disc and padded to a square' (and the summary
    file said the same) while every image was left as it was (warnings fundus-surround). The
    ingest says 'requested; not applied to N of M images: reason', the words of the report
    and the model card (one function)."""
    from drac_ssl.grading.bundle import fundus_preprocessing_words

    train, _ = split(aptos)
    root = tmp_path / "aptos"
    for i, (code, _, rgb) in enumerate(train[:10]):
        save(root / "train_images" / f"{code}.png", _black_surround_disc(rgb) if i % 2 else rgb)
    write_rows(root / "train.csv", ["id_code", "diagnosis"], [[c, g] for c, g, _ in train[:10]])
    result = ingest.run(config(root, fundus_crop=True), tmp_path / "out", verbose=False)
    words = ("crop to the fundus disc (requested; not applied to 5 of 10 images: no dark "
             "surround around the disc)")
    assert f"preprocessing of the cached copies: {words}" in ingest.format_summary(result)
    assert "cropped to the fundus disc" not in ingest.format_summary(result)
    assert summary(result)["preprocessing"]["words"] == [words]
    assert summary(result)["preprocessing"]["fundus_crop"] is True  # the request, replayed
    assert fundus_preprocessing_words({"fundus_crop": True},
                                      {"crop_not_applied": {"no dark surround around the disc": 5},
                                       "n_train": 10}) == words
    # every image cropped: the words of a crop done
    for code, _, rgb in train[:10]:
        save(root / "train_images" / f"{code}.png", _black_surround_disc(rgb))
    result = ingest.run(config(root, fundus_crop=True), tmp_path / "out", verbose=False)
    assert summary(result)["preprocessing"]["words"] == ["cropped to the fundus disc and padded to a square"]


# --------------------------------------------------------------------------------------
# DeepDRiD's regular-fundus tree: the manual route of a flat copy, and per-patient folders


DEEPDRID_HEADER = ["patient_id", "image_id", "image_path", "left_eye_DR_Level",
                   "right_eye_DR_Level", "patient_DR_Level", "Overall quality"]


def deepdrid_tree(root: Path, aptos: list) -> tuple[Path, Path, list[list[object]]]:
    """``root/regular-fundus-training/`` as DeepDRiD ships it, from 28 of the real APTOS
    samples: 7 patients, 2 photographs per eye, ``Images/<patient_id>/<image_id>.jpg`` and
    ``regular-fundus-training.csv`` with the grade in the row's eye column (the other eye's
    cell empty) and ``patient_DR_Level`` the patient's worse grade, as DeepDRiD writes it (it
    differs from the row's own on some rows, so a reading of it instead of the eye's column
    shows). Returns the Images folder, the CSV and its rows."""
    base = root / "regular-fundus-training"
    rows: list[list[object]] = []
    worst: dict[int, int] = {}
    for i, (_, grade, rgb) in enumerate(aptos[:28]):
        patient, eye, shot = i // 4 + 1, "l" if i % 4 < 2 else "r", i % 2 + 1
        worst[patient] = max(worst.get(patient, 0), grade)
        image_id = f"{patient}_{eye}{shot}"
        save(base / "Images" / str(patient) / f"{image_id}.jpg", rgb, format="JPEG", quality=95)
        rows.append([patient, image_id, f"regular-fundus-training\\Images\\{patient}\\{image_id}.jpg",
                     grade if eye == "l" else "", grade if eye == "r" else "", grade, 1])
    for row in rows:
        row[5] = worst[int(row[0])]  # type: ignore[call-overload]
    csv_path = base / "regular-fundus-training.csv"
    write_rows(csv_path, DEEPDRID_HEADER, rows)
    return base / "Images", csv_path, rows


def flat_copy(images: Path, flat: Path) -> Path:
    """The manual route's first step: every image of the per-patient folders in one folder."""
    flat.mkdir(parents=True)
    for path in sorted(images.glob("*/*.jpg")):
        (flat / path.name).write_bytes(path.read_bytes())
    return flat


def test_an_empty_grade_beside_the_other_eyes_filled_column_is_not_called_ungradable(
        tmp_path: Path, aptos: list) -> None:
    """A review on DeepDRiD: --grade-column left_eye_DR_Level called each right-eye row
    'no grade (an ungradable image?) -> rerun with --ungradable leave_out', and following it
    dropped every right-eye image silently (rc 0, one note). The row's grade is in the other
    eye's column: that is said, with the fix (merge the columns), and leave_out does not take
    those rows; a row with both eyes' cells empty is still ungradable."""
    images, csv_path, rows = deepdrid_tree(tmp_path, aptos)
    flat = flat_copy(images, tmp_path / "flat")
    rows[0][3] = ""  # 1_l1: no grade in either eye's column, a truly ungraded row
    write_rows(flat / "labels.csv", DEEPDRID_HEADER, rows)
    cfg = config(flat, image_column="image_id", grade_column="left_eye_DR_Level", grades="icdr",
                 patient_column="patient_id")
    for ungradable in ("error", "leave_out"):
        message = run_error(dataclasses_replace(cfg, ungradable=ungradable), tmp_path / ungradable)
        assert (f"{flat / 'labels.csv'}:4: 1_r1 has no grade in 'left_eye_DR_Level': this row's grade "
                "is in 'right_eye_DR_Level'") in message, message
        assert ("the grades are per eye in two columns: for a DeepDRiD set, pass its folder "
                "(regular-fundus-training) as --root without --grade-column") in message, message
        assert "otherwise merge them into one grade column (docs/data.md, DeepDRiD)" in message
        per_eye = [line for line in message.splitlines() if "this row's grade is in" in line]
        assert len(per_eye) == 10 and not any("leave_out" in line for line in per_eye), message
        assert "4 more 'per-eye' error(s)" in message, message  # 14 right-eye rows in all
    message = run_error(cfg, tmp_path / "again")
    assert "1_l1 has no grade (an empty cell; an ungradable image?)" in message  # both empty


@pytest.mark.parametrize(("grade", "other"), [("DR_grade_OD", "DR_grade_OS"), ("grade_l", "grade_r"),
                                              ("Right Eye Grade", "Left Eye Grade")])
def test_other_eye_column_names(grade: str, other: str) -> None:
    """left <-> right, _l <-> _r, OD <-> OS, in any case; none for a column without an eye."""
    assert validate.other_eye_column([grade, other, "image"], grade) == other
    assert validate.other_eye_column([grade, "image"], grade) is None
    assert validate.other_eye_column(["level", "image", "left_level"], "level") is None


def test_the_per_patient_copy_command_runs_twice_and_copies_what_the_clash_check_looked_at(
        tmp_path: Path, aptos: list) -> None:
    """A maintainer review: the copy advice used ``cp -t`` (GNU only), ``mkdir`` (fails when
    run again) and a ``find`` that recursed deeper than the name-clash check looked, so a
    ``thumbs/`` folder inside a patient's folder was copied over its images unwarned. The
    command copies the images of the subfolders only (the depth the check looks at; hidden
    files not), with portable ``cp``, and bash runs it twice."""
    import subprocess

    images, csv_path, _ = deepdrid_tree(tmp_path, aptos)
    csv_path.rename(csv_path.with_name("labels.csv"))  # per-patient folders of no known layout
    deeper = images / "1" / "thumbs"
    deeper.mkdir()
    (deeper / "1_l1.jpg").write_bytes((images / "2" / "2_l1.jpg").read_bytes())
    (images / "3" / "._3_l1.jpg").write_bytes(b"AppleDouble")
    message = run_error(config(images, grades="icdr"), tmp_path / "out")
    (command,) = [line.strip() for line in message.splitlines() if line.strip().startswith("mkdir -p ")]
    assert "cp -t" not in command and " -maxdepth 2" in command, command
    flat = images.with_name("Images_flat")
    for _ in range(2):
        done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, check=False)
        assert done.returncode == 0, (command, done.stderr)
    copied = sorted(p.name for p in flat.iterdir())
    assert copied == sorted(p.name for p in images.glob("*/*.jpg") if not p.name.startswith(".")), copied
    assert (flat / "1_l1.jpg").read_bytes() == (images / "1" / "1_l1.jpg").read_bytes()


def test_per_patient_subfolders_are_not_offered_as_grade_folders(tmp_path: Path, aptos: list) -> None:
    """A review on DeepDRiD: --root .../Images (subfolders 1/..7/ named by patient) was told to
    flatten them as grade folders (each image's grade its patient number), and with
    --labels-csv 'did you mean --root .../Images/1'. With a label CSV given, or in or above
    the folder, the subfolders are said to be not read, with the command that copies them
    into one folder. (DeepDRiD's own tree is a layout now, whose set folder such a root is
    told: test_deepdrid_roots_one_level_off_name_the_set_folder; here its CSV is renamed, a
    per-patient tree of no known layout.)"""
    images, csv_path, _ = deepdrid_tree(tmp_path, aptos)
    csv_path = csv_path.rename(csv_path.with_name("labels.csv"))
    message = run_error(config(images, grades="icdr"), tmp_path / "no-csv")
    flat = images.with_name("Images_flat")
    assert "flatten" not in message and "1-based" not in message, message
    assert "images in per-patient (or other) subfolders are not read" in message, message
    assert (f"-name '*.jpg' -exec sh -c 'cp \"$@\" \"$0\"' {flat}/ {{}} +)\nthen pass --root {flat} "
            f"--labels-csv "
            f"{csv_path}") in message, message
    message = run_error(config(images, grades="icdr", labels_csv=str(csv_path),
                               image_column="image_id", grade_column="left_eye_DR_Level"),
                        tmp_path / "with-csv")
    assert "did you mean" not in message and "flatten" not in message, message
    assert "images in per-patient (or other) subfolders are not read" in message, message


# --------------------------------------------------------------------------------------
# DeepDRiD's regular-fundus set as a layout found by itself


def test_deepdrid_layout(tmp_path: Path, aptos: list) -> None:
    """``--root regular-fundus-training`` as DeepDRiD ships it: the images in per-patient
    folders, each image's grade its own eye's column (the other eye's cell empty), the
    patients from ``patient_id`` without --patient-column (a patient's images in one fold),
    ICDR grades and colour kept, no test split."""
    images, csv_path, rows = deepdrid_tree(tmp_path, aptos)
    root = images.parent
    result = ingest.run(config(root, n_folds=3), tmp_path / "out", verbose=False)

    assert result.layout == "deepdrid" and (result.n_train, result.n_test) == (28, 0)
    assert result.grade_names == tuple(ICDR) and result.channels == 3
    listed = manifest(result)
    by_id = {r["id"]: r for r in listed}
    assert by_id["1_l1.jpg"]["path"] == "Images/1/1_l1.jpg"
    for patient, image_id, _, left, right, _, _ in rows:  # the grade of the image's own eye
        row = by_id[f"{image_id}.jpg"]
        assert int(row["grade"]) == (left if "_l" in image_id else right), image_id
        assert row["patient"] == str(patient)
    # the patient's grade (the worse eye) differs from the image's own on some rows, so a
    # reading of patient_DR_Level would fail above
    differ = [image_id for _, image_id, _, left, right, worst, _ in rows
              if (left if "_l" in image_id else right) != worst]
    assert len(differ) >= 4, differ
    for patient in {r[0] for r in rows}:
        eyes = [r[3] if "_l" in r[1] else r[4] for r in rows if r[0] == patient]
        assert {r[5] for r in rows if r[0] == patient} == {max(eyes)}, patient
    fold_of: dict[str, set[str]] = {}
    for r in listed:
        fold_of.setdefault(r["patient"], set()).add(r["fold"])
    assert len(fold_of) == 7 and all(len(folds) == 1 for folds in fold_of.values()), fold_of
    assert len({f for folds in fold_of.values() for f in folds}) == 3
    info = summary(result)
    assert info["patients"] == {"grouped": True, "source": "the DeepDRiD layout's column 'patient_id'",
                                "column": "patient_id", "n_patients": 7, "n_images": 28,
                                "unused_column": None}
    assert info["label_columns"] == {"image": "image_id",
                                     "grade": "left_eye_DR_Level / right_eye_DR_Level"}
    assert info["modality"]["value"] == "fundus"
    assert not result.warnings, result.warnings  # patient_DR_Level is no patient id; nothing converted
    assert not any("without extension" in n for n in result.notes), result.notes  # its convention
    assert any("a patient's images are kept in one fold" in n for n in result.notes), result.notes
    assert any("no test split" in n for n in result.notes), result.notes
    cached = np.load(result.cache_paths[SIZE], mmap_mode="r")
    assert cached.shape == (28, SIZE, SIZE, 3)  # colour kept
    first = next(i for i, r in enumerate(listed) if r["id"] == "1_l1.jpg")
    decoded = cv2.cvtColor(cv2.imread(str(images / "1" / "1_l1.jpg")), cv2.COLOR_BGR2RGB)
    assert np.abs(cached[first].astype(int) - rgb_rows([decoded])[0].astype(int)).max() <= 1

    # --patient-column names another column: the user's wins
    other = ingest.run(config(root, n_folds=3, patient_column="image_id"), tmp_path / "own",
                       verbose=False)
    assert summary(other)["patients"]["source"] == "column 'image_id'"
    assert len({r["patient"] for r in manifest(other)}) == 28


def test_a_deepdrid_row_repeated_with_another_other_eye_grade_names_that_column(
        tmp_path: Path, aptos: list) -> None:
    """A reviewer (F1): ``1_l1`` written twice, ``left_eye_DR_Level`` the same and
    ``right_eye_DR_Level`` 3 on one row and 0 on the other, was "the rows identical", the other
    eye's column left out of the comparison because it is read for other rows. The warning
    names it; the first row is kept."""
    images, csv_path, rows = deepdrid_tree(tmp_path, aptos)
    rows[0][4] = 3  # 1_l1, a left-eye row: the right eye's cell is not its grade
    rows.append([*rows[0][:4], 0, *rows[0][5:]])  # line 30
    write_rows(csv_path, DEEPDRID_HEADER, rows)
    result = ingest.run(config(images.parent), tmp_path / "out", verbose=False)
    assert result.n_train == 28
    (said,) = [w for w in result.warnings if "is listed 2 times" in w]
    assert said.startswith(f"{csv_path}:30: 1_l1 is listed 2 times (lines 2, 30) with grade "
                           f"{rows[0][3]} on both, the same name, grade and patient but other "
                           "columns differ (right_eye_DR_Level '3' vs '0'): the first is kept, "
                           "line 30 left out"), said
    assert summary(result)["left_out_repeated"] == [
        {"name": "1_l1", "line": 30, "grade_cell": str(rows[0][3]), "grade": rows[0][3],
         "kept_line": 2, "other_cells": [["image_path", rows[0][2]], ["right_eye_DR_Level", "0"],
                                         ["patient_DR_Level", str(rows[0][5])],
                                         ["Overall quality", "1"]]}]


def test_deepdrid_rows_without_their_eyes_grade_or_eye(tmp_path: Path, aptos: list) -> None:
    """A row whose own eye's cell is empty is an ungradable row (an error, or left out with
    --ungradable leave_out), never 'the grade is in the other column'; an image id that names
    no eye is an error at its CSV line, left out by nothing."""
    images, csv_path, rows = deepdrid_tree(tmp_path, aptos)
    root = images.parent
    rows[6][4] = ""  # 2_r1: its own (right) eye's cell empty, the left one empty as always
    write_rows(csv_path, DEEPDRID_HEADER, rows)
    message = run_error(config(root), tmp_path / "refused")
    # the column read is named (a new-contributor trial, F6: 'has no grade' said no column,
    # while the row's image_id chose right_eye_DR_Level), never 'its grade is in the other'
    assert (f"{csv_path}:8: 2_r1 has no grade in its eye's column 'right_eye_DR_Level' (an empty "
            "cell; an ungradable image?)") in message, message
    assert "this row's grade is in" not in message, message
    kept = ingest.run(config(root, ungradable="leave_out"), tmp_path / "kept", verbose=False)
    assert kept.n_train == 27 and "2_r1.jpg" not in {r["id"] for r in manifest(kept)}
    assert [row["image"] for row in summary(kept)["left_out_ungradable"]] == ["Images/2/2_r1.jpg"]

    rows[6][4] = rows[6][5]
    rows[9][1] = "3_x2"  # an image id without its eye
    (images / "3" / "3_l2.jpg").rename(images / "3" / "3_x2.jpg")
    write_rows(csv_path, DEEPDRID_HEADER, rows)
    for ungradable in ("error", "leave_out"):
        message = run_error(config(root, ungradable=ungradable), tmp_path / f"eye-{ungradable}")
        assert (f"{csv_path}:11: cannot tell the eye of 3_x2 from its image id, so neither "
                "'left_eye_DR_Level' nor 'right_eye_DR_Level' can be chosen") in message, message
        assert "write the image id with its eye as DeepDRiD names it" in message, message
        assert "image without label" not in message, message


def test_deepdrids_grade_5_is_its_ungradable_label(tmp_path: Path, aptos: list) -> None:
    """A DeepDRiD user: the regular set writes 5 for an image its graders found ungradable,
    and the ingest refused it as 'outside {0..4} -> ... give 6 names in --grades'. Under the
    DeepDRiD layout grade 5 is said to be that label, with --ungradable leave_out as the fix,
    which then leaves those rows out with their images like an empty cell; elsewhere a 5
    stays a grade outside the scale."""
    images, csv_path, rows = deepdrid_tree(tmp_path, aptos)
    root = images.parent
    for i in (4, 9):  # 2_l1 (left eye) and 3_l2
        rows[i][3] = rows[i][5] = 5
    write_rows(csv_path, DEEPDRID_HEADER, rows)
    message = run_error(config(root), tmp_path / "refused")
    assert "give 6 names" not in message and "outside {0" not in message, message
    assert (f"{csv_path}: 2 rows have grade 5, DeepDRiD's label for an image its graders found "
            "ungradable, e.g. line 6 (2_l1) and line 11 (3_l2)") in message, message
    assert "-> rerun with --ungradable leave_out" in message, message
    kept = ingest.run(config(root, ungradable="leave_out"), tmp_path / "kept", verbose=False)
    assert kept.n_train == 26, kept.n_train
    assert {"2_l1.jpg", "3_l2.jpg"}.isdisjoint(r["id"] for r in manifest(kept))
    info = summary(kept)
    assert [(r["image"], r["grade_cell"]) for r in info["left_out_ungradable"]] == [
        ("Images/2/2_l1.jpg", "5"), ("Images/3/3_l2.jpg", "5")]
    said = [n for n in kept.notes if "left out with their images" in n]
    assert len(said) == 1 and "DeepDRiD's grade 5" in said[0], kept.notes
    # one row of 5: said at its line, the same fix
    rows[9][3] = rows[9][5] = 2
    write_rows(csv_path, DEEPDRID_HEADER, rows)
    message = run_error(config(root), tmp_path / "one")
    assert (f"{csv_path}:6: 2_l1 has grade 5, DeepDRiD's label for an image its graders found "
            "ungradable") in message and "rerun with --ungradable leave_out" in message, message
    # six grade names: 5 is a grade of the scale, read as such
    six = ingest.run(config(root, grades="a,b,c,d,e,f"), tmp_path / "six", verbose=False)
    assert {r["id"]: r["grade"] for r in manifest(six)}["2_l1.jpg"] == "5"
    # a flat copy read as a plain folder: 5 stays outside the scale, its fix no sixth grade but
    # DeepDRiD's ungradable label (a Messidor-2 / DeepDRiD trial, F3: test_deepdrid_five_merged)
    flat = flat_copy(images, tmp_path / "flat")
    write_rows(flat / "labels.csv", DEEPDRID_HEADER, rows)
    message = run_error(config(flat, image_column="image_id", grade_column="patient_DR_Level",
                               grades="icdr", patient_column="patient_id"), tmp_path / "flat-out")
    assert "grade 5 of 2_l1 is outside {0, 1, 2, 3, 4}" in message, message
    assert "-> grade 5 is DeepDRiD's label for an image its graders found ungradable" in message
    assert "6 names" not in message and "--ungradable leave_out" in message, message


def test_a_grade_column_is_never_offered_as_the_patient_column(tmp_path: Path, aptos: list) -> None:
    """A DeepDRiD CSV without patient_id was told 'did you mean patient_DR_Level? pass
    --patient-column patient_DR_Level' (the patient's grade, the closest name), and without
    it the image column would be next: neither a grade-like column (a *_DR_Level, grade or
    level column) nor a column read for another role is offered as the patient column."""
    images, csv_path, rows = deepdrid_tree(tmp_path, aptos)
    write_rows(csv_path, DEEPDRID_HEADER[1:], [row[1:] for row in rows])
    message = run_error(config(images.parent), tmp_path / "out")
    assert "no patient column 'patient_id'" in message, message
    assert "did you mean" not in message and "--patient-column '" not in message, message
    from data_prep.labels import missing_column, read_table

    table, _ = read_table(csv_path, ["image_id"])
    assert table is not None
    for columns in (["patient_DR_Level"], ["PatientGrade"], ["patient level"], ["DR grade of patient"]):
        table.columns = ["image_id", *columns]
        fix = missing_column(table, "patient_id", "patient", "--patient-column", avoid=["image_id"]).fix
        assert "did you mean" not in fix, (columns, fix)
    table.columns = ["image_id", "patient_DR_Level", "Patient_ID "]
    fix = missing_column(table, "patient_id", "patient", "--patient-column").fix
    assert fix == "did you mean 'Patient_ID '? pass --patient-column 'Patient_ID '", fix


def test_a_deepdrid_csv_without_patient_id_says_what_deepdrid_calls_it(tmp_path: Path,
                                                                      aptos: list) -> None:
    """A DeepDRiD label CSV without its patient column (the per-eye grade columns there) was
    told only 'no patient column 'patient_id' -> pass --patient-column NAME with the name of
    the patient column', as any CSV: the error now says that DeepDRiD names each image's
    patient in 'patient_id' and both ways out (name this file's column, or put the column
    back). A column the user named, or a CSV that is not DeepDRiD's, keeps the plain error."""
    from data_prep.problems import as_config_keys

    def line(message: str) -> str:
        return next(x for x in message.splitlines() if "no patient column" in x)

    images, csv_path, rows = deepdrid_tree(tmp_path, aptos)
    write_rows(csv_path, DEEPDRID_HEADER[1:], [row[1:] for row in rows])
    said = line(run_error(config(images.parent), tmp_path / "out"))
    assert "no patient column 'patient_id'" in said, said
    assert ("a DeepDRiD label CSV (its 'left_eye_DR_Level' / 'right_eye_DR_Level' columns) names "
            "each image's patient in 'patient_id'") in said, said
    assert "-> if this file names its patients in another column, pass --patient-column NAME" in said
    assert "else add the 'patient_id' column (the number before the underscore of image_id" in said
    assert "data.patient_column=NAME" in as_config_keys(said), as_config_keys(said)

    # the column the user named is not there: that is the error, with the generic fix
    said = line(run_error(config(images.parent, patient_column="PID"), tmp_path / "pid"))
    assert "no patient column 'PID'" in said and "DeepDRiD" not in said, said
    # a CSV without the per-eye columns is no DeepDRiD CSV
    flat = flat_copy(images, tmp_path / "flat")
    write_rows(flat / "labels.csv", ["image_id", "grade"], [[row[1], row[5]] for row in rows])
    said = line(run_error(config(flat, image_column="image_id", grade_column="grade",
                                 patient_column="patient_id", grades="icdr"), tmp_path / "flat-out"))
    assert "no patient column 'patient_id'" in said and "DeepDRiD" not in said, said
    assert "pass --patient-column NAME with the name of the patient column" in said, said


def test_deepdrid_listers_read_the_per_patient_folders(tmp_path: Path, aptos: list) -> None:
    """Every lister reads the per-patient folders: the resume's data check sees an image
    edited or added in a patient folder; a row whose image sits one folder deeper is said
    where it is; one image id in two patient folders is a duplicate name."""
    from data_prep.source_check import source_changes

    images, csv_path, rows = deepdrid_tree(tmp_path, aptos)
    root = images.parent
    result = ingest.run(config(root), tmp_path / "out", verbose=False)
    assert source_changes(result.out_dir) == []
    edited = images / "3" / "3_r1.jpg"
    save(edited, aptos[0][2], format="JPEG", quality=80)
    (images / "4" / "4_r3.jpg").write_bytes((images / "4" / "4_r2.jpg").read_bytes())
    changes = source_changes(result.out_dir)
    assert "1 image added (Images/4/4_r3.jpg)" in changes, changes
    assert "1 image replaced or edited (Images/3/3_r1.jpg)" in changes, changes
    (images / "4" / "4_r3.jpg").unlink()

    deeper = images / "5" / "extra"
    deeper.mkdir()
    (images / "5" / "5_l1.jpg").rename(deeper / "5_l1.jpg")
    message = run_error(config(root), tmp_path / "deeper")
    assert (f"{csv_path}:18: label without image: 5_l1 is not in a patient folder of {images} but "
            f"in 5/extra/") in message, message
    assert f"move it up into {images / '5'}" in message, message
    (deeper / "5_l1.jpg").rename(images / "5" / "5_l1.jpg")

    (images / "6" / "5_l2.jpg").write_bytes((images / "5" / "5_l2.jpg").read_bytes())
    message = run_error(config(root), tmp_path / "twice")
    assert "duplicate name: 5/5_l2.jpg and 6/5_l2.jpg are one image id" in message, message
    # the row naming it says both folders too, and neither copy is also an image without label
    assert f"{csv_path}:19: 5_l2 (no extension) matches 2 images: 5/5_l2.jpg, 6/5_l2.jpg" in message, message
    assert "image without label" not in message, message


def test_deepdrid_roots_one_level_off_name_the_set_folder(tmp_path: Path, aptos: list) -> None:
    """The folder holding the training and validation sets is refused, naming the set to
    pass (they are not merged into one pool); ``--root .../Images`` names the set folder;
    the validation set is a root of its own."""
    images, _, rows = deepdrid_tree(tmp_path, aptos)
    training = images.parent
    validation = tmp_path / "regular-fundus-validation"
    for path in sorted(images.glob("*/*.jpg"))[:8]:
        target = validation / "Images" / path.parent.name / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    write_rows(validation / "regular-fundus-validation.csv", DEEPDRID_HEADER, rows[:8])
    message = run_error(config(tmp_path), tmp_path / "parent")
    assert "reads one set folder at a time" in message and "not merged into one pool" in message, message
    assert f"-> pass --root {training} (the training set) or --root {validation} (the validation set)" \
        in message, message
    message = run_error(config(images), tmp_path / "images")
    assert (f"did you mean --root {training} (a DeepDRiD layout: regular-fundus-training.csv + "
            "Images/)") in message, message
    result = ingest.run(config(validation), tmp_path / "validation", verbose=False)
    assert result.layout == "deepdrid" and result.n_train == 8


def evaluation_images(root: Path, aptos: list, patients: range = range(401, 404)) -> Path:
    """DeepDRiD's ``Online-Challenge1&2-Evaluation/Images/<patient>/<patient>_l1.jpg ...`` (no
    label CSV: its labels ship as .xlsx), from the real APTOS samples; the Images folder."""
    images = root / "Online-Challenge1&2-Evaluation" / "Images"
    for i, patient in enumerate(patients):
        for k, eye in enumerate(("l1", "l2", "r1", "r2")):
            save(images / str(patient) / f"{patient}_{eye}.jpg", aptos[(4 * i + k) % len(aptos)][2],
                 format="JPEG", quality=95)
    return images


def test_numbered_folders_beyond_a_grade_range_are_per_patient_folders_not_grades(
        tmp_path: Path, aptos: list) -> None:
    """A DeepDRiD user: --root .../Online-Challenge1&2-Evaluation/Images (folders 401/, 402/,
    403/, no label CSV) was told to run flatten as if the folders were grades 401..403. Numbers
    beyond a grade range are per-patient folders: said so, with the command that copies the
    images into one folder and, for unlabelled test images, the export that grades the copy."""
    images = evaluation_images(tmp_path, aptos)
    message = run_error(config(images), tmp_path / "out")
    flat = images.with_name("Images_flat")
    assert "flatten" not in message and "NAME403" not in message, message
    assert "the images are in 3 subfolders (401/, 402/ and 403/)" in message, message
    assert "look like per-patient folders" in message, message
    assert "at most 10 numbered folders, none above 10/: 0/ .. 9/ or 1/ .. 10/)" in message, message
    assert "images in per-patient (or other) subfolders are not read" in message, message
    export = f"python -m drac_ssl.export RUN --images {shlex.quote(str(flat))} --out TEAM.csv"
    assert export in message, message
    from data_prep.problems import as_config_keys  # the train command's words

    words = as_config_keys(message)
    assert f"data.root={shlex.quote(str(flat))}" in words and export in words, words
    # folders 0/ .. 4/ are still grades
    for grade in range(5):
        save(tmp_path / "tree" / str(grade) / "a.png", aptos[grade][2])
    assert "python -m data_prep flatten" in run_error(config(tmp_path / "tree"), tmp_path / "out3")


def test_the_evaluation_folder_above_images_says_the_spreadsheet_and_the_patient_folders(
        tmp_path: Path, aptos: list) -> None:
    """A DeepDRiD user: --root .../Online-Challenge1&2-Evaluation (Images/ and the labels as
    .xlsx) got 'no label CSV found here -> put the label CSV here' and the .xlsx called 'not
    an image file in an image folder -> move it out'. The spreadsheet is said to be read only
    once saved as CSV (with which columns), and Images/' per-patient folders get the command
    that copies them into one folder, as --root .../Images gets it."""
    images = evaluation_images(tmp_path, aptos)
    root = images.parent
    sheet = root / "Challenge1_labels.xlsx"
    sheet.write_bytes(b"PK\x03\x04")
    message = run_error(config(root), tmp_path / "out")
    assert f"{root}: no label CSV found here" in message, message
    assert "not an image file" not in message, message
    assert ("Challenge1_labels.xlsx is a spreadsheet, which is not read: if it holds the labels, "
            "save it as CSV") in message, message
    assert "a column of image names and one of grades" in message and "--labels-csv FILE" in message
    assert "Images/ holds no image itself" in message, message
    # the patient folders are Images/'s, named below the root the message is about: '401/' read
    # beside 'Images/' was a folder of the root
    assert ("the images are in 3 subfolders (Images/401/, Images/402/ and Images/403/), not in "
            "this folder") in message, message
    assert "look like per-patient folders" in message, message
    flat = shlex.quote(str(images.with_name("Images_flat")) + "/")
    assert f"-exec sh -c 'cp \"$@\" \"$0\"' {flat} {{}} +)" in message, message
    # a spreadsheet among images is no image file to move out but a label file to save as CSV
    plain = tmp_path / "plain"
    for i in range(3):
        save(plain / f"{i}.png", aptos[i][2])
    (plain / "labels.xls").write_bytes(b"\xd0\xcf")
    message = run_error(config(plain, grades="icdr"), tmp_path / "plain-out")
    assert "labels.xls is a spreadsheet, which is not read" in message, message
    assert "not an image file" not in message, message


def test_a_flat_deepdrid_copy_is_never_offered_the_patients_grade_or_the_path_column(
        tmp_path: Path, aptos: list) -> None:
    """A new-contributor trial (F1): a plain folder of DeepDRiD's images with its CSV, columns
    unnamed, was told 'did you mean image_path' and 'did you mean patient_DR_Level', and
    following both trained on each patient's worse eye with only a note. The image column
    offered is the one of bare names that match the files (image_id), never a column of
    paths; the grade column offered is never a patient-level one, and beside the per-eye
    columns the fix says what they are and the two ways out."""
    images, csv_path, rows = deepdrid_tree(tmp_path, aptos)
    flat = flat_copy(images, tmp_path / "flat")
    labels = tmp_path / "labels.csv"
    write_rows(labels, DEEPDRID_HEADER, rows)
    message = run_error(config(flat, labels_csv=str(labels), grades="icdr"), tmp_path / "out")
    (image_line,) = [line for line in message.splitlines() if "no image-name column" in line]
    assert "did you mean 'image_id'? pass --image-column 'image_id'" in image_line, image_line
    (grade_line,) = [line for line in message.splitlines() if "no grade column" in line]
    assert "patient_DR_Level'?" not in grade_line and "did you mean" not in grade_line, grade_line
    assert ("-> per-eye grades (left_eye_DR_Level/right_eye_DR_Level): pass the DeepDRiD set "
            "folder as --root (the layout reads each eye's grade; drop any --grade-column), or "
            "merge the two columns into one grade column") in grade_line, grade_line
    # without the per-eye columns, a patient-level grade is still never the one offered
    no_eyes = [[r[0], r[1], r[2], r[5]] for r in rows]
    write_rows(labels, ["patient_id", "image_id", "image_path", "patient_DR_Level"], no_eyes)
    message = run_error(config(flat, labels_csv=str(labels), image_column="image_id",
                               grades="icdr"), tmp_path / "no-eyes")
    (grade_line,) = [line for line in message.splitlines() if "no grade column" in line]
    assert "patient_DR_Level'?" not in grade_line, grade_line
    assert "pass --grade-column NAME with the name of the grade column" in grade_line, grade_line
    # a column of paths is still offered when nothing else names the files
    paths_only = [[r[0], r[2], r[5]] for r in rows]
    write_rows(labels, ["patient_id", "image_path", "level"], paths_only)
    message = run_error(config(flat, labels_csv=str(labels), grades="icdr"), tmp_path / "paths")
    assert "did you mean 'image_path'? pass --image-column 'image_path'" in message, message


def test_the_patients_grade_column_read_as_each_images_grade_is_said(tmp_path: Path, aptos: list) -> None:
    """A maintainer review: --grade-column patient_DR_Level on a DeepDRiD set trained on the
    patient's grade (the worse eye) for each image without a word. A note says that column is
    the patient's grade, not the image's eye's, and names the per-eye columns; the per-eye
    default says nothing of the kind."""
    images, _, _ = deepdrid_tree(tmp_path, aptos)
    result = ingest.run(config(images.parent, grade_column="patient_DR_Level"), tmp_path / "out",
                        verbose=False)
    said = [n for n in result.notes if "'patient_DR_Level' is read as each image's grade" in n]
    assert len(said) == 1, result.notes
    assert "the patient's grade (the worse eye), not the image's own eye's" in said[0], said
    assert "'left_eye_DR_Level' / 'right_eye_DR_Level'" in said[0], said
    # --root is the set folder already: the fix is to drop the option, not to pass that root
    assert "drop --grade-column" in said[0] and "pass the set folder as --root" not in said[0], said
    assert any("patient_DR_Level" in n for n in summary(result)["notes"]), summary(result).keys()
    default = ingest.run(config(images.parent), tmp_path / "default", verbose=False)
    assert not any("is read as each image's grade" in n for n in default.notes), default.notes


def test_a_layout_below_the_only_subfolders_of_the_root_is_named(tmp_path: Path, aptos: list) -> None:
    """A DeepDRiD user: the unzip adds folders on top (data/DeepDRiD/regular_fundus_images/
    regular-fundus-training/): --root data got no hint and the note 'move its images up one
    level' for DeepDRiD/, which holds no image; --root data/DeepDRiD was offered the folder of
    sets, which is refused in turn. The set folder is named, as deep as a chain of only
    subfolders leads (and never beside other folders), and a subfolder without an image of
    its own is not told to move its images up."""
    top = tmp_path / "data"
    sets = top / "DeepDRiD" / "regular_fundus_images"
    deepdrid_tree(sets, aptos)
    training = sets / "regular-fundus-training"
    for root in (top, top / "DeepDRiD"):
        message = run_error(config(root), tmp_path / f"out-{root.name}")
        assert (f"did you mean --root {training} (a DeepDRiD layout: regular-fundus-training.csv + "
                "Images/)") in message, (root, message)
        assert "move its images up" not in message, message
    (top / "other").mkdir()  # two folders: no single chain to follow
    message = run_error(config(top), tmp_path / "out-two")
    assert "did you mean" not in message, message
    assert "move its images up" not in message, message


def test_hidden_file_notes_are_one_line_like_other_findings_of_many_files(tmp_path: Path, aptos: list) -> None:
    """A DeepDRiD user: a .DS_Store and a Thumbs.db in each patient folder printed a note line
    each (14 here; hundreds on the real set), where other notes of one kind are cut at 10 or
    merged into one line naming a few files and counting the rest."""
    images, _, _ = deepdrid_tree(tmp_path, aptos)
    for folder in images.iterdir():
        (folder / ".DS_Store").write_bytes(b"\0")
        (folder / "Thumbs.db").write_bytes(b"\0")
    result = ingest.run(config(images.parent), tmp_path / "out", verbose=False)
    from data_prep.problems import format_problems

    printed = format_problems(result.findings)  # what the ingest prints
    hidden = [line for line in printed.splitlines() if "hidden/system file" in line]
    assert len(hidden) == 1 and "14 files (" in hidden[0] and "and 11 more" in hidden[0], printed
    # files of several folders are named by their paths below the folder they share, there
    assert hidden[0].strip().startswith(f"{images}: 14 files (1/.DS_Store, 1/Thumbs.db, 2/.DS_Store "
                                        "and 11 more): hidden/system file ignored"), hidden[0]
    assert sum("hidden/system file" in n for n in summary(result)["notes"]) == 14  # all kept


def test_a_name_with_another_image_extension_matches_the_one_file_of_its_stem(
        tmp_path: Path, drac_samples: list[np.ndarray]) -> None:
    """A CSV naming IDRiD_001.jpeg for the file IDRiD_001.jpg (a trial: said twice, as a row
    without image and an image without row) is matched by stem, with one note; two files of
    that stem keep it an error, as a name without extension does."""
    root = tmp_path / "plain"
    for i in range(9):
        save(root / f"{i:03d}.png", np.roll(drac_samples[i % 3], i, axis=0)[::8, ::8])
    rows = [[f"{i:03d}.{'jpeg' if i < 2 else 'png'}", i % 3] for i in range(9)]
    write_rows(root / "labels.csv", ["image name", "DR grade"], rows)
    result = ingest.run(config(root), tmp_path / "out", verbose=False)
    assert sorted(r["id"] for r in manifest(result))[:2] == ["000.png", "001.png"]  # the files' own names
    (said,) = [n for n in result.notes if "another image extension" in n]
    assert "2 names with another image extension than the file's" in said and "000.jpeg -> 000.png" in said
    assert not any("without image" in w or "without label" in w for w in result.warnings + result.notes)
    save(root / "000.bmp", drac_samples[0][::8, ::8])  # a second file of that stem: ambiguous
    message = run_error(config(root), tmp_path / "ambiguous")
    assert "000.jpeg (no file of that extension; by its stem) matches 2 images" in message



MESSIDOR2_HEADER = ["image_id", "adjudicated_dr_grade", "adjudicated_dme", "adjudicated_gradable"]


def messidor2_folder(root: Path, aptos: list) -> tuple[Path, list[list[object]]]:
    """``messidor-2/``: ``messidor_data.csv`` (its four columns) beside ``IMAGES/`` holding
    ``*.png`` and ``*.JPG`` (upper-case extension), from the 25 real APTOS training samples.
    Rows 3 and 12 are marked ungradable with an empty grade, row 20 (grade 2 or so, kept in
    its grade cell) by ``adjudicated_gradable`` 0 alone."""
    train, _ = split(aptos)
    rows: list[list[object]] = []
    for i, (_, grade, rgb) in enumerate(train):
        if i < 12:
            name = f"20051020_{43800 + i:05d}_0100_PP.png"
            save(root / "IMAGES" / name, rgb)
        else:
            name = f"IM{i:06d}.JPG"
            save(root / "IMAGES" / name, rgb, format="JPEG", quality=95)
        if i in (3, 12):
            rows.append([name, "", "", 0])
        else:
            rows.append([name, grade, 0, 0 if i == 20 else 1])
    write_rows(root / "messidor_data.csv", MESSIDOR2_HEADER, rows, newline="\n")
    return root, rows


def test_messidor2_layout(tmp_path: Path, aptos: list) -> None:
    """``--root messidor-2`` (``messidor_data.csv`` + ``IMAGES/``) is found by itself: ICDR
    grades, colour kept, the ``.JPG`` files matched, no test split; a note says the two eyes
    of an examination should share a fold and how (none with --patient-column). Its
    ungradable rows, an empty grade or ``adjudicated_gradable`` 0 beside a grade, stop it by
    default and are left out with ``ungradable=leave_out``: a graded row marked ungradable is
    never trained on. ``--root .../IMAGES`` names the folder above."""
    root, rows = messidor2_folder(tmp_path / "messidor-2", aptos)
    assert layout.detect_kind(root) == "messidor2"
    csv_path = root / "messidor_data.csv"

    message = run_error(config(root), tmp_path / "refused")
    assert (f"{csv_path}: 3 rows are marked ungradable (adjudicated_gradable 0), e.g. line 5 "
            f"({rows[3][0]}) and line 14 ({rows[12][0]}); 1 of them has a grade beside the mark"
            ) in message, message
    assert "--ungradable leave_out" in message and "set its adjudicated_gradable to 1" in message
    assert "has no grade" not in message, message  # the mark says it, once

    result = ingest.run(config(root, n_folds=2, ungradable="leave_out"), tmp_path / "out",
                        verbose=False)
    assert result.layout == "messidor2" and (result.n_train, result.n_test) == (22, 0)
    assert result.grade_names == tuple(ICDR) and result.channels == 3
    by_id = {r["id"]: r for r in manifest(result)}
    assert by_id["IM000013.JPG"]["path"] == "IMAGES/IM000013.JPG"
    for name, grade, _, gradable in rows:
        assert (name in by_id) == bool(gradable), name
        if gradable:
            assert int(by_id[name]["grade"]) == grade, name
    info = summary(result)
    assert info["label_columns"] == {"image": "image_id", "grade": "adjudicated_dr_grade"}
    assert [(r["line"], r["grade_cell"], r.get("marked_by")) for r in info["left_out_ungradable"]] == [
        (5, "", "adjudicated_gradable 0"), (14, "", "adjudicated_gradable 0"),
        (22, str(rows[20][1]), "adjudicated_gradable 0")], info["left_out_ungradable"]
    assert any("3 rows marked ungradable (an empty or NA grade cell, or adjudicated_gradable 0)"
               in n for n in result.notes), result.notes
    assert info["patients"]["grouped"] is False and info["modality"]["value"] == "fundus"
    assert any("no test split" in n for n in result.notes), result.notes
    (pairs,) = [n for n in result.notes if "both eyes at each examination" in n]
    assert "add a column naming each image's examination (say 'exam_id') and pass it with " \
           "--patient-column NAME" in pairs, pairs
    from data_prep.problems import as_config_keys

    assert "pass it with data.patient_column=NAME" in as_config_keys(pairs), as_config_keys(pairs)

    # a column naming each image's examination, passed: the pair shares a fold, no note
    write_rows(csv_path, [*MESSIDOR2_HEADER, "exam_id"],
               [[*row, f"exam{k // 2}"] for k, row in enumerate(rows)], newline="\n")
    unpassed = ingest.run(config(root, n_folds=2, ungradable="leave_out"), tmp_path / "unpassed",
                          verbose=False)  # the column is there but not passed: the hint names it
    assert any("column 'exam_id' looks like an examination or visit id (of one patient) but "
               "--patient-column is not set" in w for w in unpassed.warnings), unpassed.warnings
    paired = ingest.run(config(root, n_folds=2, ungradable="leave_out", patient_column="exam_id"),
                        tmp_path / "paired", verbose=False)
    assert not any("both eyes at each examination" in n for n in paired.notes), paired.notes
    folds: dict[str, set[str]] = {}
    for r in manifest(paired):
        folds.setdefault(r["patient"], set()).add(r["fold"])
    assert len(folds) == 13 and all(len(f) == 1 for f in folds.values()), folds
    write_rows(csv_path, MESSIDOR2_HEADER, rows, newline="\n")

    # the images folder as root names the Messidor-2 folder above it
    message = run_error(config(root / "IMAGES"), tmp_path / "inside")
    assert f"did you mean --root {root} (a Messidor-2 layout: messidor_data.csv + IMAGES/)?" in message, message

    # a plain folder of the images with the CSV passed: read with Messidor-2's columns, a note
    plain = ingest.run(config(root / "IMAGES", labels_csv=str(csv_path), n_folds=2,
                              ungradable="leave_out"), tmp_path / "plain", verbose=False)
    assert plain.layout == "plain" and plain.n_train == 22 and plain.grade_names == tuple(ICDR)
    assert any("Messidor-2 layout's 'image_id' / 'adjudicated_dr_grade'" in n for n in plain.notes)
    assert any("both eyes at each examination" in n for n in plain.notes), plain.notes


def test_a_gradable_column_marks_rows_ungradable_whatever_layout_reads_the_csv(
        tmp_path: Path, aptos: list) -> None:
    """A plain folder whose columns are named by hand (--image-column image_id --grade-column
    adjudicated_dr_grade, as the README once told Messidor-2 users) is cross-checked against
    ``adjudicated_gradable`` too: its one graded row marked 0 is an error at its line, left
    out with leave_out; a mark other than 0 or 1 is an error."""
    root, rows = messidor2_folder(tmp_path / "messidor-2", aptos)
    images, csv_path = root / "IMAGES", root / "messidor_data.csv"
    cfg = config(images, labels_csv=str(csv_path), image_column="image_id",
                 grade_column="adjudicated_dr_grade", grades="icdr", ungradable="leave_out")
    result = ingest.run(cfg, tmp_path / "out", verbose=False)
    assert result.n_train == 22 and rows[20][0] not in {r["id"] for r in manifest(result)}
    rows[3][3] = rows[12][3] = 1  # two empty grades left, said as such
    rows[5][3] = "yes"
    write_rows(csv_path, MESSIDOR2_HEADER, rows, newline="\n")
    message = run_error(dataclasses_replace(cfg, ungradable="error"), tmp_path / "refused")
    assert (f"{csv_path}:22: {rows[20][0]} is marked ungradable (adjudicated_gradable 0), although "
            f"its grade cell holds '{rows[20][1]}'") in message, message
    assert f"{csv_path}:5: {rows[3][0]} has no grade (an empty cell" in message, message
    assert (f"{csv_path}:7: adjudicated_gradable 'yes' of {rows[5][0]} is neither 1 (gradable) "
            "nor 0 (ungradable)") in message, message
