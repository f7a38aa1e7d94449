"""``export --score`` against the label CSV the model was trained on (drac_ssl.scoring:
:func:`training_labels_refusal`, :func:`_training_labels_warning`, the stray rows' fix).

An IDRiD user (IDRiD's test set reuses the training names IDRiD_001.jpg ... for other images)
scored the run's test submission against the Training Labels CSV, which sits beside the test
one and sorts first: the "stray rows" error's fix (a copy without those rows) led to a trimmed
copy of the training labels, scored with rc 0 and no warning, though the run knows which CSV
it trained on. A hand-made run folder (ingest summary, manifest, export) serves every case;
no torch, well under a second each."""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from drac_ssl import scoring
from drac_ssl.export import main as export_main
from drac_ssl.submission import write_submission

TEST_CASES = [f"IDRiD_{i:03d}.jpg" for i in range(1, 7)]
TRAIN_GRADES = [0, 1, 2, 3, 4, 2, 1, 0]  # IDRiD_001 ... IDRiD_008 of the training set
TEST_GRADES = [4, 1, 0, 3, 2, 2]  # the test images of the same names: other images, other grades
IDRID_HEADER = "Image name,Retinopathy grade,Risk of macular edema \n"


def _idrid_csv(path: Path, grades: list[int]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(IDRID_HEADER + "".join(f"IDRiD_{i:03d},{g},0\n" for i, g in enumerate(grades, 1)))
    return path


def _digest(word: str) -> str:
    return hashlib.sha256(word.encode()).hexdigest()


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, Path]:
    """A run folder trained on a fake IDRiD Training Labels CSV (8 rows) whose export graded the
    6 test images of the same names; the run, its training CSV and the Testing Labels CSV. The
    score's bootstrap at 20 resamples: its intervals are not what is tested."""
    monkeypatch.setattr(scoring, "score", functools.partial(scoring.score, n_boot=20))
    groundtruths = tmp_path / "B. Disease Grading" / "2. Groundtruths"
    train_csv = _idrid_csv(groundtruths / "a. IDRiD_Disease Grading_Training Labels.csv", TRAIN_GRADES)
    test_csv = _idrid_csv(groundtruths / "b. IDRiD_Disease Grading_Testing Labels.csv", TEST_GRADES)
    run = tmp_path / "runs" / "first-try"
    (run / "data").mkdir(parents=True)
    (run / "data" / "ingest_summary.json").write_text(json.dumps({
        "labels_csv": str(train_csv),
        "source_files": {"labels_csv": {"path": str(train_csv), "sha256": hashlib.sha256(
            train_csv.read_bytes()).hexdigest()}}}))
    rows = [f"IDRiD_{i:03d}.jpg,{g},train,{_digest(f'train{i}')}" for i, g in enumerate(TRAIN_GRADES, 1)]
    rows += [f"{case},,test,{_digest(f'test{case}')}" for case in TEST_CASES]
    (run / "data" / "manifest.csv").write_text("id,grade,split,sha256\n" + "\n".join(rows) + "\n")
    probs = np.full((len(TEST_CASES), 5), 0.1)
    probs[np.arange(len(TEST_CASES)), TEST_GRADES] = 0.6  # a perfect grader of the test images
    (run / "export").mkdir()
    write_submission(run / "export" / "submission.csv", TEST_CASES, probs, num_grades=5)
    return run, train_csv, test_csv


def _score(run: Path, labels: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, dict]:
    out = run.parent / "score.json"
    code = export_main(["--score", str(run / "export" / "submission.csv"), "--labels", str(labels),
                        "--json", str(out)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err, json.loads(out.read_text()) if out.is_file() else {}


def test_the_runs_own_training_label_csv_is_refused_with_the_test_labels_as_fix(
        run: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    """The very file, and a copy of it elsewhere (same SHA-256): exit 2, nothing scored, the
    error naming the run's record and the Testing Labels file; before, the very file said
    "stray rows" and a copy of it the same. The --json file holds the refusal, as --check
    --json's does: an older score's record there was left in place (a review)."""
    run_dir, train_csv, _ = run
    copy = run_dir.parent / "copy" / "labels.csv"
    copy.parent.mkdir()
    copy.write_bytes(train_csv.read_bytes())
    older = {"submission": "older.csv", "labels": "older_labels.csv", "qwk": 0.9}
    (run_dir.parent / "score.json").write_text(json.dumps(older))  # an earlier score's record
    for labels, how in ((train_csv, "is the label CSV this model was trained on ("),  # then the first refusal's
                        (copy, f"is a copy of the label CSV this model was trained on, {train_csv} (the same SHA-256)")):
        code, said, record = _score(run_dir, labels, capsys)
        assert code == 2 and "qwk" not in record, said
        assert record["ok"] is False and record["exit_code"] == 2 and "nothing was scored" in record["error"]
        assert record["labels"] == str(labels) and f"wrote {run_dir.parent / 'score.json'}" not in said
        assert f"{labels} {how}" in said, said
        assert "ingest_summary.json" in said and "nothing was scored" in said
        assert "fix: score against the label CSV of the graded images" in said
        assert "b. IDRiD_Disease Grading_Testing Labels.csv" in said and "do not name the same images" not in said
    (run_dir.parent / "score.json").write_text('{"mine": 1}')  # no record of --score: never replaced
    code, said, record = _score(run_dir, train_csv, capsys)
    assert code == 2 and record == {"mine": 1}, said


def test_a_trimmed_copy_of_the_training_labels_is_scored_with_a_warning(
        run: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    """The training CSV cut to the 6 test names (another file, other bytes): each row's grade is
    the training image's of that name, and each scored image is another (the manifest's test
    hash): scored, but with a warning saying the labels look like the training labels; the true
    Testing Labels get none and score the perfect grader at QWK 1."""
    run_dir, _, test_csv = run
    trimmed = _idrid_csv(run_dir.parent / "trimmed.csv", TRAIN_GRADES[:len(TEST_CASES)])
    code, said, record = _score(run_dir, trimmed, capsys)
    assert code == 0, said
    warning = record["training_labels_warning"]
    assert "every one of the 6 scored image(s) is named as a training image" in warning
    assert "looks like a copy of the training labels" in warning and f"warning: {warning}" in said
    assert "all 6 agreeing by chance, on the training grades' mix: p = 6.1e-05" in warning
    assert str(run_dir / "data" / "manifest.csv") in warning
    code, said, record = _score(run_dir, test_csv, capsys)
    assert code == 0 and "training_labels_warning" not in record and "training labels" not in said, said
    assert record["qwk"] == pytest.approx(1.0)


def test_true_test_grades_of_a_few_images_equal_to_the_training_ones_by_chance_get_no_warning(
        run: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    """A review: IDRiD's true Testing Labels of a small subset whose test grades happen to equal
    the training grades of the same names were warned "a copy of the training labels". Three
    images of grades 0, 1 and 2 (each a quarter of the training rows) agree by chance with
    p = 0.25**3 = 0.016, not below 0.01: no warning; the six of the trimmed copy
    (p = 0.25**4 * 0.125**2, 6e-5) still warn."""
    run_dir, _, _ = run
    cases = ["IDRiD_001.jpg", "IDRiD_002.jpg", "IDRiD_006.jpg"]
    grades = [TRAIN_GRADES[0], TRAIN_GRADES[1], TRAIN_GRADES[5]]  # 0, 1, 2: the test images' own, too
    probs = np.full((len(cases), 5), 0.1)
    probs[np.arange(len(cases)), grades] = 0.6
    write_submission(run_dir / "export" / "submission.csv", cases, probs, num_grades=5)
    labels = run_dir.parent / "subset_test_labels.csv"
    labels.write_text(IDRID_HEADER + "".join(f"{Path(c).stem},{g},0\n" for c, g in zip(cases, grades, strict=True)))
    code, said, record = _score(run_dir, labels, capsys)
    assert code == 0 and "training_labels_warning" not in record and "training labels" not in said, said
    assert record["qwk"] == pytest.approx(1.0)


def test_the_training_images_themselves_against_a_trimmed_training_csv_get_no_copy_warning(
        run: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Training images graded outside the run (``--images`` their folder, each file of the
    manifest's training SHA-256) scored against a trimmed training CSV: the right labels for
    those very images, so no "copy of the training labels" warning (the stand-back for the
    training image itself; a mutant without it survived)."""
    run_dir, _, _ = run
    images = tmp_path / "train_subset"
    images.mkdir()
    for i, case in enumerate(TEST_CASES, 1):
        (images / case).write_bytes(f"train{i}".encode())  # the manifest's training row's SHA-256
    grades = TRAIN_GRADES[:len(TEST_CASES)]
    probs = np.full((len(TEST_CASES), 5), 0.1)
    probs[np.arange(len(TEST_CASES)), grades] = 0.6
    team = write_submission(tmp_path / "team.csv", TEST_CASES, probs, num_grades=5)
    trimmed = _idrid_csv(tmp_path / "trimmed.csv", grades)
    out = tmp_path / "score.json"
    code = export_main([str(run_dir), "--score", str(team), "--labels", str(trimmed),
                        "--images", str(images), "--json", str(out)])
    captured = capsys.readouterr()
    record = json.loads(out.read_text())
    assert code == 0 and "training_labels_warning" not in record, captured.out + captured.err
    assert "looks like a copy of the training labels" not in captured.err


def test_a_submission_graded_outside_the_run_is_told_other_images_by_its_notes_file(
        run: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A review: the test images graded outside the run folder, scored with RUN and no --images
    against a trimmed copy of the training labels, got no warning, though the export's
    TEAM_notes.csv beside it marks each case not a training image (an empty training_image
    cell): that tells each is another image than the training one of its name. A cell of
    "unknown" tells nothing: no warning."""
    from drac_ssl.submission import IMAGE_NOTES_COLUMNS, TRAINING_IMAGE_UNKNOWN

    run_dir, _, _ = run
    team = tmp_path / "team.csv"
    team.write_bytes((run_dir / "export" / "submission.csv").read_bytes())
    trimmed = _idrid_csv(tmp_path / "trimmed.csv", TRAIN_GRADES[:len(TEST_CASES)])
    out = tmp_path / "score.json"
    for cell, warned in (("", True), (TRAINING_IMAGE_UNKNOWN, False)):
        at = IMAGE_NOTES_COLUMNS.index("training_image")
        rows = [[case, "0", *[cell if i == at else "" for i in range(2, len(IMAGE_NOTES_COLUMNS))]]
                for case in TEST_CASES]
        (tmp_path / "team_notes.csv").write_text("\n".join(",".join(r) for r in [list(IMAGE_NOTES_COLUMNS), *rows]) + "\n")
        code = export_main([str(run_dir), "--score", str(team), "--labels", str(trimmed), "--json", str(out)])
        said = capsys.readouterr()
        record = json.loads(out.read_text())
        assert code == 0 and ("training_labels_warning" in record) is warned, said.out + said.err


def test_the_stray_rows_fix_points_at_the_test_sets_own_label_csv(tmp_path: Path) -> None:
    """A submission of the test images scored against the training CSV outside any run (nothing
    tells it is the training one): the stray rows' fix, which led the user to a trimmed copy of
    the training labels, now says to take the copy from the Testing Labels file."""
    train_csv = _idrid_csv(tmp_path / "a. IDRiD_Disease Grading_Training Labels.csv", TRAIN_GRADES)
    probs = np.full((len(TEST_CASES), 5), 0.2)
    sub = write_submission(tmp_path / "team.csv", TEST_CASES, probs, num_grades=5)
    with pytest.raises(scoring.ScoreError) as caught:
        scoring.score(sub, train_csv, n_boot=10)
    said = str(caught.value)
    assert "2 of the 8 label rows" in said and "fix: grade these images too" in said, said
    assert ("take that copy from the label CSV of these very images ('b. IDRiD_Disease Grading_Testing "
            "Labels.csv'), never from a training label CSV: IDRiD's test names restart at IDRiD_001") in said


def test_the_training_labels_stand_for_training_images_and_a_bundle_names_them_by_hash(
        run: tuple[Path, Path, Path], tmp_path: Path) -> None:
    """The training labels are the right ones for the training images themselves (the check
    then says every scored image trained the model): not refused, scored with the "not a test"
    warning; one scored image not known as one is enough to refuse. A bundle folder given as
    RUN names its training CSV by the SHA-256 its metadata.json recorded."""
    run_dir, train_csv, test_csv = run
    sub = run_dir / "export" / "submission.csv"
    every = {"n": len(TEST_CASES), "of": len(TEST_CASES)}
    assert scoring.training_labels_refusal(sub, train_csv, trained=lambda: every) is None
    assert scoring.training_labels_refusal(sub, train_csv, trained=lambda: {**every, "n": 5}) is not None
    assert scoring.training_labels_refusal(sub, test_csv) is None
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    digest = hashlib.sha256(train_csv.read_bytes()).hexdigest()
    (bundle / "metadata.json").write_text(json.dumps({"provenance": {"training_data": {"labels_csv_sha256": digest}}}))
    team = tmp_path / "team.csv"  # graded outside any run folder
    team.write_bytes(sub.read_bytes())
    assert scoring.training_labels_refusal(team, train_csv) is None  # nothing tells
    said = scoring.training_labels_refusal(team, train_csv, str(bundle))
    assert said is not None and f"{train_csv} has the SHA-256 of the label CSV this model was trained on" in said
    assert str(bundle / "metadata.json") in said


def test_a_bundle_given_as_run_is_read_before_the_run_the_submission_lies_in(
        run: tuple[Path, Path, Path], tmp_path: Path) -> None:
    """RUN names the grading model: a bundle given as RUN, its metadata recording a label
    hash, tells the training labels even when the submission lies in another run's export/
    (whose ingest summary was read first, the bundle never)."""
    run_dir, train_csv, test_csv = run
    bundle = tmp_path / "other-bundle"
    bundle.mkdir()
    digest = hashlib.sha256(test_csv.read_bytes()).hexdigest()  # this bundle trained on another CSV
    (bundle / "metadata.json").write_text(json.dumps({"provenance": {"training_data": {"labels_csv_sha256": digest}}}))
    found = scoring.training_labels_of(run_dir / "export" / "submission.csv", str(bundle))
    assert found is not None and found["sha256"] == digest, found
    assert found["said"] == str(bundle / "metadata.json")
    own = scoring.training_labels_of(run_dir / "export" / "submission.csv")  # no RUN: the folder's run
    assert own is not None and own["said"] == str(run_dir / "data" / "ingest_summary.json")
