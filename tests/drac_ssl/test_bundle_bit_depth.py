"""The training images' bit depths in the bundle, and the warning on a file of another depth
(an open item of session 58: "grading does not compare an upload's bit depth with the training
images'"); and the bundle that graded, named in the export's notes file ("the export CLI's
notes file does not carry the bundle identity").

* The ingest records each group of files converted to 8-bit alike (``ingest_summary.json``
  ``bit_depths``); the bundle carries the labelled training images' groups
  (``data.train_bit_depths``), its model card says them.
* A file whose depth (its samples and the bits used, the ingest's rule) is none of theirs gets
  ``Another bit depth than the training images: ...`` from ``read_image`` (the export command)
  and the app's predictor, naming the file in the export's words; a doubt, not *not reliably
  gradable*. A bundle built before the key compares nothing and says nothing.
* The export's ``<stem>_notes.csv`` names the bundle on every row
  (:attr:`drac_ssl.grading.bundle.Bundle.identity`: ``metadata_sha256`` of ``metadata.json``).

An untrained demo bundle grades (CPU, seconds); the ingest runs on six 64 px scans.
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from drac_ssl.grading.image_notes import (
    OTHER_DEPTH,
    doubt_kind,
    is_plain_note,
    other_depth_warning,
    training_bit_depths,
    unreliable_reasons,
)

EIGHT_BIT_TRAINING = [{"file": "8-bit", "encoding": "grey", "bits_used": 8, "n_train": 30}]
FULL_16_BIT_TRAINING = [{"file": "16-bit", "encoding": "grey", "bits_used": 16, "n_train": 30}]


def _scan(seed: int, side: int = 64) -> np.ndarray:
    """A smooth picture in 0..1 (float32) with structure: neither blank nor noise."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0.05, 1.0, (8, 8)).astype(np.float32)
    image = cv2.resize(coarse, (side, side), interpolation=cv2.INTER_LINEAR)
    return image / image.max()


def _write(path: Path, image: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)
    return path


def _eight_bit(path: Path, seed: int) -> Path:
    return _write(path, np.round(_scan(seed) * 255).astype(np.uint8))


def _sixteen_bit(path: Path, seed: int, top: int = 65535) -> Path:
    return _write(path, np.round(_scan(seed) * top).astype(np.uint16))


def _demo_bundle(folder: Path, train_bit_depths: list[dict[str, object]] | None) -> Path:
    """An untrained grey demo bundle; its metadata's ``data.train_bit_depths`` set (None: left
    out, as in a bundle built before the key)."""
    from app.demo_bundle import build_demo_bundle

    bundle_dir = build_demo_bundle(folder, image_size=32, source_size=48, n_folds=1)
    if train_bit_depths is not None:
        meta = json.loads((bundle_dir / "metadata.json").read_text())
        meta["data"]["train_bit_depths"] = train_bit_depths
        (bundle_dir / "metadata.json").write_text(json.dumps(meta))
    return bundle_dir


@pytest.fixture(scope="module")
def old_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _demo_bundle(tmp_path_factory.mktemp("old"), None)


@pytest.fixture(scope="module")
def eight_bit_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _demo_bundle(tmp_path_factory.mktemp("eight"), EIGHT_BIT_TRAINING)


def test_the_ingest_s_training_depths_reach_the_bundle_metadata(tmp_path: Path) -> None:
    """Six 16-bit scans, one dim (max 3276: read as 12-bit data): the ingest's two groups become
    the bundle's ``train_bit_depths`` (training images only); an ingest summary without
    ``bit_depths`` (an older ingest) leaves the key out, and reading it gives None."""
    from data_prep import ingest
    from drac_ssl.config import DataConfig
    from drac_ssl.grading.bundle import data_provenance

    root = tmp_path / "scans"
    for i in range(6):
        _sixteen_bit(root / f"s{i}.png", i, top=3276 if i == 5 else 65535)
    with open(root / "labels.csv", "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([["image name", "DR grade"], *([f"s{i}.png", i % 2] for i in range(6))])
    cfg = DataConfig(root=str(root), cache_sizes=[32], n_folds=2, workers=1, grades=["no DR", "DR"])
    ingest.run(cfg, tmp_path / "data", verbose=False)
    data = data_provenance(tmp_path / "data")
    assert data["train_bit_depths"] == [
        {"file": "16-bit", "encoding": "grey", "bits_used": 16, "n_train": 5},
        {"file": "16-bit", "encoding": "grey", "bits_used": 12, "n_train": 1}]
    assert training_bit_depths({"data": data}) == (("16-bit", 16, 5), ("16-bit", 12, 1))
    # an ingest made before bit_depths were recorded: no key, unknown
    older = tmp_path / "older"
    shutil.copytree(tmp_path / "data", older)
    summary = json.loads((older / "ingest_summary.json").read_text())
    del summary["bit_depths"]
    (older / "ingest_summary.json").write_text(json.dumps(summary))
    assert "train_bit_depths" not in data_provenance(older)
    assert training_bit_depths({"data": data_provenance(older)}) is None


def test_an_old_bundle_without_the_key_loads_and_says_nothing_of_depth(old_bundle: Path, tmp_path: Path) -> None:
    from app.predict import Predictor
    from drac_ssl.grading.bundle import _model_card, load_bundle
    from drac_ssl.grading.predict import read_image

    bundle = load_bundle(old_bundle)
    assert "train_bit_depths" not in bundle.metadata["data"] and bundle.bit_depths is None
    scan = _sixteen_bit(tmp_path / "deep.png", 1)
    _, said = read_image(scan, bundle.spec.channels, kind=bundle.kind, bit_depths=bundle.bit_depths)
    assert not [w for w in said if OTHER_DEPTH in w], said
    pred = Predictor(bundle, gradcam=False).predict_file(scan, gradcam=False)
    assert not [w for w in pred.warnings if OTHER_DEPTH in w], pred.warnings
    assert "Bit depth of the labelled training images" not in _model_card(bundle.metadata)


def test_a_16_bit_file_for_a_model_trained_on_8_bit_files_is_warned_naming_the_file(
        eight_bit_bundle: Path, tmp_path: Path) -> None:
    """The export's words (``NAME: ``) and the app's sentence; an 8-bit file is not warned; the
    warning is a doubt (the batch summary's kind), not *not reliably gradable*; the model card
    says the training images' depth."""
    from app.predict import Predictor
    from drac_ssl.grading.bundle import _model_card, load_bundle
    from drac_ssl.grading.predict import read_image

    bundle = load_bundle(eight_bit_bundle)
    assert bundle.bit_depths == (("8-bit", 8, 30),)
    deep, flat = _sixteen_bit(tmp_path / "night_16.png", 1), _eight_bit(tmp_path / "night_8.png", 2)
    _, said = read_image(deep, bundle.spec.channels, kind=bundle.kind, bit_depths=bundle.bit_depths)
    (warned,) = [w for w in said if OTHER_DEPTH in w]
    assert warned.startswith(f"night_16.png: {OTHER_DEPTH}: this file is 16-bit, ")
    assert "the model's labelled training images were 8-bit (30 images)" in warned
    _, said = read_image(flat, bundle.spec.channels, kind=bundle.kind, bit_depths=bundle.bit_depths)
    assert not [w for w in said if OTHER_DEPTH in w], said
    sentence = warned.removeprefix("night_16.png: ")
    assert not is_plain_note(sentence) and unreliable_reasons([sentence]) == []
    assert doubt_kind(sentence) == "image of another bit depth"
    # the app: the same sentence among the upload's warnings, graded, not "not reliably gradable"
    predictor = Predictor(bundle, gradcam=False)
    pred = predictor.predict_file(deep, gradcam=False)
    assert sentence in pred.warnings and pred.not_reliably_gradable == []
    assert not [w for w in predictor.predict_file(flat, gradcam=False).warnings if OTHER_DEPTH in w]
    card = _model_card(bundle.metadata)
    assert "Bit depth of the labelled training images: 8-bit (30 images); an image of another bit depth" in card


def test_an_8_bit_file_and_a_dim_16_bit_scan_for_a_model_trained_on_full_range_16_bit_scans() -> None:
    """The comparison is the ingest's "scaled alike": the samples and the bits used. A dim 16-bit
    scan read as 12-bit data is brightened 16 times more than full-range training scans were."""
    trained = training_bit_depths({"data": {"train_bit_depths": FULL_16_BIT_TRAINING}})
    assert other_depth_warning(("16-bit", 16), trained) == ""
    dim = other_depth_warning(("16-bit", 12), trained)
    assert dim.startswith(f"{OTHER_DEPTH}: this file is 16-bit read as 12-bit data, ")
    assert "training images were 16-bit (30 images)" in dim
    assert other_depth_warning(("8-bit", 8), trained).startswith(f"{OTHER_DEPTH}: this file is 8-bit, ")
    # one of several groups is enough; nothing recorded: nothing compared
    mixed = training_bit_depths({"data": {"train_bit_depths": [*FULL_16_BIT_TRAINING, *EIGHT_BIT_TRAINING]}})
    assert other_depth_warning(("8-bit", 8), mixed) == "" and other_depth_warning(("16-bit", 16), mixed) == ""
    assert other_depth_warning(("16-bit", 12), None) == ""


def test_read_image_reads_a_dim_16_bit_scan_as_the_ingest_did(tmp_path: Path) -> None:
    """The file's depth comes from the decoder's words by the ingest's own rule
    (:func:`data_prep.decode.sample_depth`): max 3000 without an sBIT chunk is 12-bit data."""
    from drac_ssl.grading.predict import read_image

    trained = training_bit_depths({"data": {"train_bit_depths": FULL_16_BIT_TRAINING}})
    dim = _sixteen_bit(tmp_path / "dim.png", 3, top=3000)
    _, said = read_image(dim, 1, kind="octa", bit_depths=trained)
    assert [w for w in said if w.startswith(f"dim.png: {OTHER_DEPTH}: this file is 16-bit read as 12-bit data")]
    full = _sixteen_bit(tmp_path / "full.png", 3)
    _, said = read_image(full, 1, kind="octa", bit_depths=trained)
    assert not [w for w in said if OTHER_DEPTH in w], said


def test_the_export_warns_counts_and_names_the_bundle_in_its_notes_file(
        eight_bit_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A night's folder: an 8-bit scan, a 16-bit scan and a thresholded export (two grey levels:
    flagged, so the notes file is written). stderr warns the 16-bit file by name, the summary
    counts it apart from the channel conversions, and every row of the notes file names the
    bundle: its metadata.json's SHA-256, as ``sha256sum`` gives it, its variant and build time."""
    from drac_ssl import export
    from drac_ssl.grading.bundle import load_bundle
    from drac_ssl.submission import (
        IMAGE_NOTES_COLUMNS,
        bundle_cell,
        image_notes_path,
        read_image_notes,
    )

    night = tmp_path / "night"
    _eight_bit(night / "a.png", 4)
    _sixteen_bit(night / "b16.png", 5)
    _write(night / "c_mask.png", np.where(_scan(6) > 0.5, 255, 0).astype(np.uint8))
    out = tmp_path / "grades.csv"
    capsys.readouterr()
    code = export.main([str(eight_bit_bundle), "--images", str(night), "--out", str(out)])
    captured = capsys.readouterr()
    assert code == export.EXIT_FLAGGED, captured
    warned = [line for line in captured.err.splitlines() if OTHER_DEPTH in line]
    assert len(warned) == 1 and warned[0].startswith(f"warning: b16.png: {OTHER_DEPTH}: this file is 16-bit"), warned
    summary = next(line for line in captured.out.splitlines() if line.startswith("OK: "))
    assert "1 of another bit depth than the training images (see the warnings)" in summary, summary
    assert "converted to the model's channels" not in summary, summary
    notes = image_notes_path(out)
    rows = list(csv.DictReader(notes.open(encoding="utf-8-sig")))
    assert tuple(rows[0]) == IMAGE_NOTES_COLUMNS and [r["case"] for r in rows] == ["a.png", "b16.png", "c_mask.png"]
    digest = hashlib.sha256((eight_bit_bundle / "metadata.json").read_bytes()).hexdigest()[:12]
    meta = json.loads((eight_bit_bundle / "metadata.json").read_text())
    expected = f"metadata_sha256={digest}; variant={meta['variant']}; created_utc={meta['created_utc']}"
    assert {r["bundle"] for r in rows} == {expected}
    assert bundle_cell(load_bundle(eight_bit_bundle).identity) == expected
    assert rows[2]["not_reliably_gradable"] and not rows[1]["not_reliably_gradable"]  # a doubt only
    # a notes file of the version before the bundle column is still read (--score)
    before = tmp_path / "before_notes.csv"
    before.write_text("case,class,not_reliably_gradable,training_image,grade_note\na.png,1,,yes (same SHA-256),\n")
    assert read_image_notes(before) == {"a.png": ("", True)}
    assert read_image_notes(notes) == {r["case"]: (r["not_reliably_gradable"], False) for r in rows}
