"""A DRAC participant's finding (F2): ``export RUN --images DIR`` graded test images of another
size than the training images (512x512 on a model trained on 1024x1024) silently. The export
now says it in one warning that counts them (a note per file flooded stderr: 386 lines for a
resized DRAC test set), and the notes file's ``size_note`` column names each, for a UW-OCTA
bundle whose training images all had one shorter side (``data.train_image_sides`` records
shorter sides: a 64x48 image on a model trained on 64x48 ones is no other size). An untrained
demo bundle grades; CPU, seconds."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import cv2
import pytest

from drac_ssl import export
from drac_ssl.grading import load_bundle
from drac_ssl.submission import IMAGE_NOTES_COLUMNS, SIZE_NOTE_COLUMN, image_notes_path
from tests.helpers.png_bytes import walk_scan


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A grey (UW-OCTA) demo bundle, built once for the module."""
    from app.demo_bundle import build_demo_bundle

    return build_demo_bundle(tmp_path_factory.mktemp("run") / "run", image_size=32, source_size=48, n_folds=1)


def _with_sides(built: Path, folder: Path, low: int, high: int) -> Path:
    """A copy of the bundle ``built`` whose 30 training images' shorter sides ran from ``low``
    to ``high`` px."""
    bundle_dir = shutil.copytree(built, folder)
    meta = json.loads((bundle_dir / "metadata.json").read_text())
    meta.setdefault("data", {})["train_image_sides"] = {"n": 30, "min": low, "p05": low, "median": low,
                                                        "max": high}
    (bundle_dir / "metadata.json").write_text(json.dumps(meta))
    return bundle_dir


def _export(bundle_dir: Path, folder: Path, images: dict[str, tuple[int, int]], out: Path,
            capsys: pytest.CaptureFixture[str]) -> str:
    """Export ``images`` (name -> width, height) written into ``folder``; the stderr."""
    folder.mkdir()
    for seed, (name, (width, height)) in enumerate(images.items()):
        assert cv2.imwrite(str(folder / name), walk_scan(width, seed, height=height))
    code = export.main([str(bundle_dir), "--images", str(folder), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    return err


def test_sides_that_varied_in_training_are_not_compared(built: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    varied = _with_sides(built, tmp_path / "varied", 64, 80)
    assert load_bundle(varied).training_side is None
    err = _export(varied, tmp_path / "test", {"001.png": (40, 40)}, tmp_path / "s.csv", capsys)
    assert "shorter side" not in err and "size" not in err, err


def test_test_images_of_another_size_than_the_training_images_are_one_warning(
        built: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bundle_dir = _with_sides(built, tmp_path / "square", 64, 64)
    assert load_bundle(bundle_dir).training_side == 64
    out = tmp_path / "s.csv"
    err = _export(bundle_dir, tmp_path / "test",
                  {"001.png": (64, 64), "002.png": (40, 40), "003.png": (32, 32)}, out, capsys)
    said = [line for line in err.splitlines() if "shorter side" in line or "size" in line]
    assert said == ["warning: 2 of 3 test images have another shorter side than the 64 px of every training "
                    "image (e.g. 002.png 40x40): the model learnt from 64 px images; grade the original "
                    "files, not resized copies (each in s_notes.csv's size_note column)"], err
    with open(image_notes_path(out), encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0]) == IMAGE_NOTES_COLUMNS
    assert {r["case"]: r[SIZE_NOTE_COLUMN] for r in rows} == {
        "001.png": "",
        "002.png": "size 40x40, shorter side 40 px, not the 64 px of every training image",
        "003.png": "size 32x32, shorter side 32 px, not the 64 px of every training image"}


def test_a_non_square_training_size_compares_the_shorter_side(
        built: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A reviewer's finding: ``train_image_sides`` records each image's shorter side, so a
    model trained on 64x48 images has side 48; a 64x48 test image was noted "size 64x48, not
    48x48 (... aspect ratio changed)", which is false."""
    bundle_dir = _with_sides(built, tmp_path / "oblong", 48, 48)
    err = _export(bundle_dir, tmp_path / "test", {"001.png": (64, 48), "002.png": (48, 64)},
                  tmp_path / "s.csv", capsys)
    assert "shorter side" not in err and "size" not in err, err
