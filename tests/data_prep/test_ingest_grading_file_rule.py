"""The ingest holds every image file to grading's rule (drac_ssl.grading.image_file): a file
whose content is not what its name says, or that read_image would refuse, is reported by the
ingest's one-pass validation (file, what is wrong, what to do), not trained on (review s58r5
F5: a GIF named .png was trained on, then refused by the export and the app)."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from data_prep import ingest
from data_prep.cache import STATE_VERSION, FileTask, process_file
from data_prep.problems import IngestError
from drac_ssl.config import DataConfig
from drac_ssl.grading.image_file import SUFFIX_FORMATS, misnamed, name_words
from drac_ssl.grading.image_notes import IMAGE_SUFFIXES

TWO_GRADES = ["Normal", "DR"]


def _picture(seed: int, side: int = 64) -> np.ndarray:
    """A smooth grey picture, distinct per seed (not blank, not noise)."""
    coarse = np.random.default_rng(seed).integers(0, 256, (8, 8), dtype=np.uint8)
    return cv2.resize(coarse, (side, side), interpolation=cv2.INTER_LINEAR)


def _folder(root: Path, files: dict[str, tuple[str, int]]) -> Path:
    """A plain folder: ``name -> (format Pillow writes, grade)`` and its ``labels.csv``."""
    root.mkdir(parents=True)
    for i, (name, (fmt, _)) in enumerate(files.items()):
        Image.fromarray(_picture(i)).save(root / name, format=fmt)
    with open(root / "labels.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["image name", "DR grade"])
        writer.writerows([name, grade] for name, (_, grade) in files.items())
    return root


def _config(root: Path, **more: object) -> DataConfig:
    return DataConfig(root=str(root), cache_sizes=[32], n_folds=2, workers=1, grades=TWO_GRADES,
                      **more)  # type: ignore[arg-type]


def test_a_gif_named_png_stops_the_ingest_with_its_name_and_the_fix(tmp_path: Path) -> None:
    data = _folder(tmp_path / "d", {"001.png": ("PNG", 0), "002.jpg": ("JPEG", 0),
                                    "003.png": ("PNG", 1), "scan 4.png": ("GIF", 1)})
    out = tmp_path / "out"
    with pytest.raises(IngestError) as caught:
        ingest.run(_config(data), out, verbose=False)
    errors = [p for p in caught.value.problems if p.severity == "error"]
    # the one problem: the GIF, in read_image's words; the PNGs and the JPEG passed
    assert [(Path(p.path).name, p.kind) for p in errors] == [("scan 4.png", "format")], errors
    assert errors[0].what == "a GIF file, though named .png"
    assert errors[0].fix.startswith("convert it to PNG")
    assert "scan 4.png: a GIF file, though named .png -> convert it to PNG" in str(caught.value)
    assert "1 problem(s)" in str(caught.value)
    assert not (out / ingest.MANIFEST_NAME).exists()

    # converted as the fix says: every file ingests, the JPEG among them
    Image.open(data / "scan 4.png").convert("L").save(data / "scan 4.png", format="PNG")
    result = ingest.run(_config(data), out, verbose=False)
    with open(result.manifest_path, newline="", encoding="utf-8") as fh:
        paths = sorted(row["path"] for row in csv.DictReader(fh))
    assert paths == ["001.png", "002.jpg", "003.png", "scan 4.png"]
    assert not [w for w in result.warnings if "though named" in w], result.warnings


def test_a_jpeg_named_png_is_read_by_its_content_with_a_warning(tmp_path: Path) -> None:
    data = _folder(tmp_path / "d", {"001.png": ("PNG", 0), "002.png": ("JPEG", 0),
                                    "003.png": ("PNG", 1), "004.png": ("PNG", 1)})
    result = ingest.run(_config(data), tmp_path / "out", verbose=False)
    said = [w for w in result.warnings if "though named" in w]
    assert len(said) == 1 and "002.png: a JPEG file, though named .png (read as JPEG" in said[0], said
    assert "-> rename it to .jpg" in said[0]
    assert result.n_train == 4
    # --strict: the warning is fatal, its fix says what running without it does
    with pytest.raises(IngestError, match=r"002\.png: a JPEG file, though named \.png .*\(rejected by "
                                          r"--strict\) -> rename it to \.jpg .*or run without --strict "
                                          r"to read it by its content"):
        ingest.run(_config(data, strict=True), tmp_path / "strict", verbose=False)


@pytest.mark.parametrize("name, write", [
    ("wide.png", lambda p: Image.fromarray(np.zeros((10, 9000), np.uint8)).save(p)),
    ("gif.png", lambda p: Image.fromarray(_picture(0)).save(p, format="GIF")),
    ("photo.tif", lambda p: Image.fromarray(_picture(1)).save(p, format="WEBP")),
])
def test_the_ingest_refuses_a_file_in_read_images_own_words(tmp_path: Path, name: str, write) -> None:
    """One rule: what read_image (the export, a script) refuses, the ingest refuses, in the same
    words (the file's what and fix), without decoding it."""
    from drac_ssl.grading.predict import ImageReadError, read_image

    path = tmp_path / name
    write(path)
    record = process_file(FileTask(str(path), name, (32,)))
    ingested = [p for p in record.problems(str(path)) if p.severity == "error"]
    with pytest.raises(ImageReadError) as caught:
        read_image(path, 1)
    graded = caught.value.problems
    assert [(p.path, p.what, p.fix, p.kind) for p in ingested] == [
        (p.path, p.what, p.fix, p.kind) for p in graded]
    assert record.width == 0  # not decoded


def test_a_proper_png_and_jpeg_pass_the_rule_without_a_word(tmp_path: Path) -> None:
    for name, fmt in (("a.png", "PNG"), ("b.jpeg", "JPEG"), ("c.JPG", "JPEG"), ("d.tif", "TIFF"),
                      ("e.bmp", "BMP")):
        Image.fromarray(_picture(2)).save(tmp_path / name, format=fmt)
        record = process_file(FileTask(str(tmp_path / name), name, (32,)))
        kinds = {issue[3] for issue in record.issues}
        assert not kinds & {"misnamed", "format", "too-wide", "too-many-pixels", "too-large"}, record.issues
        assert record.width == 64


def test_the_suffixes_name_the_formats_the_package_reads() -> None:
    assert set(SUFFIX_FORMATS) == set(IMAGE_SUFFIXES)
    assert name_words("GIF", "x.PNG") == ", though named .PNG"
    assert name_words("GIF", "x.gif") == name_words("MPO", "x.jpg") == name_words("PNG", "x") == ""
    assert misnamed("MPO", "x.jpeg") is None and misnamed("GIF", "x.png") is None
    assert misnamed("TIFF", "x.bmp") == ("a TIFF file, though named .bmp (read as TIFF: the content "
                                         "decides, in training and in grading)",
                                         "rename it to .tif (a tool that goes by the name may misread it)")
    # a cache state written before the rule is rebuilt (its records were never held to it)
    assert STATE_VERSION >= 5
