"""One rule for what the app grades, on the single-image tab, the batch tab and in
:class:`app.predict.Predictor`: a blank image and an image of random noise are refused
everywhere (a clinician review found the batch grading a black PNG the single tab refused,
and uniform noise graded "Normal" with no warning); the batch always offers a CSV with the
notes; duplicate names keep their upload order and say which one was graded; the result
carries the bundle's caveat."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from shared_data import SHARED_DATA, missing_reason

from app.batch_csv import MODEL_OUTPUT_COLUMN as MODEL_OUTPUT
from app.demo_bundle import build_demo_bundle
from app.inputs import (
    NOISE_CORRELATION,
    InputRejected,
    load_bytes,
    neighbour_correlation,
)
from app.predict import Predictor

SHARED = SHARED_DATA


def _png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def _scan(side: int = 128, seed: int = 0) -> np.ndarray:
    """A grey image with structure (smooth texture and a little noise): graded."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:side, 0:side]
    img = 60 + 40 * np.sin(xx / 7.0) * np.cos(yy / 11.0) + rng.normal(0, 12, (side, side))
    return np.clip(img, 0, 255).astype(np.uint8)


def _noise(side: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (side, side), dtype=np.uint8)


def _write(tmp_path: Path, name: str, array: np.ndarray) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_png(array))
    return path


def _rows(path: str | Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8-sig") as fh:  # the notes CSV for people has a BOM
        return list(csv.DictReader(fh))


def _file_rows(notes_path: str | Path) -> list[dict[str, str]]:
    """The rows of the batch's grades_with_notes.csv after its first row, which says what applies
    to every grade (app.batch_csv.ABOUT_ROW), checked to be there."""
    from app.batch_csv import ABOUT_ROW

    about, *files = _rows(notes_path)
    assert about["case"] == ABOUT_ROW and about["notes"], about
    return files


def _graded(row: dict[str, str]) -> bool:
    """A graded row of the grades CSV (its class) or of the notes CSV (its first P column, which an
    image not reliably gradable keeps while its grade is in model_output_only)."""
    return (row["class"] if "class" in row else row["P_Normal"]) != ""


# --------------------------------------------------------------------------------------
# The structure statistic


@pytest.mark.parametrize("side", [64, 96, 300, 1000, 1024, 1400])
def test_noise_has_no_neighbour_correlation(side: int) -> None:
    # 300 and 1000 px: a non-integer resize (INTER_AREA) made neighbours of noise correlate
    # (0.2 at 300 px); the block mean keeps them independent
    assert abs(neighbour_correlation(_noise(side))) < 0.05
    colour = np.random.default_rng(1).integers(0, 256, (side, side, 3), dtype=np.uint8)
    assert abs(neighbour_correlation(colour)) < 0.05


def test_structured_images_correlate_far_above_the_threshold() -> None:
    assert neighbour_correlation(_scan(96)) > 2 * NOISE_CORRELATION
    assert neighbour_correlation(_scan(1024)) > 2 * NOISE_CORRELATION
    assert np.isnan(neighbour_correlation(np.zeros((1, 50), np.uint8)))  # undefined, not noise


def test_the_app_and_the_export_share_one_noise_rule() -> None:
    """The statistic lives beside is_blank in data_prep.validate (the export command cannot
    import app); app.inputs re-exports the same objects, and looks_like_noise is the rule the
    app's refusal applies: noise yes, structure, a constant image and a single row no."""
    from data_prep import validate

    assert neighbour_correlation is validate.neighbour_correlation
    assert NOISE_CORRELATION == validate.NOISE_CORRELATION
    assert validate.looks_like_noise(_noise(512))
    assert validate.looks_like_noise(np.random.default_rng(2).integers(0, 256, (64, 80, 3), np.uint8))
    assert not validate.looks_like_noise(_scan(512))
    assert not validate.looks_like_noise(np.full((64, 64), 90, np.uint8))  # blank's case: NaN
    assert not validate.looks_like_noise(np.zeros((1, 50), np.uint8))


def test_real_images_pass_the_structure_check() -> None:
    """The measured values the docstring gives: the 3 DRAC samples 0.66-0.68, the 30 APTOS
    photographs 0.34-0.75 (at full size the threshold is under half the lowest)."""
    drac = sorted((SHARED / "drac_samples").glob("sample_*.png"))
    aptos = sorted((SHARED / "aptos_samples" / "train_images").glob("*.png"))
    if not drac or not aptos:
        pytest.skip(missing_reason("the real DRAC and APTOS samples", SHARED))
    values = [neighbour_correlation(np.asarray(Image.open(p).convert("L"))) for p in drac + aptos]
    assert min(values) > 2 * NOISE_CORRELATION, values
    assert min(values[:3]) > 0.6


def _reference_correlation(grey: np.ndarray, f: int | None = None) -> float:
    """The statistic written out plainly: float64 means of whole ``f x f`` blocks (``f`` by
    default the reduction to at most 256 px a side), then the larger of the horizontal and
    vertical Pearson correlations of adjacent block means."""
    from data_prep.validate import STRUCTURE_SIDE

    h, w = grey.shape
    f = f or max(1, -(-max(h, w) // STRUCTURE_SIDE))
    g = grey[: h - h % f, : w - w % f].astype(np.float64)
    g = g.reshape(g.shape[0] // f, f, g.shape[1] // f, f).mean(axis=(1, 3))
    return max(float(np.corrcoef(g[:, :-1].ravel(), g[:, 1:].ravel())[0, 1]),
               float(np.corrcoef(g[:-1].ravel(), g[1:].ravel())[0, 1]))


def test_the_statistic_is_the_block_mean_of_the_luminance_the_app_reads() -> None:
    """One grey for the app and the export: the app measured the upload's luminance
    (``LoadedImage.gray``) while the export measured the RGB channel mean, so one file could
    get two verdicts. Both measure the luminance now (``cv2.COLOR_RGB2GRAY``, the decoder's
    grey), reduced on the uint8 pixels to exact block means (no float copy of the image)."""
    import cv2

    from app.inputs import load_bytes

    rng = np.random.default_rng(5)
    colour = np.stack([_scan(600, seed=5), rng.integers(0, 256, (600, 600), dtype=np.uint8),
                       rng.integers(0, 256, (600, 600), dtype=np.uint8)], axis=2)
    luminance = cv2.cvtColor(colour, cv2.COLOR_RGB2GRAY)
    assert neighbour_correlation(colour) == neighbour_correlation(luminance)
    assert abs(neighbour_correlation(luminance) - _reference_correlation(luminance)) < 1e-9
    assert load_bytes(_png(colour), "c.png", channels=3).structure == neighbour_correlation(colour)
    real = sorted((SHARED / "drac_samples").glob("sample_*.png"))[:1] + sorted(
        (SHARED / "aptos_samples" / "train_images").glob("*.png"))[:2]
    for path in real:  # a 1024 px scan and photographs of other sizes
        loaded = load_bytes(path.read_bytes(), path.name, channels=3)
        assert abs(loaded.structure - _reference_correlation(loaded.gray)) < 1e-9, path
        assert neighbour_correlation(loaded.for_channels(3)) == loaded.structure, path


def _palette_png(rgb: Image.Image) -> bytes:
    """``rgb`` as Pillow's ``convert('P')`` saves it: its 216-colour web palette, Floyd-Steinberg
    dithered (what a "save as 8-bit PNG" of many tools gives)."""
    buf = io.BytesIO()
    rgb.convert("P").save(buf, format="PNG")
    return buf.getvalue()


def test_a_dithered_palette_copy_of_a_real_photograph_is_graded_not_called_noise() -> None:
    """A review: 13 of the 30 real APTOS photographs saved as dithered palette PNGs were refused
    as "random noise ... adjacent-pixel correlation 0.01": the dithering's alternating
    pixels hide the photograph from neighbours measured one pixel apart. Noise is now what is
    unrelated on the 2 x 2 and 4 x 4 block means as well (data_prep.validate.STRUCTURE_SCALES),
    which average the dither out; measured here also at 128 px, the smallest image with 4 x 4
    blocks (the palette copies' lowest coarse figure there, 0.24 against 0.15)."""
    from app.inputs import refusal
    from data_prep.validate import structure_correlations

    aptos = sorted((SHARED / "aptos_samples" / "train_images").glob("*.png"))
    if not aptos:
        pytest.skip(missing_reason("the real APTOS samples", SHARED / "aptos_samples" / "train_images"))
    refused, fine = [], []
    for path in aptos:
        rgb = Image.open(path).convert("RGB")
        for image in (rgb, rgb.resize((128, 128), Image.Resampling.BOX)):
            data = _palette_png(image)
            for channels in (3, 1):
                loaded = load_bytes(data, path.name, channels=channels)
                fine.append(loaded.structure)
                if refusal(loaded, "fundus", channels):
                    refused.append((path.name, image.size, channels))
            assert max(structure_correlations(loaded.gray)) > 1.5 * NOISE_CORRELATION, path
    assert refused == []
    assert min(fine) <= NOISE_CORRELATION  # the case of the review: the fine scale alone refused


@pytest.mark.parametrize("side", [64, 128, 224, 300, 1024])
def test_noise_is_unrelated_at_every_scale_measured(side: int) -> None:
    """Noise stays refused: its block means are independent too (0.10 at most in 500 images
    of 128 px measured, whose 4 x 4 blocks leave 32 x 32). Each scale is the block mean of
    the luminance, ``k * f`` pixels a side (``f`` the reduction to at most 256 px); NaN where
    the blocks would leave fewer than 32 a side (the 4 x 4 scale of a 64 px image)."""
    from data_prep.validate import STRUCTURE_SCALES, looks_like_noise, structure_correlations

    rng = np.random.default_rng(side)
    grey = rng.integers(0, 256, (side, side), dtype=np.uint8)
    colour = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
    for image in (grey, colour):
        found = structure_correlations(image)
        assert len(found) == len(STRUCTURE_SCALES) == 3 and found[0] == neighbour_correlation(image)
        defined = [c for c in found if not np.isnan(c)]
        assert max(defined) < 0.1 and looks_like_noise(image) and looks_like_noise(found)
        assert np.isnan(found[2]) == (side < 128)
    f = max(1, -(-side // 256))
    for k, value in zip(STRUCTURE_SCALES, structure_correlations(grey), strict=True):
        if not np.isnan(value):
            assert abs(value - _reference_correlation(grey, k * f)) < 1e-9, k


def test_the_statistic_makes_no_float_copy_of_a_large_colour_image() -> None:
    """A 40-megapixel RGB upload cost 459 MB more at its peak (the whole image as float32
    before the block means); now one uint8 grey plane at most (6 MB here, 72 MB as float32)."""
    import tracemalloc

    image = np.random.default_rng(0).integers(0, 256, (2000, 3000, 3), dtype=np.uint8)
    tracemalloc.start()
    try:
        neighbour_correlation(image)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * 2000 * 3000, peak


def test_a_phantom_image_passes_the_structure_check() -> None:
    from data_prep.phantom import phantom_image

    assert neighbour_correlation(phantom_image(0, 7, 1, size=256)) > 2 * NOISE_CORRELATION


# --------------------------------------------------------------------------------------
# Blank and noise: refused on both tabs and by the Predictor


@pytest.mark.parametrize("what", ["blank", "noise"])
def test_blank_and_noise_are_refused_on_both_tabs_and_by_the_predictor(
        predictor: Predictor, tmp_path: Path, what: str) -> None:
    from app.server import AppSettings, _grade_batch_now, _grade_single_now

    bad = _write(tmp_path, "bad.png", np.zeros((256, 256), np.uint8) if what == "blank" else _noise(1024))
    scan = _write(tmp_path, "scan.png", _scan())
    said = "blank or near-constant" if what == "blank" else "random noise"
    markdown, label, _, _, details = _grade_single_now(predictor, AppSettings(), str(bad), None, "bad.png")
    assert label is None and "Cannot grade" in markdown and said in details["error"]
    assert "nothing to grade" in details["error"]
    with pytest.raises(InputRejected, match=said):
        predictor.predict_file(bad)
    with pytest.raises(InputRejected, match=said):
        predictor.predict_loaded(load_bytes(bad.read_bytes(), "bad.png"))
    summary, rows, csv_path, notes_path = _grade_batch_now(predictor, AppSettings(), [str(bad), str(scan)])
    assert summary.startswith("INCOMPLETE: 1 of the 2 files not graded: bad.png: ")
    assert said in summary.splitlines()[0]
    assert rows[0][0] == "bad.png" and rows[0][1] is None and rows[0][2] == "rejected"
    assert rows[1][0] == "scan.png" and rows[1][1] in (0, 1, 2)
    assert csv_path is not None and Path(csv_path).name == "grades_INCOMPLETE.csv"
    (refused,) = [r for r in _rows(csv_path) if r["case"] == "bad.png"]
    assert refused["class"] == "" and refused["notes"].startswith("NOT GRADED: ") and said in refused["notes"]
    written = _file_rows(notes_path)
    assert [r["case"] for r in written] == ["bad.png", "scan.png"]
    assert written[0]["grade"] == "" and written[0]["notes"].startswith("NOT GRADED: ")


def test_noise_the_message_says_what_was_found_and_what_to_do(predictor: Predictor, tmp_path: Path) -> None:
    bad = _write(tmp_path, "static.png", _noise(512))
    with pytest.raises(InputRejected) as caught:
        predictor.predict_file(bad)
    message = str(caught.value)
    assert "static.png" in message and "neighbouring pixels" in message
    assert f"{neighbour_correlation(_noise(512)):.2f}" in message  # the value found
    # a script's file is not an upload (a hospital's batch review); the page's words say upload
    assert "Grade the original" in message and "pload" not in message
    with pytest.raises(InputRejected, match="Upload the original"):
        predictor.predict_loaded(load_bytes(bad.read_bytes(), "static.png"))


# --------------------------------------------------------------------------------------
# The batch's notes travel with the download


def test_a_complete_batch_offers_the_submission_and_a_notes_csv(predictor: Predictor, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from app.server import AppSettings, _grade_batch_now, submission_columns
    from drac_ssl.submission import check_submission

    # a trained model's batch (the demo's grades CSV is grades_UNTRAINED_DEMO.csv instead)
    monkeypatch.setattr(predictor, "untrained", False)
    tiny = _write(tmp_path, "tiny.png", _scan(24, seed=1))  # graded, with a size warning (below 32 px)
    scan = _write(tmp_path, "scan.png", _scan(300, seed=2))
    summary, rows, csv_path, notes_path = _grade_batch_now(predictor, AppSettings(), [str(tiny), str(scan)])
    assert Path(csv_path).name == "submission.csv" and check_submission(csv_path) == []
    assert Path(notes_path).name == "grades_with_notes.csv" and "grades_with_notes.csv" in summary
    header = Path(notes_path).read_text(encoding="utf-8-sig").splitlines()[0]
    # for people (a clinician trial): the grade in words, P columns named by grade
    assert header == ("case,grade,grade_name,most_likely_grade,P_Normal,P_NPDR,P_PDR,not_reliably_gradable,"
                      "model_output_only,training_image,notes")
    assert submission_columns(3) == ["case", "class", "P0", "P1", "P2"]  # the submission's, untouched
    written = _file_rows(notes_path)
    submitted = _rows(csv_path)
    assert [r["case"] for r in written] == ["tiny.png", "scan.png"] == [r["case"] for r in submitted]
    for mine, theirs in zip(written, submitted, strict=True):  # the same grades and probabilities
        assert (mine["grade"] or mine[MODEL_OUTPUT].split(" ")[0]) == theirs["class"]
        for named, numbered in (("P_Normal", "P0"), ("P_NPDR", "P1"), ("P_PDR", "P2")):  # 3 decimals of 6
            assert float(mine[named]) == pytest.approx(float(theirs[numbered]), abs=0.0015)
    # the table's notes; the bundle's caveat once, in the first row: the warnings travel with the download
    assert "Too small" in written[0]["notes"] and written[0]["notes"] == rows[0][-1]
    # the caveat, then which model graded (grading_provenance_words)
    about = _rows(notes_path)[0]["notes"]
    assert about.startswith(predictor.caveat + " Graded by bundle metadata_sha256="), about


# --------------------------------------------------------------------------------------
# Duplicate names


def test_duplicate_names_keep_upload_order_and_say_which_was_graded(predictor: Predictor, tmp_path: Path) -> None:
    from app.server import AppSettings, _grade_batch_now

    first = _write(tmp_path, "d1/x.png", _scan(seed=1))
    other = _write(tmp_path, "y.png", _scan(seed=3))
    second = _write(tmp_path, "d2/x.png", _scan(seed=2))
    summary, rows, _, notes_path = _grade_batch_now(predictor, AppSettings(),
                                                    [str(first), str(other), str(second)])
    assert [r[0] for r in rows] == ["x.png", "y.png", "x.png"]
    assert rows[0][1] is not None and rows[2][1] is None  # the first graded, in upload order
    assert "the 2nd file named x.png was not graded: the 1st file of that name was" in rows[2][-1]
    assert "the 2nd file named x.png was not graded" in summary.splitlines()[0]
    written = _file_rows(notes_path)
    assert [(r["case"], _graded(r)) for r in written] == [("x.png", True), ("y.png", True),
                                                          ("x.png", False)]
    # a third copy names the one that was graded
    third = _write(tmp_path, "d3/x.png", _scan(seed=4))
    _, rows, _, _ = _grade_batch_now(predictor, AppSettings(), [str(first), str(second), str(third)])
    assert "the 3rd file named x.png was not graded: the 1st file of that name was" in rows[2][-1]


def test_a_repeated_name_says_each_files_place_even_when_the_first_was_refused(
        predictor: Predictor, tmp_path: Path) -> None:
    """A review found ``d2/x.png`` (noise), ``a.png``, ``d1/x.png`` (a scan): two ``x.png`` rows
    in both CSVs, one NOT GRADED and one graded, and an INCOMPLETE line saying only
    ``x.png: looks like random noise``: which x.png? Once a name repeats in a batch, every row
    and reason of that name says its place, graded or not."""
    from app.server import AppSettings, _grade_batch_now

    noise = _write(tmp_path, "d2/x.png", _noise(512))
    other = _write(tmp_path, "a.png", _scan(seed=3))
    real = _write(tmp_path, "d1/x.png", _scan(seed=1))
    summary, rows, csv_path, notes_path = _grade_batch_now(predictor, AppSettings(),
                                                           [str(noise), str(other), str(real)])
    first = summary.splitlines()[0]
    assert first.startswith("INCOMPLETE: 1 of the 3 files not graded: the 1st file named x.png: ")
    assert "random noise" in first
    assert rows[0][1] is None and rows[0][-1].startswith("the 1st file named x.png: ")
    assert rows[2][1] is not None and rows[2][-1].startswith("the 2nd file named x.png")
    assert "a.png" == rows[1][0] and "file named" not in rows[1][-1]  # a name said once: as before
    for path in (csv_path, notes_path):
        xs = {_graded(r): r["notes"] for r in _rows(path) if r["case"] == "x.png"}
        assert xs[False].startswith("NOT GRADED: the 1st file named x.png: ") and "random noise" in xs[False]
        assert xs[True].startswith("the 2nd file named x.png"), path


# --------------------------------------------------------------------------------------
# The caveat in the result


def _phantom_bundle(tmp_path: Path) -> Path:
    bundle = build_demo_bundle(tmp_path / "run", image_size=32, source_size=48, n_folds=1)
    meta_path = bundle / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta.pop("demo")
    meta["data"] = {"kind": "phantom", "n_train": 611}
    meta_path.write_text(json.dumps(meta))
    return bundle


def test_the_result_carries_the_bundles_caveat(predictor: Predictor, tmp_path: Path) -> None:
    from app.server import AppSettings, _grade_batch_now, _grade_single_now, model_caveat

    scan = _write(tmp_path, "scan.png", _scan())
    phantom = Predictor(_phantom_bundle(tmp_path), gradcam=False)
    for pred_, words in ((predictor, "Untrained demo model"), (phantom, "Trained on phantom images")):
        caveat = pred_.caveat
        assert words in caveat and "not a medical device" in caveat
        pred = pred_.predict_file(scan, gradcam=False)
        assert caveat in pred.warnings and caveat in pred.as_dict()["warnings"]
        markdown, _, _, _, details = _grade_single_now(pred_, AppSettings(gradcam=False), str(scan), None, "scan.png")
        assert caveat in details["warnings"] and caveat in markdown
        assert markdown.index(caveat) < markdown.index("\n### ")  # the grade's heading
        summary, rows, csv_path, notes_path = _grade_batch_now(pred_, AppSettings(), [str(scan)])
        assert caveat in summary and caveat not in rows[0][-1]  # once, not on every row of the page
        # but in the notes CSV, the file that gets passed on (a review: it lost "trained on phantom
        # images"), once, in its first row (a clinician trial: the same caveat on every row); the
        # submission keeps DRAC's columns
        about, row = [r["notes"] for r in _rows(notes_path)]
        assert about.startswith(model_caveat(pred_) + " Graded by bundle ") and row == rows[0][-1]
        assert caveat in model_caveat(pred_)
        assert list(_rows(csv_path)[0]) == ["case", "class", "P0", "P1", "P2"]
        assert caveat not in Path(csv_path).read_text(encoding="utf-8")
    # a trained bundle not on phantom data: not a medical device, nothing about phantoms
    meta_path = phantom.path / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["data"] = {"kind": "drac", "n_train": 611}
    meta_path.write_text(json.dumps(meta))
    real = Predictor(phantom.path, gradcam=False)
    assert "not a medical device" in real.caveat and "phantom" not in real.caveat.lower()
    assert "Untrained" not in real.caveat


def test_the_unlike_warning_says_phantom_when_the_bundle_was_trained_on_phantoms(tmp_path: Path,
                                                                                 one_thread: None) -> None:
    phantom = Predictor(_phantom_bundle(tmp_path), gradcam=False)
    assert phantom.training_images_words == "phantom UW-OCTA images"
    assert Predictor(build_demo_bundle(tmp_path / "demo", image_size=32, source_size=48, n_folds=1),
                     gradcam=False).training_images_words == "UW-OCTA images"


def test_an_upload_with_the_phantom_marker_is_said_to_be_a_synthetic_phantom(
        predictor: Predictor, tmp_path: Path) -> None:
    """A PNG drawn by data_prep.phantom carries drac_ssl's marker (data_prep.decode sets
    ``phantom`` on the decoded image); the app said nothing of it. The page, the API's result
    and the batch's notes CSV now say it is a synthetic phantom, not a patient's: a doubt for a
    model not trained on phantoms (counted by the batch summary), a plain note for one that was;
    a PNG without the marker gets neither."""
    from app.server import AppSettings, _grade_batch_now, _grade_single_now
    from data_prep.phantom import encode_phantom_png, phantom_image
    from drac_ssl.grading.image_notes import PHANTOM_WORDS, phantom_image_warning

    marked = tmp_path / "phantom.png"
    marked.write_bytes(encode_phantom_png(phantom_image(0, 7, 1, 128)))
    plain = _write(tmp_path, "scan.png", _scan())
    doubt = phantom_image_warning(trained_on_phantoms=False)
    assert PHANTOM_WORDS == "a synthetic phantom image drawn by drac_ssl, not a patient's" and PHANTOM_WORDS in doubt
    pred = predictor.predict_file(marked, gradcam=False)
    assert doubt in pred.warnings and doubt in pred.as_dict()["warnings"]  # the API's result
    assert not pred.not_reliably_gradable  # the model reads it as any picture
    assert not any(PHANTOM_WORDS in w for w in predictor.predict_file(plain, gradcam=False).warnings)
    markdown, _, _, _, details = _grade_single_now(predictor, AppSettings(gradcam=False), str(marked), None,
                                                   "phantom.png")
    assert f"- {doubt}" in markdown and doubt in details["warnings"]
    summary, rows, _, notes_path = _grade_batch_now(predictor, AppSettings(), [str(marked), str(plain)])
    notes = {r["case"]: r["notes"] for r in _file_rows(notes_path)}
    assert doubt in notes["phantom.png"] and PHANTOM_WORDS not in notes["scan.png"]
    assert "(1 synthetic phantom image)" in summary, summary
    # a model trained on phantoms: the demonstration's own kind of image, a plain note
    trained = Predictor(_phantom_bundle(tmp_path), gradcam=False)
    note = phantom_image_warning(trained_on_phantoms=True)
    pred = trained.predict_file(marked, gradcam=False)
    assert note in pred.warnings and doubt not in pred.warnings
    markdown, *_ = _grade_single_now(trained, AppSettings(gradcam=False), str(marked), None, "phantom.png")
    assert f"Note: {note}" in markdown and "(⚠ see above)" not in markdown


# --------------------------------------------------------------------------------------
# Wording next to the grade, and a file of another type on the single-image tab


def test_a_grade_other_than_the_most_probable_is_said_next_to_the_grade(
        predictor: Predictor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A review: "grade 1 is the expected grade cut at the model's thresholds" and "Grade =
    expected grade Σ k·P_k cut at the bundle's kappa-tuned thresholds" could not be explained to
    a doctor. The result says it in words; the rule is in the details JSON only."""
    from dataclasses import replace

    from app.server import AppSettings, _grade_single_now, _result_markdown

    pred = predictor.predict(_scan(), gradcam=False)
    assert predictor.bundle.calibration.decision == "thresholds"
    probs = np.array([0.60, 0.05, 0.35])  # expected grade 0.75: NPDR at thresholds 0.5 / 1.5
    differs = replace(pred, grade=1, grade_name="NPDR", probs=probs)
    markdown = _result_markdown(differs, predictor)
    heading = markdown.index("### Untrained demo — model output: Grade 1 NPDR")  # the demo bundle's
    sentence = ("The single most likely grade is 0 Normal (60%); the model's overall score, which "
                "weighs all grades, falls in the 1 NPDR range, the grade shown.")
    assert sentence in markdown and markdown.index(sentence) > heading
    assert "<small>" not in markdown[heading:markdown.index(sentence)]
    assert "Σ" not in markdown and "kappa" not in markdown and "expected grade" not in markdown
    same = replace(pred, grade=0, grade_name="Normal", probs=np.array([0.7, 0.2, 0.1]))
    assert "most likely grade" not in _result_markdown(same, predictor)
    scan = _write(tmp_path, "scan.png", _scan(300))
    _, _, _, _, details = _grade_single_now(predictor, AppSettings(gradcam=False), str(scan), None, "scan.png")
    assert details["decision"] == ("Grade = expected grade Σ k·P_k cut at the untrained demo bundle's "
                                   "evenly spaced default thresholds 0.500 / 1.500, tuned on no image; "
                                   "it may differ from the most probable grade.")
    from app.server import decision_rule

    monkeypatch.delitem(predictor.metadata, "demo")  # a trained bundle's thresholds
    assert decision_rule(predictor) == ("Grade = expected grade Σ k·P_k cut at the bundle's kappa-tuned "
                                        "thresholds 0.500 / 1.500; it may differ from the most probable grade.")


def test_a_borderline_result_is_said_under_the_grade_and_in_the_batch_notes(predictor: Predictor,
                                                                            tmp_path: Path) -> None:
    """A review: three real DRAC scans came out 0.477 / 0.474 and the like, headed "Grade 0 —
    Normal" with no word that the model could not tell the two grades apart."""
    from dataclasses import replace

    from app.predict import BORDERLINE_POINTS, borderline_grades, borderline_words
    from app.server import (
        AppSettings,
        _decision_words,
        _grade_batch_now,
        _result_markdown,
        close_grades_words,
    )

    names = ["Normal", "NPDR", "PDR"]
    assert BORDERLINE_POINTS == 10
    assert borderline_words([0.477, 0.474, 0.049], names) == (
        "Borderline: the model cannot tell 0 Normal from 1 NPDR on this image (48% vs 47%).")
    assert borderline_words([0.069, 0.455, 0.476], names).endswith("1 NPDR from 2 PDR on this image (45% vs 48%).")
    assert borderline_words([0.45, 0.20, 0.35], names) is not None  # at the margin: 45% vs 35%
    # judged on the percentages shown: both read 55% vs 45%, so both are borderline (the exact
    # 0.5501 - 0.4499 is 0.1002, over 0.10; it said nothing while 0.5499 / 0.4501 was borderline)
    for probs in ([0.5499, 0.4501, 0.0], [0.5501, 0.4499, 0.0]):
        assert borderline_words(probs, names) == ("Borderline: the model cannot tell 0 Normal from 1 NPDR "
                                                  "on this image (55% vs 45%)."), probs
    assert borderline_grades([0.556, 0.444, 0.0]) == []  # 56% vs 44%: 12 points
    assert borderline_grades([0.554, 0.446, 0.0]) == [0, 1]  # 55% vs 45%
    assert borderline_words([0.60, 0.30, 0.10], names) is None
    assert borderline_words([0.50, 0.39, 0.11], names) is None  # 0.11 apart
    assert "0 Normal, 1 NPDR and 2 PDR apart" in borderline_words([0.34, 0.33, 0.33], names)
    pred = predictor.predict(_scan(), gradcam=False)
    close = replace(pred, grade=0, grade_name="Normal", probs=np.array([0.477, 0.474, 0.049]))
    markdown = _result_markdown(close, predictor)
    line = "**Borderline: the model cannot tell 0 Normal from 1 NPDR on this image (48% vs 47%).**"
    heading = "### Untrained demo — model output: Grade 0 Normal"  # the demo bundle's heading
    assert markdown.split("\n")[markdown.split("\n").index(heading) + 1] == line
    assert close.as_dict()["borderline"] == line.strip("*")
    clear = replace(pred, grade=0, grade_name="Normal", probs=np.array([0.7, 0.2, 0.1]))
    assert "Borderline" not in _result_markdown(clear, predictor) and clear.as_dict()["borderline"] is None
    # the batch: the untrained demo model gives each grade about a third
    scans = [str(_write(tmp_path, f"s{i}.png", _scan(300, seed=i))) for i in range(2)]
    summary, rows, _, notes_path = _grade_batch_now(predictor, AppSettings(), scans)
    for row, written in zip(rows, _file_rows(notes_path), strict=True):
        said = borderline_words(row[3:6], names)
        # then, when the grade is not the most likely one, why (as under the single result)
        decision = _decision_words(row[3:6], row[1], predictor)
        assert said is not None and row[-1].endswith(" ".join(x for x in (said, decision) if x))
        assert said in written["notes"]
    assert "**2 of the 2 graded images are borderline**" in summary
    # a trial: every grade equally likely was said "cannot tell two grades apart"
    assert all(len(borderline_grades(row[3:6])) == 3 for row in rows)
    assert "the model cannot tell all three grades apart on them" in summary, summary
    assert close_grades_words([[0.45, 0.44, 0.11]], ["x"], 3) == "two grades"
    assert close_grades_words([[0.45, 0.44, 0.11], [0.34, 0.33, 0.33]], ["x", "y"], 3) == "two or more grades"
    assert close_grades_words([[0.3, 0.3, 0.3, 0.05, 0.05]], ["x"], 5) == "three grades"
    assert close_grades_words([[0.34, 0.33, 0.33], [0.45, 0.44, 0.11]], ["x", None], 3) == "all three grades"


def test_no_borderline_line_for_an_image_not_reliably_gradable(predictor: Predictor,
                                                                tmp_path: Path) -> None:
    """A review: "### Not reliably gradable (a colour picture, not UW-OCTA) — model output: ..."
    was followed by a bold "Borderline: the model cannot tell 0 Normal from 2 PDR": for an image
    the model should not grade, a close call between two named grades invites reading it. Not
    said on the page, nor in the batch's notes column and count."""
    from dataclasses import replace

    from app.server import AppSettings, _grade_batch_now, _result_markdown, shown_borderline
    from drac_ssl.grading.image_notes import COLOUR_NOT_OCTA

    names = ["Normal", "NPDR", "PDR"]
    colour = ("Colour image: RGB image (converted to grayscale: luminance of the colour channels). "
              f"{COLOUR_NOT_OCTA}.")
    close = [0.477, 0.474, 0.049]
    assert shown_borderline(close, names, [colour]) is None
    assert shown_borderline(close, names, ["Note: 16-bit image converted to 8-bit."]) is not None
    pred = replace(predictor.predict(_scan(), gradcam=False), grade=0, grade_name="Normal",
                   probs=np.array(close), warnings=[colour])
    markdown = _result_markdown(pred, predictor)
    assert "### Not reliably gradable (a colour picture, not UW-OCTA)" in markdown, markdown
    assert "Borderline" not in markdown
    assert "Borderline" in _result_markdown(replace(pred, warnings=[]), predictor)
    # the details JSON and Prediction.borderline agree with the page (a trial: the JSON said it)
    assert pred.borderline is None and pred.as_dict()["borderline"] is None
    assert replace(pred, warnings=[]).as_dict()["borderline"] is not None
    # the batch: the untrained demo model gives each grade about a third, so both are close calls
    grey = _write(tmp_path, "grey.png", _scan(300, seed=1))
    photo = _write(tmp_path, "photo.png", np.stack([_scan(300, seed=2), _scan(300, seed=3),
                                                    _scan(300, seed=4)], axis=-1))
    summary, rows, _, notes_path = _grade_batch_now(predictor, AppSettings(), [str(grey), str(photo)])
    notes = {row[0]: row[-1] for row in rows}
    written = {row["case"]: row["notes"] for row in _file_rows(notes_path)}
    assert "Colour image" in notes["photo.png"], notes
    assert "Borderline" in notes["grey.png"] and "Borderline" in written["grey.png"], notes
    assert "Borderline" not in notes["photo.png"] and "Borderline" not in written["photo.png"]
    assert "**1 of the 2 graded images is borderline**" in summary, summary


def test_a_batch_row_not_reliably_gradable_says_so_first_and_in_its_grade_cell(
        predictor: Predictor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A trial: the batch said "not reliably gradable" only in a summary count and the name
    grades_FLAGGED.csv, never on a row, while the single-image page heads the same image "Not
    reliably gradable". Each such row's notes now start with the verdict and its reasons, its
    grade cell says it (the class cell keeps the number), and grades_with_notes.csv has a
    not_reliably_gradable column (the export's notes-file column) before the notes."""
    from app.server import AppSettings, _grade_batch_now, batch_notes
    from drac_ssl.submission import check_submission

    # a trained model's batch (the demo's is grades_UNTRAINED_DEMO.csv, its cells marked so)
    monkeypatch.setattr(predictor, "untrained", False)
    grey = _write(tmp_path, "grey.png", _scan(300, seed=1))
    photo = _write(tmp_path, "photo.png", np.stack([_scan(300, seed=2), _scan(300, seed=3),
                                                    _scan(300, seed=4)], axis=-1))
    summary, rows, csv_path, notes_path = _grade_batch_now(predictor, AppSettings(), [str(grey), str(photo)])
    assert Path(csv_path).name == "grades_FLAGGED.csv"
    by_case = {row[0]: row for row in rows}
    flagged, clean = by_case["photo.png"], by_case["grey.png"]
    verdict = "NOT RELIABLY GRADABLE: a colour picture, not UW-OCTA."
    assert flagged[-1].startswith(verdict + " Colour image"), flagged[-1]
    assert isinstance(flagged[1], int)
    assert flagged[2] == f"{predictor.class_names[flagged[1]]} (not reliably gradable)"
    assert clean[2] == predictor.class_names[clean[1]] and "RELIABLY" not in clean[-1]
    # the summary says where each image's reasons are: the column and the file (a review)
    assert ("named FLAGGED because 1 of the 2 graded images is not reliably gradable), and "
            "`grades_with_notes.csv`") in summary, summary
    assert ("the reasons per image are in the `not_reliably_gradable` column of `grades_with_notes.csv`, "
            "and those images' notes (in the table too) start NOT RELIABLY GRADABLE") in summary, summary
    written = {r["case"]: r for r in _file_rows(notes_path)}
    assert written["photo.png"]["not_reliably_gradable"] == "a colour picture, not UW-OCTA"
    assert written["grey.png"]["not_reliably_gradable"] == "no"  # a word, not an empty cell
    # its grade only as the model's output (a trial: a texture's row read class 2)
    assert written["photo.png"]["grade"] == "" and written["photo.png"]["grade_name"] == ""
    assert written["photo.png"][MODEL_OUTPUT] == f"{flagged[1]} {predictor.class_names[flagged[1]]}"
    assert written["photo.png"]["notes"].startswith(verdict)
    # --check still names the file for what it is (the app's notes CSV for people), in one problem
    (problem,) = check_submission(notes_path)
    assert "this is the app's grades_with_notes.csv" in problem and "not a submission" in problem, problem
    # doubts before plain notes, then the borderline line; the verdict first of all
    said = batch_notes("the 2nd file named x.png", "", ["Note: 16-bit image converted.", "Not square: 300 x 200."],
                       None, ["a thresholded export or mask"])
    assert said == ("NOT RELIABLY GRADABLE: a thresholded export or mask. the 2nd file named x.png (graded). "
                    "Not square: 300 x 200. Note: 16-bit image converted.")
    assert batch_notes("", "Unlike the training images.", ["Note: a."], "Borderline: b.", []) == (
        "Unlike the training images. Note: a. Borderline: b.")


def test_a_tie_for_the_most_likely_grade_names_the_tied_grades() -> None:
    """A review: with P 0.45 / 0.10 / 0.45 the page said "The single most likely grade is 0
    Normal (45 %)" under a borderline line saying 0 and 2 are equally likely (argmax takes the
    first). A tie at the precision shown names the tied grades; one probability format (45%)."""
    from types import SimpleNamespace as NS

    from app.server import _decision_lines

    names = ["Normal", "NPDR", "PDR"]
    model = NS(bundle=NS(calibration=NS(decision="thresholds")), regression=False, class_names=names, grade_names=names,
               calibration_warning=None)  # a calibrated model (a failed one: test_calibration_warning_page)

    def said(probs: list[float], grade: int) -> str:
        lines = _decision_lines(NS(grade=grade, probs=np.array(probs)), model)
        return lines[0] if lines else ""

    score = "; the model's overall score, which weighs all grades, falls in the 1 NPDR range, the grade shown."
    # whole percentages, the page's one precision (a clinician trial: three precisions on one page)
    assert said([0.45, 0.10, 0.45], 1) == "0 Normal and 2 PDR are equally likely (45% each)" + score
    assert said([0.451, 0.10, 0.449], 1) == "0 Normal and 2 PDR are equally likely (45% each)" + score
    # shown 33 / 34 / 33: "about", as the figures beside differ; 1/3 each is shown 33 / 33 / 33
    assert said([0.333, 0.334, 0.333], 0).startswith("0 Normal, 1 NPDR and 2 PDR are equally likely (about 33% each)")
    assert said([1 / 3] * 3, 1).startswith("0 Normal, 1 NPDR and 2 PDR are equally likely (33% each)")
    assert said([0.60, 0.05, 0.35], 1) == "The single most likely grade is 0 Normal (60%)" + score
    # the grade shown is one of the tied grades: still not called the single most likely
    assert said([0.10, 0.45, 0.45], 1).startswith("1 NPDR and 2 PDR are equally likely")
    assert said([0.10, 0.80, 0.10], 1) == ""
    assert _decision_lines(NS(grade=1, probs=np.array([0.45, 0.10, 0.45])),
                           NS(**{**vars(model), "bundle": NS(calibration=NS(decision="argmax"))})) == []


def test_the_batch_notes_say_why_a_grade_is_not_the_most_likely_as_the_page_does(
        predictor: Predictor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A new-user trial (F5): an image shown grade 0 with P(NPDR) 0.54 was explained only on the
    single-image page. The sentence is one function (drac_ssl.grading.image_notes.decision_words):
    the page's line, the batch row's notes and its grades_with_notes.csv say the same; a row
    whose grade is its most likely says nothing of it."""
    from dataclasses import replace

    from app.server import AppSettings, _decision_lines, _grade_batch_now
    from drac_ssl.grading.image_notes import decision_words

    names = predictor.class_names
    decision = predictor.bundle.calibration.decision
    assert decision == "thresholds", decision  # the demo bundle cuts the expected grade
    off, clean = np.array([0.40, 0.54, 0.06]), np.array([0.10, 0.80, 0.10])
    sentence = decision_words(off, 0, names, decision)
    assert sentence == (f"The single most likely grade is 1 {names[1]} (54%); the model's overall "
                        f"score, which weighs all grades, falls in the 0 {names[0]} range, the grade shown.")
    assert decision_words(off, 1, names, decision) == "" and decision_words(off, 0, names, "argmax") == ""
    pred = replace(predictor.predict(_scan(), gradcam=False), grade=0, grade_name=names[0], probs=off)
    assert _decision_lines(pred, predictor) == [sentence, ""]
    real = predictor.grade_prepared_sentences

    answers = iter([(off, 0), (clean, 1)])  # the batch grades one image per call, in its order

    def graded_as_the_trial(prepared: list, warnings: list | None = None) -> tuple:
        _, _, unlike, said = real(prepared, warnings)
        probs, grade = next(answers)
        return probs[None], np.array([grade]), unlike, said

    monkeypatch.setattr(predictor, "grade_prepared_sentences", graded_as_the_trial)
    paths = [str(_write(tmp_path, "a.png", _scan(128, seed=1))), str(_write(tmp_path, "b.png", _scan(128, seed=2)))]
    _, rows, _, notes_path = _grade_batch_now(predictor, AppSettings(), paths)
    notes = {row[0]: row[-1] for row in rows}
    written = {row["case"]: row["notes"] for row in _file_rows(notes_path)}
    assert sentence in notes["a.png"] and sentence in written["a.png"], notes
    assert "most likely" not in notes["b.png"] and "most likely" not in written["b.png"], notes


def test_the_batch_counts_every_graded_image_that_carries_a_warning_by_kind(predictor: Predictor,
                                                                          tmp_path: Path) -> None:
    """A review: a thresholded mask was graded with its warning in the notes, but the summary
    counted only the images unlike the training images."""
    from app.server import AppSettings, _grade_batch_now, doubt_kind

    clean = _write(tmp_path, "clean.png", _scan(300, seed=1))
    mask = _write(tmp_path, "mask.png", np.where(_scan(300, seed=2) > 80, 255, 0).astype(np.uint8))
    tiny = _write(tmp_path, "tiny.png", _scan(24, seed=3))  # below the 32 px input: too small
    summary, rows, _, _ = _grade_batch_now(predictor, AppSettings(), [str(clean), str(mask), str(tiny)])
    assert [r[2] != "rejected" for r in rows] == [True] * 3
    assert ("⚠ **2 of the 3 graded images carry a warning** (1 too small, 1 thresholded export or "
            "mask): see the notes column") in summary, summary
    assert doubt_kind("Image file: something odd.") == "finding in the file"
    assert doubt_kind("Something new.") == "other warning"


def test_a_text_file_is_said_to_hold_plain_text_never_quoted(predictor: Predictor, tmp_path: Path) -> None:
    """A review: a clinical note saved as notes.png had its first words ("Patient: Jane Doe ...")
    quoted on the page and in both batch CSVs. The app says "plain text" (the file's name says
    which file it was); the ingest's own words (data_prep.decode.content_words) say the same
    since security review F3."""
    from app.server import AppSettings, _grade_batch_now, _grade_single_now
    from data_prep.decode import content_words

    note = tmp_path / "notes.png"
    note.write_text("Patient: Jane Doe Visit 2024-01-02\n", encoding="utf-8")
    assert content_words(note.read_bytes()) == "plain text"
    markdown, _, _, _, details = _grade_single_now(predictor, AppSettings(), str(note), None, "notes.png")
    assert "it holds plain text" in markdown and "Jane" not in markdown + details["error"]
    scan = _write(tmp_path, "scan.png", _scan(300))
    summary, rows, csv_path, notes_path = _grade_batch_now(predictor, AppSettings(), [str(note), str(scan)])
    written = Path(csv_path).read_text(encoding="utf-8-sig") + Path(notes_path).read_text(encoding="utf-8-sig")
    assert "it holds plain text" in rows[0][-1] and "it holds plain text" in written
    assert "Jane" not in summary + written + str(rows)


def test_the_picture_is_called_the_upload_and_the_result_says_the_models_input_size(
        predictor: Predictor) -> None:
    """A review: the picture labelled "as the model reads it" was a sharp 768 px one, where the
    model read 64 px, and the page never said plainly that lesions are not resolved at that size."""
    from types import SimpleNamespace

    from app.server import _image_caption, _result_markdown, model_view_words

    caption = _image_caption(predictor)
    assert caption.startswith("Uploaded image (8-bit grey") and "as the model reads it" not in caption
    assert "the model sees it at 32 x 32 px" in caption
    said = "The model sees this image at 32 x 32 px, whatever its size: at this size individual lesions are not resolved"
    assert said in _result_markdown(predictor.predict(_scan(), gradcam=False), predictor)
    large = SimpleNamespace(bundle=SimpleNamespace(spec=SimpleNamespace(image_size=512)))
    assert model_view_words(large) == "The model sees this image at 512 x 512 px, whatever its size."


def test_sizes_are_said_in_mib_the_unit_of_the_limit(tmp_path: Path) -> None:
    """A review: a 60,824,832-byte file was called "58.0 MB" (it is 58.0 MiB, 60.8 MB)."""
    from app.inputs import InputLimits

    with pytest.raises(InputRejected, match=r"`big.png` is 1\.5 MiB, above the limit of 1 MiB\. "):
        load_bytes(b"\0" * (3 * 512 * 1024), "big.png", InputLimits(max_bytes=1024 * 1024))


def test_a_text_file_on_the_single_tab_gets_the_apps_words(predictor: Predictor, tmp_path: Path) -> None:
    """gradio's own check of ``file_types`` answered a .txt with "Invalid file type. Please
    upload a file that is one of these formats: ['.png', ...]": the single-image upload no
    longer sets it (as the batch's), so the app's loader says it in words."""
    from app.server import AppSettings, _grade_single_now, build_demo

    text = tmp_path / "letter.txt"
    text.write_text("referral letter\n", encoding="utf-8")
    markdown, label, _, _, details = _grade_single_now(predictor, AppSettings(), str(text), None, "letter.txt")
    assert label is None and "letter.txt" in details["error"] and "not an image" in details["error"]
    assert "['" not in details["error"]
    demo = build_demo(predictor, AppSettings())
    uploads = [b for b in demo.blocks.values() if type(b).__name__ == "File" and b.interactive is not False]
    assert uploads and all(not b.file_types for b in uploads)


def test_a_blank_colour_upload_is_said_in_pixel_values_and_noise_as_an_image(tmp_path: Path) -> None:
    """A review: the blank refusal of a colour image said "grey levels 135..135" (the app had
    read it in colour), and the export's noise line said "if it should be a scan, it is
    damaged" of any image. A colour upload's range is now its pixel values (per channel when
    they differ), a grey one's its grey levels, and the export says "image"."""
    from app.inputs import refusal
    from drac_ssl.export import _noise_line

    flat = load_bytes(_png(np.full((64, 64, 3), 135, np.uint8)), "flat.png", channels=3)
    said = refusal(flat, "fundus", 3)
    assert "(pixel values 135..135)" in said and "grey levels" not in said, said
    red = np.zeros((64, 64, 3), np.uint8)
    red[..., 0] = 200
    said = refusal(load_bytes(_png(red), "red.png", channels=3), "fundus", 3)
    assert "(pixel values: red 200..200, green 0..0, blue 0..0)" in said, said
    assert "grey levels 0..0" in refusal(load_bytes(_png(np.zeros((64, 64), np.uint8)), "b.png"))
    line = _noise_line(np.array([True]), ["static.png"])
    assert "if it should be a scan" not in line and "if it should be a real image, it is damaged" in line


def test_a_batch_says_its_caveat_of_its_grades_and_the_export_says_the_phantom_caveat(
        predictor: Predictor, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A review: the batch summary said the single image's "Do not use this grade" of a batch,
    and the export command never said the phantom caveat the app shows (nor the trial run's).
    The batch says "these grades"; the export says the bundle's own caveats on stderr, in the
    app's words (drac_ssl.grading.bundle.grade_caveats), the CSV as it was."""
    from app.server import AppSettings, _grade_batch_now
    from drac_ssl import export
    from drac_ssl.grading.bundle import grade_caveats

    scans = [str(_write(tmp_path, f"s{i}.png", _scan(seed=i))) for i in range(2)]
    phantom = Predictor(_phantom_bundle(tmp_path), gradcam=False)
    meta_path = phantom.path / "metadata.json"
    plain_meta = {**json.loads(meta_path.read_text()), "data": {"kind": "drac", "n_train": 611}}
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "bundle").mkdir()
    for f in phantom.path.iterdir():
        (tmp_path / "plain" / "bundle" / f.name).write_bytes(f.read_bytes())
    (tmp_path / "plain" / "bundle" / "metadata.json").write_text(json.dumps(plain_meta))
    plain = Predictor(tmp_path / "plain" / "bundle", gradcam=False)
    assert "Do not use this grade " in plain.caveat
    summary, _, _, _ = _grade_batch_now(plain, AppSettings(), scans)
    assert "Do not use these grades to diagnose" in summary and "this grade" not in summary
    summary, _, _, _ = _grade_batch_now(phantom, AppSettings(), scans)
    assert "these grades say nothing about a real eye" in summary and "this grade" not in summary
    summary, _, _, _ = _grade_batch_now(phantom, AppSettings(), scans[:1])  # one image: its grade
    assert phantom.caveat in summary
    assert grade_caveats(json.loads(meta_path.read_text()), plural=True) == [
        "Trained on phantom images (procedural stand-ins, not patient data): these grades say "
        "nothing about a real eye."]
    folder = tmp_path / "images"
    folder.mkdir()
    for scan in scans:
        (folder / Path(scan).name).write_bytes(Path(scan).read_bytes())
    capsys.readouterr()
    assert export.main([str(phantom.path), "--images", str(folder), "--out", str(tmp_path / "p.csv")]) == 0
    err = capsys.readouterr().err
    assert ("warning: Trained on phantom images (procedural stand-ins, not patient data): these "
            "grades say nothing about a real eye.") in err, err
    assert export.main([str(plain.path), "--images", str(folder), "--out", str(tmp_path / "q.csv")]) == 0
    assert "phantom" not in capsys.readouterr().err.lower()
    assert (tmp_path / "p.csv").read_text() == (tmp_path / "q.csv").read_text()  # the same grades
    trial = {**plain_meta, "trial_run": {"trial": True, "why": "the pretraining was cut short (capped)"}}
    (tmp_path / "plain" / "bundle" / "metadata.json").write_text(json.dumps(trial))
    assert export.main([str(plain.path), "--images", str(folder), "--out", str(tmp_path / "q.csv")]) == 0
    assert "warning: From a trial run (its training was cut short)" in capsys.readouterr().err


def test_the_commands_limits_are_input_limits_defaults() -> None:
    """drac-ssl-app's --max-size-mb / --max-side / --max-megapixels defaults and AppSettings'
    are InputLimits' (50 MiB, 8192 px, 40 megapixels), typed once in
    drac_ssl/grading/image_file.py: the served limits are the library's."""
    from app.__main__ import parse_args
    from app.server import AppSettings
    from drac_ssl.grading.image_file import DEFAULT_LIMITS

    args = parse_args([])
    served = AppSettings(max_mb=args.max_size_mb, max_side=args.max_side,
                         max_megapixels=args.max_megapixels).limits
    assert served == AppSettings().limits == DEFAULT_LIMITS


def test_the_batch_notes_graded_by_row_names_the_bundle_and_counts_the_graded_images(
        predictor: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Catches the batch notes' "Graded by bundle ..." row counting other than the rows the
    batch graded (the CSV's), or naming less than the bundle's full identity."""
    from app.server import AppSettings, _grade_batch_now

    monkeypatch.setattr(predictor, "untrained", False)
    files = [str(_write(tmp_path, f"scan{i}.png", _scan(200, seed=i))) for i in range(3)]
    _summary, _table, csv_path, notes_path = _grade_batch_now(predictor, AppSettings(), files)
    graded = len(_rows(csv_path))
    about = _rows(notes_path)[0]["notes"]
    identity = predictor.bundle.identity
    assert f"metadata_sha256={identity['metadata_sha256']}; variant={identity['variant']}" in about, about
    assert about.endswith(f", {graded} image{'' if graded == 1 else 's'}."), (graded, about)
