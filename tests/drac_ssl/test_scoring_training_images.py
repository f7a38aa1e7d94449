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
    (bundle / "metadata.json").write_text(json.dumps({"training_images": training_images_record(trained)}))
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
