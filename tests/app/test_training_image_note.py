"""The app says when an upload is one of the model's training images (a trial: the export said
"1 of 2 images was used to train this model (same SHA-256)", the app nothing, on either tab):
a plain note on the page, in the details JSON and :class:`app.predict.Prediction`, and in the
batch's notes and summary; never a refusal. A bundle built before it recorded its training
images' hashes says nothing."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from app.demo_bundle import build_demo_bundle
from app.predict import Predictor
from drac_ssl.grading.image_notes import is_plain_note
from drac_ssl.grading.training_images import TRAINING_IMAGE_NOTE, training_images_record
from drac_ssl.submission import TRAINING_IMAGE_MARK, TRAINING_IMAGE_UNKNOWN


def _scan(side: int, seed: int) -> np.ndarray:
    """A grey image with structure (not blank, not noise): graded."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:side, 0:side]
    img = 60 + 40 * np.sin(xx / 7.0) * np.cos(yy / 11.0) + rng.normal(0, 12, (side, side))
    return np.clip(img, 0, 255).astype(np.uint8)


def _write(path: Path, array: np.ndarray) -> Path:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    path.write_bytes(buf.getvalue())
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("images")
    return {"trained": _write(folder / "trained.png", _scan(300, seed=1)),
            "new": _write(folder / "new.png", _scan(300, seed=2))}


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory, files: dict[str, Path], one_thread: None
            ) -> dict[str, Any]:
    """The tiny demo bundle as built (``demo``: trained on nothing), a copy of it not marked
    demo (no training-image hashes: an old bundle) and one whose metadata lists
    ``trained.png``'s hash among its training images."""
    demo = build_demo_bundle(tmp_path_factory.mktemp("run"), image_size=32, source_size=48, n_folds=1)
    old = build_demo_bundle(tmp_path_factory.mktemp("run"), image_size=32, source_size=48, n_folds=1)
    new = build_demo_bundle(tmp_path_factory.mktemp("run"), image_size=32, source_size=48, n_folds=1)
    digest = hashlib.sha256(files["trained"].read_bytes()).hexdigest()
    for bundle, hashes in ((old, None), (new, [digest, "ab" * 32])):
        meta_path = bundle / "metadata.json"
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        meta.pop("demo", None)  # a trained bundle's metadata, which may or may not record hashes
        if hashes is not None:
            meta["training_images"] = training_images_record(hashes)
        meta_path.write_text(json.dumps(meta), encoding="utf-8")
    return {"demo": Predictor(demo), "old": Predictor(old), "new": Predictor(new)}


def test_a_training_image_gets_a_note_from_predict_file_and_the_page(bundles: dict[str, Any],
                                                                    files: dict[str, Path]) -> None:
    from app.server import AppSettings, _grade_single_now

    predictor = bundles["new"]
    assert is_plain_note(TRAINING_IMAGE_NOTE)
    pred = predictor.predict_file(files["trained"], gradcam=False)
    assert pred.training_image is True and TRAINING_IMAGE_NOTE in pred.warnings
    assert pred.not_reliably_gradable == []  # a note, not a verdict
    assert pred.as_dict()["training_image"] is True
    other = predictor.predict_file(files["new"], gradcam=False)
    assert other.training_image is False and TRAINING_IMAGE_NOTE not in other.warnings
    assert predictor.training_image(files["trained"]) is True  # by path, too
    markdown, label, _, _, details = _grade_single_now(predictor, AppSettings(gradcam=False),
                                                       str(files["trained"]), None, "trained.png")
    assert label is not None and details["training_image"] is True
    assert f"Note: {TRAINING_IMAGE_NOTE}" in markdown, markdown
    assert "see above" not in markdown  # not a doubt about the image


def test_a_batch_says_which_files_trained_the_model(bundles: dict[str, Any], files: dict[str, Path]) -> None:
    from app.server import AppSettings, _grade_batch_now

    summary, rows, csv_path, notes_path = _grade_batch_now(bundles["new"], AppSettings(),
                                                           [str(files["trained"]), str(files["new"])])
    notes = {row[0]: row[-1] for row in rows}
    assert f"Note: {TRAINING_IMAGE_NOTE}" in notes["trained.png"], notes
    assert "Training image" not in notes["new.png"]
    assert "1 of 2 images was used to train this model (same SHA-256)" in summary, summary
    # where it is marked per file: the notes CSV's training_image column, as the export's notes file
    assert "(marked in the `training_image` column of `grades_with_notes.csv`; its notes say so too)" in summary
    with open(notes_path, newline="", encoding="utf-8-sig") as fh:
        marked = {r["case"]: r["training_image"] for r in csv.DictReader(fh)}
    # "no" in words (a clinician trial: an empty cell); the first row is the caveat's, no file
    assert marked == {"(about these grades)": "", "trained.png": TRAINING_IMAGE_MARK, "new.png": "no"}
    assert Path(csv_path).name == "submission.csv"  # graded as any other: not FLAGGED
    assert "carry a warning" not in summary and "carries a warning" not in summary


def test_a_bundle_without_training_image_hashes_says_nothing(bundles: dict[str, Any],
                                                             files: dict[str, Path]) -> None:
    from app.server import AppSettings, _grade_batch_now

    predictor = bundles["old"]
    assert predictor.training_hashes is None and predictor.training_image(files["trained"]) is None
    pred = predictor.predict_file(files["trained"], gradcam=False)
    assert pred.training_image is None and TRAINING_IMAGE_NOTE not in pred.warnings
    assert pred.as_dict()["training_image"] is None
    summary, rows, _, notes_path = _grade_batch_now(predictor, AppSettings(), [str(files["trained"])])
    assert "train this model" not in summary and "Training image" not in rows[0][-1]
    # the notes CSV says it cannot be told, not "no" (a review: it wrote unknown
    # as no)
    with open(notes_path, newline="", encoding="utf-8-sig") as fh:
        marked = {r["case"]: r["training_image"] for r in csv.DictReader(fh)}
    assert marked == {"(about these grades)": "", "trained.png": TRAINING_IMAGE_UNKNOWN}


def test_a_demo_bundle_says_no_training_image_not_unknown(bundles: dict[str, Any],
                                                          files: dict[str, Path]) -> None:
    """r4 F8: a demo bundle (trained on nothing) wrote "unknown" in the batch notes CSV's
    training_image for every file; no image can be one of its training images: "no"."""
    from app.server import AppSettings, _grade_batch_now

    predictor = bundles["demo"]
    assert predictor.metadata.get("demo") and predictor.training_hashes is None
    _, _, _, notes_path = _grade_batch_now(predictor, AppSettings(), [str(files["trained"])])
    with open(notes_path, newline="", encoding="utf-8-sig") as fh:
        marked = {r["case"]: r["training_image"] for r in csv.DictReader(fh)}
    assert marked == {"(about these grades)": "", "trained.png": "no"}


def test_a_copy_matched_by_its_decoded_pixels_is_said_so_not_same_sha256(
        tmp_path: Path, files: dict[str, Path], one_thread: None) -> None:
    """A final read: an upload matched by its decoded pixels alone (another file of a training
    image's pixels: a PNG of an .npz row, a copy saved again) was said to have "(same SHA-256)",
    which its bytes do not share, in the note, the batch summary and the notes CSV."""
    from app.server import AppSettings, _grade_batch_now
    from data_prep.validate import pixels_sha256
    from drac_ssl.grading.training_images import BY_PIXELS, training_image_note
    from drac_ssl.submission import TRAINING_IMAGE_PIXELS_MARK

    bundle = build_demo_bundle(tmp_path / "run", image_size=32, source_size=48, n_folds=1)
    meta = json.loads((bundle / "metadata.json").read_text(encoding="utf-8"))
    meta.pop("demo", None)
    meta["training_images"] = training_images_record([hashlib.sha256(files["trained"].read_bytes()).hexdigest()],
                                                     [pixels_sha256(_scan(300, seed=1))])
    (bundle / "metadata.json").write_text(json.dumps(meta), encoding="utf-8")
    predictor = Predictor(bundle)
    copy = tmp_path / "copy.png"
    Image.fromarray(_scan(300, seed=1)).save(copy, compress_level=0)  # the same pixels, other bytes
    assert copy.read_bytes() != files["trained"].read_bytes()
    said = training_image_note(BY_PIXELS)
    assert "(same decoded pixels)" in said and "SHA-256" not in said and is_plain_note(said)
    assert training_image_note(True) == TRAINING_IMAGE_NOTE and "(same SHA-256)" in TRAINING_IMAGE_NOTE
    summary, rows, _, notes_path = _grade_batch_now(predictor, AppSettings(),
                                                    [str(copy), str(files["trained"]), str(files["new"])])
    notes = {row[0]: row[-1] for row in rows}
    assert f"Note: {said}" in notes["copy.png"] and "SHA-256" not in notes["copy.png"], notes
    assert f"Note: {TRAINING_IMAGE_NOTE}" in notes["trained.png"], notes
    assert "2 of 3 images were used to train this model (same SHA-256 or, for 1 of them, same decoded " \
           "pixels)" in summary, summary
    with open(notes_path, newline="", encoding="utf-8-sig") as fh:
        marked = {r["case"]: r["training_image"] for r in csv.DictReader(fh)}
    assert marked == {"(about these grades)": "", "copy.png": TRAINING_IMAGE_PIXELS_MARK,
                      "trained.png": TRAINING_IMAGE_MARK, "new.png": "no"}
