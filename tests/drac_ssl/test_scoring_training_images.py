"""``--score``'s word on graded images that trained the model (review s56r3 F2, F7): a folder
holding only some of the cases does not override the export's notes file for the others, and a
RUN that is no run or bundle folder is a warning, not a score thrown away. No torch: a bundle
folder here is its metadata.json and model card."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from drac_ssl import scoring
from drac_ssl.export import main as export_main
from drac_ssl.grading.training_images import file_prefix, training_images_record
from drac_ssl.submission import image_notes_path, write_image_notes, write_submission
from tests.helpers.export_without_torch import export_in_fresh_process

CASES = ["a.png", "b.png", "c.png"]


def _setup(tmp_path: Path) -> tuple[Path, Path, Path, Path]:
    """A 3-case 5-grade submission whose notes file marks a.png and b.png as training images,
    labels for it, a bundle listing a.png's and b.png's bytes, and a folder holding only c.png
    (not a training image)."""
    originals = tmp_path / "originals"
    originals.mkdir()
    for i, case in enumerate(CASES):
        (originals / case).write_bytes(f"image {i}".encode())
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "MODEL_CARD.md").write_text("# model\n")
    trained = [file_prefix(originals / c) for c in CASES[:2]]
    # training_images_record takes full digests; a prefix is its own first 16 digits
    (bundle / "metadata.json").write_text(json.dumps({"training_images": training_images_record(trained, [])}))
    sub = tmp_path / "m.csv"
    probs = np.full((3, 5), 0.2)
    probs[:, 0] = 0.2001
    write_submission(sub, CASES, probs / probs.sum(1, keepdims=True), num_grades=5)
    write_image_notes(image_notes_path(sub), CASES, [0, 0, 0], [[], [], []], [True, True, False])
    labels = tmp_path / "labels.csv"
    labels.write_text("image,level\na,0\nb,1\nc,2\n")
    folder = tmp_path / "some"
    folder.mkdir()
    (folder / "c.png").write_bytes((originals / "c.png").read_bytes())
    return sub, labels, bundle, folder


def test_a_folder_with_some_of_the_cases_keeps_the_notes_file_for_the_others(tmp_path: Path) -> None:
    sub, _, bundle, folder = _setup(tmp_path)
    told = scoring.training_images_check(sub, str(bundle), str(folder))
    assert told is not None and told["n"] == 2 and told["of"] == 3, told
    assert told["line"].startswith("2 of 3 images were used to train this model")
    assert "unchecked" not in told and "note" not in told
    # without the notes file: the cases with no file are named, not counted clean
    image_notes_path(sub).unlink()
    told = scoring.training_images_check(sub, str(bundle), str(folder))
    assert told is not None and told["n"] == 0 and told["of"] == 1 and told["line"] == ""
    assert told["unchecked"] == ["a.png", "b.png"]
    assert "2 of the 3 graded case(s) could not be checked" in told["note"] and "a.png, b.png" in told["note"]


def test_score_command_warns_on_partial_folders_and_names_unchecked_cases(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sub, labels, bundle, folder = _setup(tmp_path)
    score = [str(bundle), "--score", str(sub), "--labels", str(labels), "--images", str(folder)]
    assert export_main(score) == 0
    err = capsys.readouterr().err
    assert "warning: 2 of 3 images were used to train this model" in err, err


def test_a_run_that_is_no_run_folder_keeps_the_score_and_its_json(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sub, labels, _, _ = _setup(tmp_path)
    out_json = tmp_path / "score.json"
    assert export_main([str(tmp_path / "no-such-run"), "--score", str(sub), "--labels", str(labels),
                        "--json", str(out_json)]) == 0
    captured = capsys.readouterr()
    assert "QWK" in captured.out, captured.out
    assert f"warning: RUN {tmp_path / 'no-such-run'} is no run or bundle folder" in captured.err
    assert "warning: 2 of 3 images were used to train this model" in captured.err  # the notes file still tells
    record = json.loads(out_json.read_text())
    assert "qwk" in record and "is no run or bundle folder" in record["training_images_problem"]
    assert record["training_images"]["n"] == 2


def _pixels_setup(tmp_path: Path, channels: int = 3) -> tuple[Path, Path, Path, np.ndarray]:
    """A bundle (``channels``) whose training list holds one image's decoded pixels, not its
    file (a row of a MedMNIST .npz), a folder holding that image as a PNG (a.png), and a new
    one (c.png), and a 2-case submission of them; the notes file is the caller's."""
    from PIL import Image

    from data_prep.validate import pixels_sha256

    rng = np.random.default_rng(3)
    row, new = rng.integers(0, 256, (2, 28, 28, 3), dtype=np.uint8)
    folder = tmp_path / "pngs"
    folder.mkdir()
    Image.fromarray(row).save(folder / "a.png")
    Image.fromarray(new).save(folder / "c.png")
    held = row if channels == 3 else np.asarray(Image.fromarray(row).convert("L"))  # not the luminance used
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "MODEL_CARD.md").write_text("# model\n")
    from data_prep.validate import inspect_image

    decoded = inspect_image((folder / "a.png").read_bytes(), "a.png", channels=1 if channels == 1 else None,
                            expected_side=None).pixels
    assert decoded is not None and (channels == 3 or decoded.ndim == 2)
    digest = pixels_sha256(decoded)
    assert channels == 1 or digest == pixels_sha256(held)
    (bundle / "metadata.json").write_text(json.dumps({
        "input": {"channels": channels},
        "training_images": training_images_record(["ab" * 32], [digest])}))
    sub = tmp_path / "p.csv"
    probs = np.full((2, 5), 0.2)
    probs[:, 0] = 0.2001
    write_submission(sub, ["a.png", "c.png"], probs / probs.sum(1, keepdims=True), num_grades=5)
    return sub, bundle, folder, row


@pytest.mark.parametrize("channels", [3, 1])
def test_a_png_of_a_training_row_counts_by_its_decoded_pixels_as_the_export_counted_it(
        tmp_path: Path, channels: int) -> None:
    """Review F2: ``--score ... --images DIR`` on PNGs of training rows compared file hashes
    only and overrode the notes file: 0 of 80 where the export said 80 of 80. The files are
    decoded in the bundle's channels (a colour file to its luminance for a grey model) and their
    pixels compared as the export compares them; and the notes file's yes stands."""
    sub, bundle, folder, _ = _pixels_setup(tmp_path, channels)
    told = scoring.training_images_check(sub, str(bundle), str(folder))  # no notes file: the files alone
    assert told is not None and told["n"] == 1 and told["of"] == 2, told
    assert "decoded pixels" in told["source"] and "note" not in told
    # the export's notes file marks c.png (a file that says no now): its yes stands
    write_image_notes(image_notes_path(sub), ["a.png", "c.png"], [0, 0], [[], []], [True, True])
    told = scoring.training_images_check(sub, str(bundle), str(folder))
    assert told is not None and told["n"] == 2 and "1 case(s) marked a training image in" in told["source"], told
    # review F6: the notes file alone, marking a.png by its decoded pixels: said so, not "same SHA-256"
    from drac_ssl.grading.training_images import BY_PIXELS

    write_image_notes(image_notes_path(sub), ["a.png", "c.png"], [0, 0], [[], []], [BY_PIXELS, False])
    told = scoring.training_images_check(sub)
    assert told is not None and "1 of 2 images was used to train this model (same decoded pixels)" in told["line"]


def test_the_decoding_is_the_exports(tmp_path: Path) -> None:
    """file_pixels_prefix (torch-free, for --score) gives the hash of the pixels the export's
    read_image returns, for grey, colour, RGBA and 16-bit files, for a grey and a colour model."""
    import cv2
    from PIL import Image

    from drac_ssl.grading.predict import read_image
    from drac_ssl.grading.training_images import file_pixels_prefix, pixels_prefix

    rng = np.random.default_rng(5)
    rgb = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    Image.fromarray(rgb[..., 0]).save(tmp_path / "grey.png")
    Image.fromarray(np.dstack([rgb, rng.integers(0, 256, (20, 24), dtype=np.uint8)])).save(tmp_path / "rgba.png")
    assert cv2.imwrite(str(tmp_path / "deep.png"), rng.integers(0, 65536, (20, 24), dtype=np.uint16))
    Image.fromarray(rgb).save(tmp_path / "photo.jpg", quality=90)
    for name in ("rgb.png", "grey.png", "rgba.png", "deep.png", "photo.jpg"):
        for channels in (1, 3):
            assert file_pixels_prefix(tmp_path / name, channels) == pixels_prefix(
                read_image(tmp_path / name, channels)[0]), (name, channels)
    (tmp_path / "text.png").write_text("not an image")
    assert file_pixels_prefix(tmp_path / "text.png", 3) is None


def test_score_decodes_without_torch_and_says_it(tmp_path: Path) -> None:
    """``BUNDLE --score SUB --labels L --images DIR`` decodes the PNGs (OpenCV, Pillow) and
    warns of the training image without loading torch."""
    sub, bundle, folder, _ = _pixels_setup(tmp_path)
    labels = tmp_path / "labels.csv"
    labels.write_text("image,level\na,0\nc,2\n")
    result, done = export_in_fresh_process(
        [str(bundle), "--score", str(sub), "--labels", str(labels), "--images", str(folder)])
    assert result == {"code": 0, "heavy": []}, done.stderr
    assert "warning: 1 of 2 images was used to train this model" in done.stderr, done.stderr
