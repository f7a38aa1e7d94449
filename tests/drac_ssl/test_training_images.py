"""The bundle's list of its training images' hashes, the notes file beside an export and the
one rule of "not reliably gradable" the app's batch and the export share (no model needed)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from drac_ssl.grading.image_notes import flagged_reasons, unreliable_reasons
from drac_ssl.grading.training_images import (
    HASH_HEX,
    TRAINING_IMAGES_KEY,
    file_prefix,
    training_hashes,
    training_images_line,
    training_images_record,
)
from drac_ssl.submission import (
    IMAGE_NOTES_COLUMNS,
    IMAGE_NOTES_COLUMNS_BEFORE_GRADE_NAME,
    IMAGE_NOTES_COLUMNS_BEFORE_SCORE,
    image_notes_path,
    read_image_notes,
    read_pretraining_notes,
    write_image_notes,
)


def test_the_record_is_compact_and_reads_back_and_an_old_bundle_has_none(tmp_path: Path) -> None:
    files = [tmp_path / f"{i}.png" for i in range(3)]
    for i, f in enumerate(files):
        f.write_bytes(bytes([i]) * 100)
    digests = [hashlib.sha256(f.read_bytes()).hexdigest() for f in files]
    record = training_images_record([*digests, digests[0], ""])  # a repeat and an image without a file
    assert record["images"] == 3 and len(record["sha256_prefixes"]) == 3 * HASH_HEX + 2
    hashes = training_hashes({TRAINING_IMAGES_KEY: record})
    assert hashes == {d[:HASH_HEX] for d in digests}
    assert file_prefix(files[1]) in hashes
    (tmp_path / "other.png").write_bytes(b"x" * 100)
    assert file_prefix(tmp_path / "other.png") not in hashes
    assert training_hashes({}) is None  # a bundle built before the list: nothing said
    assert training_hashes({TRAINING_IMAGES_KEY: {**record, "sha256_prefix_hex": 8}}) is None


def test_the_training_images_line_counts_them() -> None:
    assert training_images_line(0, 5) == ""
    assert training_images_line(3, 5) == ("3 of 5 images were used to train this model (same SHA-256): "
                                          "scores on them are not a test; exact copies (same decoded pixels) "
                                          "only; re-encoded or resized copies are not detected")


def test_the_export_words_and_the_app_sentences_give_the_same_reasons() -> None:
    grey = ("Grey image: replicated to 3 identical channels for this colour model, as the ingest does "
            "for grey files of a colour data set.")
    # the export: its OOD flag and its words (the NAME: prefix removed), some not capitalised
    assert flagged_reasons(True, [grey, "preprocessing as in training: squeezed"]) == [
        "unlike the training images", "a grey picture for a colour model"]
    # the app: the warning sentence of the OOD check and the page's sentences
    assert flagged_reasons("Unlike the training images (distance 300).", [grey]) == unreliable_reasons(
        ["Unlike the training images (distance 300).", grey])
    assert flagged_reasons(False, ["Note: 16-bit image converted", "Not square: squeezed."]) == []
    assert flagged_reasons("", []) == []


def test_the_notes_file_sits_beside_the_csv_and_reads_back(tmp_path: Path) -> None:
    out = tmp_path / "new_grades.csv"
    notes = image_notes_path(out)
    assert notes.name == "new_grades_notes.csv"
    write_image_notes(notes, ["a.png", "b.png"], [2, 0], [["unlike the training images"], []], [False, True])
    lines = notes.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0] == ",".join(IMAGE_NOTES_COLUMNS)
    # no pretraining marks given: "unknown", never an empty cell that would read as "not read"
    assert lines[1:] == ["a.png,2,unlike the training images,,,,unknown,,,", "b.png,0,,yes (same SHA-256),,,unknown,,,"]
    assert read_image_notes(notes) == {"a.png": ("unlike the training images", False), "b.png": ("", True)}
    assert read_pretraining_notes(notes) == {c: {"splits": None, "bundle": "", "outside": ""}
                                             for c in ("a.png", "b.png")}
    write_image_notes(notes, ["a.png", "b.png"], [2, 0], [[], []], [False, False],
                      pretrained=[["test"], ["test", "unlabelled"]])
    assert [line.split(",")[-4] for line in notes.read_text(encoding="utf-8-sig").splitlines()[1:]] == [
        "yes (same SHA-256 as a test image)", "yes (same SHA-256 as a test image and a data.unlabelled image)"]
    assert {c: e["splits"] for c, e in (read_pretraining_notes(notes) or {}).items()} == {
        "a.png": ["test"], "b.png": ["test", "unlabelled"]}
    # why a class is not the most likely grade (decision_words), per case; quoted where it must be
    write_image_notes(notes, ["a.png", "b.png"], [2, 0], [[], []], [False, False], ["", "P 0.54, not 0"],
                      pretrained=[[], []])
    assert notes.read_text(encoding="utf-8-sig").splitlines()[1:] == ["a.png,2,,,,,,,,", 'b.png,0,,,"P 0.54, not 0",,,,,']
    assert read_image_notes(tmp_path / "none.csv") is None
    (tmp_path / "other.csv").write_text("case,class,P0\n")
    assert read_image_notes(tmp_path / "other.csv") is None
    with pytest.raises(ValueError, match="one of each per case"):
        write_image_notes(notes, ["a.png"], [1, 2], [[]], [False])


OCTA_NAMES = ("none", "non-proliferative", "proliferative")
"""A trial user's own grade names (an OCTA researcher)."""


def test_the_notes_file_names_each_grade_in_the_bundles_words(tmp_path: Path) -> None:
    """A trial: the user's grade names were only in the free text of grade_note. The notes file
    ends with grade_name, each row's class in the names given; its readers read it, and a notes
    file of the version before it (seven columns) still reads the same."""
    import csv

    notes = image_notes_path(tmp_path / "grades.csv")
    write_image_notes(notes, ["a.png", "b.png", "c.png"], [2, 0, 1], [["unlike the training images"], [], []],
                      [False, True, False], pretrained=[[], ["test"], []], grade_names=OCTA_NAMES)
    rows = list(csv.DictReader(notes.open(newline="", encoding="utf-8-sig")))
    assert tuple(rows[0]) == IMAGE_NOTES_COLUMNS and IMAGE_NOTES_COLUMNS[-3:-1] == ("grade_name", "score")
    assert [(r["class"], r["grade_name"]) for r in rows] == [
        ("2", "proliferative"), ("0", "none"), ("1", "non-proliferative")]
    read = read_image_notes(notes)
    assert read == {"a.png": ("unlike the training images", False), "b.png": ("", True), "c.png": ("", False)}
    marks = read_pretraining_notes(notes)
    assert marks is not None and {c: e["splits"] for c, e in marks.items()} == {
        "a.png": [], "b.png": ["test"], "c.png": []}
    # the version before grade_name: the same file without its last column reads the same
    old = tmp_path / "old_notes.csv"
    old.write_text("".join(",".join(line.split(",")[:7]) + "\n" for line in notes.read_text(encoding="utf-8-sig").splitlines()))
    assert old.read_text().splitlines()[0] == ",".join(IMAGE_NOTES_COLUMNS_BEFORE_GRADE_NAME)
    assert read_image_notes(old) == read and read_pretraining_notes(old) == marks
    # no names given: the column is there, empty
    write_image_notes(notes, ["a.png"], [1], [[]], [True])
    assert [r["grade_name"] for r in csv.DictReader(notes.open(newline="", encoding="utf-8-sig"))] == [""]
    # the score the thresholds cut, 6 decimals; the version before it still reads the same
    write_image_notes(notes, ["a.png", "b.png"], [2, 0], [[], []], [False, True], scores=[1.8, 0.1234567])
    assert [r["score"] for r in csv.DictReader(notes.open(newline="", encoding="utf-8-sig"))] == ["1.800000", "0.123457"]
    old.write_text("".join(",".join(line.split(",")[:8]) + "\n" for line in notes.read_text(encoding="utf-8-sig").splitlines()))
    assert old.read_text().splitlines()[0] == ",".join(IMAGE_NOTES_COLUMNS_BEFORE_SCORE)
    assert read_image_notes(old) == read_image_notes(notes) and read_pretraining_notes(old) == read_pretraining_notes(notes)
    with pytest.raises(ValueError, match=r"class 3 has no name among the 3 grade names \(none, "):
        write_image_notes(notes, ["a.png"], [3], [[]], [False], grade_names=OCTA_NAMES)


def test_a_grade_name_a_spreadsheet_would_read_as_a_formula_is_neutralised(tmp_path: Path) -> None:
    """A review (F3): grade names are the user's config, and the grade_name cell was written raw;
    a name starting with = + - @ (or a tab) is a formula to a spreadsheet (CSV injection). It gets
    a ' before it, as the other free-text cells do, its control characters escaped, and the
    readers, which do not parse the column, read the file the same."""
    import csv

    from drac_ssl.submission import FORMULA_CELL_STARTS, grade_name_cell

    names = ["=HYPERLINK(\"http://x\")", "+1 mild", "-2 worse", "@grade", "\tlate", "fine\rbroken"]
    notes = image_notes_path(tmp_path / "grades.csv")
    write_image_notes(notes, [f"{k}.png" for k in range(6)], list(range(6)), [[] for _ in range(6)],
                      [False] * 6, grade_names=names)
    rows = list(csv.DictReader(notes.open(newline="", encoding="utf-8-sig")))
    assert len(rows) == 6  # the carriage return cut no row in two
    cells = [r["grade_name"] for r in rows]
    assert cells == ["'=HYPERLINK(\"http://x\")", "'+1 mild", "'-2 worse", "'@grade", "\\tlate",  # escaped: no tab left to start it
                     "fine\\rbroken"], cells
    assert not any(cell[:1] in FORMULA_CELL_STARTS for cell in cells)
    assert grade_name_cell("proliferative") == "proliferative"  # a plain name is written as it is
    assert read_image_notes(notes) == {f"{k}.png": ("", False) for k in range(6)}


def test_a_pretraining_record_with_pixel_lists_finds_a_copy_in_another_file() -> None:
    """Review F3: the pretraining record held file hashes only, so a PNG of a test row of an
    .npz (read by the pretraining) was not marked. With the manifest's decoded-pixel hashes, the
    record lists them per split and splits_of finds an image by either hash."""
    from drac_ssl.grading.training_images import (
        pretraining_images_record,
        record_pixel_splits,
        splits_of,
    )

    files = {"test": ["aa" * 32], "unlabelled": ["bb" * 32]}
    pixels = {"test": ["cc" * 32], "unlabelled": ["dd" * 32, "cc" * 32]}
    record = pretraining_images_record(files, stages="VICReg", test_read=True, pixel_digests=pixels)
    by_pixels = record_pixel_splits(record)
    assert by_pixels == {"test": {"c" * 16}, "unlabelled": {"d" * 16, "c" * 16}}
    splits = {"test": {"a" * 16}, "unlabelled": {"b" * 16}}
    assert splits_of(None, splits, "c" * 16, by_pixels) == ["test", "unlabelled"]
    assert splits_of("b" * 16, splits, "d" * 16, by_pixels) == ["unlabelled"]
    assert splits_of("e" * 16, splits, "e" * 16, by_pixels) == []
    old = pretraining_images_record(files, stages="VICReg", test_read=True)  # a manifest before the column
    assert record_pixel_splits(old) is None and record_pixel_splits({}) is None
    assert "pixels" not in old["what"] and "decoded pixels" in record["what"]


def test_a_match_by_decoded_pixels_alone_is_said_so() -> None:
    """Review F6: a PNG of an .npz row matched by its decoded pixels was marked "yes (same
    SHA-256)", which its file does not share. The cell and the lines say "same decoded pixels"
    for such a match, and name both ways when some matched each way."""
    from drac_ssl.grading.training_images import BY_PIXELS, pretraining_images_line, training_match
    from drac_ssl.submission import pretraining_image_cell, training_image_cell

    files, pixels = {"a" * 16}, {"b" * 16}
    assert training_match(files, pixels, "a" * 16, "b" * 16) is True  # the file's hash: said first
    assert training_match(files, pixels, "c" * 16, "b" * 16) == BY_PIXELS
    assert training_match(files, pixels, "c" * 16, "d" * 16) is False
    assert training_match(None, None, "a" * 16, "b" * 16) is None
    assert training_image_cell(True) == "yes (same SHA-256)"
    assert training_image_cell(BY_PIXELS) == "yes (same decoded pixels)"
    assert pretraining_image_cell(["test"], by_pixels=True) == "yes (same decoded pixels as a test image)"
    assert pretraining_image_cell(["test"]) == "yes (same SHA-256 as a test image)"
    assert "(same SHA-256)" in training_images_line(3, 5)
    assert "(same decoded pixels)" in training_images_line(3, 5, 3)
    assert "(same SHA-256 or, for 1 of them, same decoded pixels)" in training_images_line(3, 5, 1)
    assert "without their grades (same decoded pixels)" in pretraining_images_line(2, 5, "VICReg", by_pixels=2)


def test_the_notes_file_keeps_how_each_image_matched(tmp_path: Path) -> None:
    from drac_ssl.grading.training_images import BY_PIXELS
    from drac_ssl.submission import PRETRAINING_IMAGE_COLUMN, read_pixel_marks

    path = tmp_path / "n.csv"
    write_image_notes(path, ["a.png", "b.png", "c.png"], [0, 1, 2], [[], [], []], [True, BY_PIXELS, False],
                      pretrained=[["test"], ["test"], []], pretrained_by_pixels=[False, True, False])
    notes = read_image_notes(path)
    assert notes is not None and [notes[c][1] for c in ("a.png", "b.png", "c.png")] == [True, True, False]
    assert read_pixel_marks(path) == {"b.png"} == read_pixel_marks(path, PRETRAINING_IMAGE_COLUMN)
    read = read_pretraining_notes(path)
    assert read is not None and read["b.png"]["splits"] == read["a.png"]["splits"] == ["test"]
