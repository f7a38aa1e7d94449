"""An outside tester with awkward file locations (paths80): image names that a label row matches
in more than one way.

A (spec): "A CSV name without an extension matches the one image with that stem (a note), an
ambiguous one is an error." A row ``Img_1.png`` beside ``IMG_1.png`` and ``img_1.png`` (two files
on Linux) matched IMG_1.png "only by ignoring letter case -> nothing to do": the row spells
neither file, so which image it grades is a guess; it is the ambiguous-name error now.
D (F3): two different photographs whose names differ only in case or Unicode form were told
"keep one file per image id": following it deletes a labelled image.
"""

from __future__ import annotations

import csv
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from data_prep import ingest, layout, validate
from drac_ssl.config import DataConfig


def _folder(root: Path, files: dict[str, int], rows: list[list[object]]) -> Path:
    root.mkdir(parents=True)
    for name in files:
        pixels = np.random.default_rng(files[name]).integers(0, 255, (32, 32, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / name)
    with open(root / "labels.csv", "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([["image name", "DR grade"], *rows])
    return root / "labels.csv"


def _error(root: Path, out: Path) -> str:
    cfg = DataConfig(root=str(root), cache_sizes=[32], n_folds=2, workers=1)
    with pytest.raises(validate.IngestError) as caught:
        ingest.run(cfg, out, verbose=False)
    return str(caught.value)


def test_a_row_spelling_neither_of_two_case_variants_is_ambiguous(tmp_path: Path) -> None:
    csv_path = _folder(tmp_path / "d", {"IMG_1.png": 1, "img_1.png": 2, "a.png": 3, "b.png": 4},
                       [["Img_1.png", 1], ["a.png", 0], ["b.png", 1]])
    message = _error(tmp_path / "d", tmp_path / "out")
    assert (f"{csv_path}:2: Img_1.png (spelled as neither file) matches 2 images that differ only "
            "in letter case or Unicode form (their contents differ): IMG_1.png, img_1.png -> write the "
            "file name in the CSV exactly as the one file spells it, and rename one of them, and its "
            "label row, so that the names differ by more than case or Unicode form; delete neither") \
        in message, message  # reviewer F5: not "rename or remove the other file"
    assert "image files were not decoded yet (only the bytes" in message, message
    assert "not opened yet" not in message, message
    assert "only by ignoring letter case" not in message, message
    assert "image without label" not in message, message


def test_a_stem_matching_two_extensions_is_an_error_naming_both_and_the_fix(tmp_path: Path) -> None:
    csv_path = _folder(tmp_path / "d", {"eye_001.png": 1, "eye_001.jpg": 2, "a.png": 3, "b.png": 4},
                       [["eye_001", 1], ["a.png", 0], ["b.png", 1]])
    message = _error(tmp_path / "d", tmp_path / "out")
    assert (f"{csv_path}:2: eye_001 (no extension) matches 2 images: eye_001.jpg, eye_001.png -> "
            "write the full file name with its extension in the CSV, or remove one of the files") in message
    assert "image without label" not in message, message


@pytest.mark.parametrize("names", [("IMG_1.png", "img_1.png"),
                                   (unicodedata.normalize("NFC", "é1.png"), unicodedata.normalize("NFD", "é1.png"))])
def test_two_different_photographs_under_names_differing_only_in_case_or_form_are_not_told_to_delete_one(
        tmp_path: Path, names: tuple[str, str]) -> None:
    first, second = names
    csv_path = _folder(tmp_path / "d", {first: 1, second: 2, "a.png": 3, "b.png": 4},
                       [[first, 1], [second, 2], ["a.png", 0], ["b.png", 1]])
    message = _error(tmp_path / "d", tmp_path / "out")
    assert any(f"{tmp_path / 'd' / name}: duplicate name of two different images (their contents differ): "
               in message for name in names), message
    assert f"{csv_path}:3: {first} is listed 2 times" in message, message
    assert "they name 2 different images (their contents differ) -> rename one of them, and its label row" in message
    assert "keep one file per image id" not in message and "delete all but one" not in message, message


def test_one_photograph_copied_under_a_name_differing_only_in_case_keeps_the_advice_to_keep_one(
        tmp_path: Path) -> None:
    _folder(tmp_path / "d", {"IMG_1.png": 1, "img_1.png": 1, "a.png": 3, "b.png": 4},
            [["IMG_1.png", 1], ["img_1.png", 1], ["a.png", 0], ["b.png", 1]])
    message = _error(tmp_path / "d", tmp_path / "out")
    assert "img_1.png differs only in case (the same contents) -> keep one file per image id" in message, message
    assert "delete all but one" in message and "two different images" not in message, message


def test_a_csv_name_differing_from_a_file_only_in_unicode_form_spells_that_file() -> None:
    """Reviewer F6: ``IMG_é.png`` written in NFD for the files ``IMG_é.png`` and ``img_é.png``
    (NFC) spells the first; it was "spelled as neither" by comparing the raw strings."""
    first, second = Path("d", unicodedata.normalize("NFC", "IMG_é.png")), Path("d", unicodedata.normalize("NFC", "img_é.png"))
    index = validate.NameIndex([first, second])
    assert index.find(unicodedata.normalize("NFD", "IMG_é.png"))[1] == "name"
    assert index.find("Img_é.png")[1] == "ambiguous"


def test_two_case_variants_whose_files_cannot_be_read_are_told_to_rename_not_to_keep_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reviewer F5: a file that cannot be read may be the second photograph: the advice that
    deletes nothing, not "keep one file per image id"."""
    (tmp_path / "IMG_1.png").write_bytes(b"a")
    (tmp_path / "img_1.png").write_bytes(b"a")

    def unreadable(*args: object, **kwargs: object) -> bool:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(layout.filecmp, "cmp", unreadable)
    (problem,) = [p for p in layout.scan_image_folder(tmp_path).problems if p.kind == "duplicate-name"]
    assert "duplicate name of two files (their contents could not be read to compare)" in problem.line
    assert "-> rename one of them, and its label row" in problem.line, problem.line
    assert "keep one" not in problem.line, problem.line
