"""Which label-CSV column is read for which role (image name, grade, patient), when the
user's CSV names them otherwise.

A fresh-user review: a CSV ``Photo file;ICDR grade;Patient ID`` was told to pass
``--image-column 'ICDR grade'`` *and* ``--grade-column 'ICDR grade'`` (the closest name for
both), and following that gave 57 misleading per-row errors ('0 is listed 5 times', 'label
without image: 0'). A suggestion now weighs what the cells hold as well as the name, never
offers one column for two roles, and the two ways into the flood (one column given for two
roles, an image column of numbers) are each said once."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_ingest import config, expect_error, make_plain, write_csv

from data_prep import validate
from drac_ssl.scoring import ScoreError, read_grade_labels

HEADER = ["Photo file", "ICDR grade", "Patient ID"]
NAMES = [f"patient{i:02d}_{eye}.png" for i in range(3) for eye in ("OD", "OS")]
GRADES = [0, 0, 1, 1, 2, 2]


def user_folder(root: Path, header: list[str] = HEADER, patients: list[object] | None = None) -> Path:
    """The reviewer's folder in small: six images and ``grades.csv`` with the user's column
    names (file name, grade, patient)."""
    make_plain(root, dict(zip(NAMES, GRADES, strict=True)))
    (root / "labels.csv").unlink()
    patients = patients or [f"P{i // 2:02d}" for i in range(len(NAMES))]
    write_csv(root / "grades.csv", header,
              [[n, g, p] for n, g, p in zip(NAMES, GRADES, patients, strict=True)])
    return root


def test_two_missing_columns_are_each_offered_the_column_whose_cells_fit(tmp_path: Path) -> None:
    root = user_folder(tmp_path / "d")
    message = expect_error(config(root, labels_csv=str(root / "grades.csv")), tmp_path / "out",
                           "no image-name column 'image name'", "no grade column 'DR grade'")
    assert "did you mean 'Photo file'? pass --image-column 'Photo file'" in message, message
    assert "did you mean 'ICDR grade'? pass --grade-column 'ICDR grade'" in message, message
    assert "--image-column 'ICDR grade'" not in message, message


def test_names_without_extension_are_offered_when_they_name_the_folders_files(tmp_path: Path) -> None:
    """Ids without extension (APTOS writes them so) have no image suffix: the column is
    known by its cells naming files of the folder, even ids that are all digits."""
    root = make_plain(tmp_path / "d", {"101.png": 0, "102.png": 1, "103.png": 2, "104.png": 1})
    write_csv(root / "labels.csv", ["Photo", "Level"], [[101, 0], [102, 1], [103, 2], [104, 1]])
    message = expect_error(config(root), tmp_path / "out")
    assert "pass --image-column 'Photo'" in message, message
    assert "pass --grade-column 'Level'" in message, message


def test_one_suggestion_per_column_even_by_name_alone(tmp_path: Path) -> None:
    """Without cells to tell them apart (no row), the name decides, and a column offered for
    one role is not offered for the next."""
    csv_path = write_csv(tmp_path / "g.csv", ["image grade", "x"], [])
    table, problems = validate.read_labels(csv_path, "image name", "DR grade")
    assert table is None
    fixes = [p.fix for p in problems if p.severity == "error"]
    assert fixes[0] == "did you mean 'image grade'? pass --image-column 'image grade'", fixes
    assert "'image grade'" not in fixes[1], fixes


def test_one_column_given_for_two_roles_is_one_error(tmp_path: Path) -> None:
    root = user_folder(tmp_path / "d")
    message = expect_error(config(root, labels_csv=str(root / "grades.csv"), image_column="ICDR grade",
                                  grade_column="ICDR grade"), tmp_path / "out",
                           "'ICDR grade' is given as both the image-name and the grade column")
    assert "pass --image-column 'Photo file'" in message, message
    assert "listed" not in message and "label without image" not in message, message
    assert "errors (fatal): 1\n" in message, message


def test_an_image_column_of_numbers_is_said_once(tmp_path: Path) -> None:
    """The patient ids are numbers: given as the image column, no row names an image."""
    root = user_folder(tmp_path / "d", ["file", "grade", "subject"], [i // 2 for i in range(len(NAMES))])
    message = expect_error(config(root, labels_csv=str(root / "grades.csv"), image_column="subject",
                                  grade_column="grade"), tmp_path / "out",
                           "the image column 'subject' holds numbers, not file names",
                           "pass --image-column 'file'")
    assert "listed" not in message and "label without image" not in message, message
    assert "without label" not in message, message
    # the two columns swapped: said so
    message = expect_error(config(root, labels_csv=str(root / "grades.csv"), image_column="grade",
                                  grade_column="file"), tmp_path / "out2",
                           "the image column 'grade' holds numbers, not file names",
                           "the two columns look swapped: pass --image-column 'file' --grade-column 'grade'")
    assert "errors (fatal): 1\n" in message, message


def test_names_that_are_numbers_of_numbered_images_are_not_called_numbers(tmp_path: Path) -> None:
    """Names that are numbers matching the folder's files are fine (``1`` for ``001.png``); in a
    folder of numbered images, numbers naming none of them are another set's rows, said per row."""
    root = make_plain(tmp_path / "d", {"001.png": 0, "002.png": 1})
    images = sorted(root.glob("*.png"))
    write_csv(root / "labels.csv", ["image name", "DR grade"], [[1, 0], [2, 1]])
    table, problems = validate.read_labels(root / "labels.csv", "image name", "DR grade", images=images)
    assert table is not None and not problems, problems
    write_csv(root / "labels.csv", ["image name", "DR grade"], [[7, 0], [8, 1]])
    table, problems = validate.read_labels(root / "labels.csv", "image name", "DR grade", images=images)
    assert table is not None and not problems, problems


def test_the_scorer_offers_each_missing_column_its_own(tmp_path: Path) -> None:
    """``export --score`` reads label CSVs with the same suggestion."""
    root = user_folder(tmp_path / "d")
    with pytest.raises(ScoreError) as caught:
        read_grade_labels(root / "grades.csv", ["0", "1", "2", "3", "4"], image_column="image name",
                          grade_column="DR grade")
    message = str(caught.value)
    assert "pass --image-column 'Photo file'" in message, message
    assert "pass --grade-column 'ICDR grade'" in message, message
    with pytest.raises(ScoreError) as caught:  # no column given: the known layouts' names
        read_grade_labels(root / "grades.csv", ["0", "1", "2", "3", "4"])
    message = str(caught.value)
    assert "no image-name column of a known layout" in message, message
    assert "pass --image-column 'Photo file'" in message, message
    assert "pass --grade-column 'ICDR grade'" in message, message


def _fixes(path: Path, image: str, grade: str, images: list[Path] | None = None) -> list[str]:
    _, problems = validate.read_labels(path, image, grade, images=images)
    return [p.fix for p in problems]


def test_numbered_images_and_numeric_ids_get_the_right_column_for_each_role(tmp_path: Path) -> None:
    """A review of the first version: (1) in a folder of ``1.png .. 30.png`` a grade column of
    0-4 also 'named files' (``3`` -> ``3.png``), so it was never offered for the grade, not even
    by its name; (2) a column of zero-padded ids ``001 .. 005`` was offered as the grade column
    (its cells are integers too); (3) a column of ids given for both roles was blamed on the
    image role, with no column to offer, where the grade column was plainly there. Grades are
    small unpadded integers (0-9); ids are neither."""
    numbered = tmp_path / "n.csv"
    numbered.write_text("image,grade\n" + "".join(f"{i}.png,{i % 5}\n" for i in range(1, 31)))
    fixes = _fixes(numbered, "image name", "DR grade", [Path(f"{i}.png") for i in range(1, 31)])
    assert "did you mean 'image'? pass --image-column 'image'" in fixes, fixes
    assert "did you mean 'grade'? pass --grade-column 'grade'" in fixes, fixes
    padded = tmp_path / "p.csv"
    padded.write_text("id,lvl\n" + "".join(f"{i:03d},{i % 3}\n" for i in range(1, 6)))
    fixes = _fixes(padded, "image name", "DR grade")
    assert not any("--grade-column 'id'" in f for f in fixes), fixes
    assert any("--grade-column 'lvl'" in f for f in fixes), fixes
    ids = tmp_path / "s.csv"
    ids.write_text("Photo,Level\n101,0\n102,1\n103,2\n104,1\n")
    with pytest.raises(ScoreError) as info:
        read_grade_labels(ids, ["0", "1", "2", "3", "4"], image_column="Photo", grade_column="Photo")
    assert "'Photo' is given as both" in str(info.value) and "--grade-column 'Level'" in str(info.value), info.value
    numbers = tmp_path / "e.csv"
    numbers.write_text("id,g\n" + "".join(f"{i},{i % 5}\n" for i in range(1, 50)))
    for images in (None, [Path(f"{i}.png") for i in range(1, 50)]):
        fixes = _fixes(numbers, "id", "id", images)
        assert any("--grade-column 'g'" in f for f in fixes), (images is None, fixes)
