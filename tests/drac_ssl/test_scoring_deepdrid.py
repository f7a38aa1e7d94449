"""``python -m drac_ssl.export --score`` against a DeepDRiD label CSV: per-eye grades and
patients, read as the ingest reads them (no torch: the scorer answers before the export's
imports)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from drac_ssl import scoring
from drac_ssl.export import main as export_main
from drac_ssl.metrics import bootstrap_ci, quadratic_weighted_kappa

HEADER = ["patient_id", "image_id", "image_path", "left_eye_DR_Level", "right_eye_DR_Level",
          "patient_DR_Level", "Overall quality"]
# patient -> (left eye, right eye): patient_DR_Level is the worse eye, which differs from one
# eye's grade for every patient but 2, so a scorer reading it cannot pass for a per-eye one
EYES = {1: (0, 2), 2: (1, 1), 3: (2, 4), 4: (3, 0), 5: (4, 1)}


def deepdrid_labels(folder: Path, eyes: dict[int, tuple[int, int]] = EYES) -> tuple[Path, list[str], list[int], list[str]]:
    """``regular-fundus-validation.csv`` as DeepDRiD ships it (two photographs per eye, the other
    eye's cell empty, ids without extension, Windows paths), and the cases, their per-eye
    grades and their patients in submission order."""
    rows, cases, grades, patients = [], [], [], []
    for patient, (left, right) in eyes.items():
        for eye, grade in (("l", left), ("r", right)):
            for shot in (1, 2):
                image_id = f"{patient}_{eye}{shot}"
                rows.append([patient, image_id, f"regular-fundus-validation\\Images\\{patient}\\{image_id}.jpg",
                             grade if eye == "l" else "", grade if eye == "r" else "", max(left, right), 1])
                cases.append(f"{image_id}.jpg")
                grades.append(grade)
                patients.append(str(patient))
    path = folder / "regular-fundus-validation.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\r\n")
        writer.writerow(HEADER)
        writer.writerows(rows)
    return path, cases, grades, patients


def submission(path: Path, cases: list[str], classes: list[int]) -> Path:
    lines = ["case,class,P0,P1,P2,P3,P4"]
    for case, c in zip(cases, classes, strict=True):
        lines.append(f"{case},{c}," + ",".join("0.6" if k == c else "0.1" for k in range(5)))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_score_reads_each_images_own_eye_and_resamples_patients(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A DeepDRiD user: scoring against regular-fundus-validation.csv did not read the per-eye
    columns (a submission of exactly the per-eye grades was scored as wrong when
    patient_DR_Level, the worse eye, was taken). Each image's grade is its own eye's column, as
    the ingest reads it, and the CIs resample patients (patient_id), each with its images."""
    labels, cases, grades, patients = deepdrid_labels(tmp_path)
    sub = submission(tmp_path / "team.csv", cases, grades)
    out = tmp_path / "score.json"
    assert export_main(["--score", str(sub), "--labels", str(labels), "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    record = json.loads(out.read_text())
    assert record["accuracy"] == 1.0 and record["qwk"] == pytest.approx(1.0), record
    assert record["label_columns"]["grade"] == "left_eye_DR_Level / right_eye_DR_Level"
    assert record["label_columns"]["patient"] == "patient_id" and record["label_layout"] == "deepdrid"
    assert (record["ci_resamples"], record["ci_units"]) == ("patients", 5)
    assert "the DeepDRiD layout's" in printed, printed
    assert "1000 bootstrap resamples of the 5 patients (column 'patient_id'), each with all its images" \
        in printed, printed
    assert "the interval is too narrow" not in printed, printed

    # the CI is the cluster bootstrap over patients, not the image-level one
    classes = [min(g + (i % 3 == 0), 4) for i, g in enumerate(grades)]
    sub = submission(tmp_path / "off.csv", cases, classes)
    record = scoring.score(sub, labels, n_boot=200)
    y, pred = np.array(grades), np.array(classes)
    qwk = lambda t, p: quadratic_weighted_kappa(t, p, num_grades=5)  # noqa: E731
    assert record["qwk_ci95"] == pytest.approx(list(bootstrap_ci(y, pred, qwk, n_boot=200, seed=0,
                                                                 groups=np.array(patients))))
    assert record["qwk_ci95"] != pytest.approx(list(bootstrap_ci(y, pred, qwk, n_boot=200, seed=0)))


def test_score_of_a_deepdrid_row_without_its_eye_names_the_line(tmp_path: Path) -> None:
    """An image id that names no eye cannot choose between the two columns: an error at its
    line, in the ingest's words (data_prep.validate.eye_problem)."""
    labels, cases, grades, _ = deepdrid_labels(tmp_path)
    text = labels.read_text(encoding="utf-8").replace("2_l2,", "2_x2,")
    labels.write_text(text, encoding="utf-8")
    sub = submission(tmp_path / "team.csv", [c.replace("2_l2", "2_x2") for c in cases], grades)
    with pytest.raises(scoring.ScoreError) as caught:
        scoring.score(sub, labels)
    assert (f"{labels}:7: cannot tell the eye of 2_x2 from its image id, so neither "
            "'left_eye_DR_Level' nor 'right_eye_DR_Level' can be chosen") in str(caught.value)


def test_score_of_other_labels_still_resamples_images(tmp_path: Path) -> None:
    """Labels without a patient column: the images are resampled, and the record says so."""
    labels = tmp_path / "labels.csv"
    labels.write_text("image name,DR grade\n" + "".join(f"{i}.png,{i % 5}\n" for i in range(10)))
    sub = submission(tmp_path / "team.csv", [f"{i}.png" for i in range(10)], [i % 5 for i in range(10)])
    record = scoring.score(sub, labels, n_boot=50)
    assert (record["ci_resamples"], record["ci_units"]) == ("images", 10)
    assert "patient" not in record["label_columns"]


def test_score_of_one_grade_column_named_with_a_slash_is_not_said_per_eye(tmp_path: Path) -> None:
    """A grade column whose own name holds ' / ' (``a / b``) is one column: the Labels line
    says '(grade)', not that each image's eye was told from its id (which the per-eye layouts'
    two columns, joined by ' / ', mean); the record says which (``label_per_eye``)."""
    labels = tmp_path / "labels.csv"
    labels.write_text("image name,a / b\n" + "".join(f"{i}.png,{i % 5}\n" for i in range(10)))
    sub = submission(tmp_path / "team.csv", [f"{i}.png" for i in range(10)], [i % 5 for i in range(10)])
    record = scoring.score(sub, labels, grade_column="a / b", n_boot=20)
    labels_line = next(line for line in scoring.score_lines(record) if line.startswith("Labels:"))
    assert "'a / b' (grade);" in labels_line and "own eye" not in labels_line, labels_line
    assert record["label_columns"]["grade"] == "a / b" and record["label_per_eye"] is False
    eyes, cases, grades, _ = deepdrid_labels(tmp_path)
    record = scoring.score(submission(tmp_path / "eyes.csv", cases, grades), eyes, n_boot=20)
    assert record["label_per_eye"] is True
    assert "(grade: each image's own eye, told from its id)" in "\n".join(scoring.score_lines(record))


def test_score_resamples_the_patients_of_a_column_named_or_says_which_looks_like_one(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Any label CSV: --patient-column NAME resamples its patients; without it, a column that
    looks like a patient id is a note naming the option (the ingest warns alike)."""
    labels = tmp_path / "labels.csv"
    labels.write_text("image name,DR grade,PatientID\n" + "".join(f"{i}.png,{i % 5},P{i // 2}\n" for i in range(10)))
    sub = submission(tmp_path / "team.csv", [f"{i}.png" for i in range(10)], [i % 5 for i in range(10)])
    assert export_main(["--score", str(sub), "--labels", str(labels)]) == 0
    err = capsys.readouterr().err
    assert "column 'PatientID' looks like a patient id" in err and "pass --patient-column PatientID" in err, err
    out = tmp_path / "score.json"
    assert export_main(["--score", str(sub), "--labels", str(labels), "--patient-column", "PatientID",
                        "--json", str(out)]) == 0
    assert "bootstrap resamples of the 5 patients (column 'PatientID')" in capsys.readouterr().out
    assert json.loads(out.read_text())["ci_resamples"] == "patients"
    assert export_main(["--score", str(sub), "--labels", str(labels), "--patient-column", "patient"]) == 2
    assert "did you mean 'PatientID'?" in capsys.readouterr().err


def test_score_says_when_the_patients_grade_is_read_for_each_image(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--grade-column patient_DR_Level scores each image against the worse eye: said, with
    the per-eye columns and the fix (drop --grade-column)."""
    labels, cases, grades, _ = deepdrid_labels(tmp_path)
    sub = submission(tmp_path / "team.csv", cases, grades)
    assert export_main(["--score", str(sub), "--labels", str(labels), "--grade-column", "patient_DR_Level"]) == 0
    err = capsys.readouterr().err
    assert ("'patient_DR_Level' is read as each image's grade, but it is the patient's grade (the worse "
            "eye), not the image's own eye's: this CSV grades each eye in 'left_eye_DR_Level' / "
            "'right_eye_DR_Level', and 'patient_DR_Level' differs from the image's own eye's cell on 8 of "
            "20 rows (1_l1 at line 2: 2 vs 'left_eye_DR_Level' 0; 1_l2 at line 3: 2 vs "
            "'left_eye_DR_Level' 0; 3_l1 at line 10: 4 vs 'left_eye_DR_Level' 2; and 5 more rows) -> to "
            "score each image against its own eye, drop --grade-column") in err, err
    assert "2 and 5 more" not in err, err  # the count read as a grade (review F4)


def test_score_of_one_eye_column_says_the_other_eyes_rows_as_the_ingest_does(tmp_path: Path) -> None:
    """A review: --grade-column left_eye_DR_Level on a DeepDRiD CSV gave an error per right-eye
    row, '1_r1 has no grade (an empty cell; an ungradable image?)', where the ingest says the
    row's grade is in the other eye's column (validate.other_eye_problem). The scorer says the
    same, with its own fix: drop --grade-column."""
    labels, cases, grades, _ = deepdrid_labels(tmp_path)
    sub = submission(tmp_path / "team.csv", cases, grades)
    with pytest.raises(scoring.ScoreError) as caught:
        scoring.score(sub, labels, grade_column="left_eye_DR_Level")
    text = str(caught.value)
    assert "an ungradable image?" not in text, text
    assert (f"{labels}:4: 1_r1 has no grade in 'left_eye_DR_Level': this row's grade is in "
            "'right_eye_DR_Level' -> the grades are per eye in two columns: drop --grade-column, "
            "which scores each image against its own eye's column") in text, text
    assert "--root" not in text, text


def test_score_of_an_empty_own_eye_cell_names_the_column_read_as_the_ingest_does(tmp_path: Path) -> None:
    """A new-contributor trial (F6): 'has no grade (an empty cell; ...)' named no column, while
    the image id chose one eye's; the scorer names it as the ingest does."""
    labels, cases, grades, _ = deepdrid_labels(tmp_path)
    rows = list(csv.reader(labels.open(encoding="utf-8")))
    header = rows[0]
    row = next(r for r in rows[1:] if r[header.index("image_id")] == "1_r1")
    row[header.index("right_eye_DR_Level")] = ""
    with labels.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    sub = submission(tmp_path / "team.csv", cases, grades)
    with pytest.raises(scoring.ScoreError) as caught:
        scoring.score(sub, labels)
    text = str(caught.value)
    assert (f"{labels}:4: 1_r1 has no grade in its eye's column 'right_eye_DR_Level' (an empty "
            "cell; an ungradable image?)") in text, text


@pytest.mark.parametrize("grade_column", [None, "patient_DR_Level"])
def test_score_of_deepdrids_grade_5_says_it_is_its_ungradable_label(
        tmp_path: Path, grade_column: str | None) -> None:
    """A review: a DeepDRiD CSV with grade 5 (DeepDRiD's label for an ungradable image) was
    scored as 'grade 5 of 1_l1 is outside 0..4', while the ingest names it as DeepDRiD's
    ungradable label (layout.UNGRADABLE_GRADES). The scorer names it so too and refuses it as
    it refuses an empty cell: an image without a true grade cannot be scored."""
    labels, cases, grades, _ = deepdrid_labels(tmp_path, {**EYES, 1: (5, 2), 3: (2, 5)})
    sub = submission(tmp_path / "team.csv", cases, [min(g, 4) for g in grades])
    with pytest.raises(scoring.ScoreError) as caught:
        scoring.score(sub, labels, grade_column=grade_column)
    text = str(caught.value)
    assert "outside 0..4" not in text, text
    if grade_column is None:
        assert (f"{labels}: 4 rows have grade 5, DeepDRiD's label for an image its graders found "
                "ungradable, e.g. line 2 (1_l1) and line 3 (1_l2) -> ") in text, text
    else:  # the patient's grade: 5 for patients 1 and 3
        assert "8 rows have grade 5, DeepDRiD's label for an image its graders found ungradable" in text
    assert ("delete those rows and the submission's rows of their images: an image without a true "
            "grade cannot be scored") in text, text
    assert "6 names" not in text and "or --ungradable leave_out leaves out every label row" in text, text
    # --ungradable leave_out: those rows and their images' submission rows left out, the rest scored
    left = scoring.score(sub, labels, grade_column=grade_column, ungradable="leave_out", n_boot=20)
    assert left["left_out_ungradable"] == (4 if grade_column is None else 8), left
    assert left["n"] == len(cases) - left["left_out_ungradable"], left
    # six grade names read 5 as a grade, as the ingest does
    six = tmp_path / "six.csv"
    six.write_text("case,class,P0,P1,P2,P3,P4,P5\n" + "".join(
        f"{c},{g}," + ",".join("0.5" if k == g else "0.1" for k in range(6)) + "\n"
        for c, g in zip(cases, grades, strict=True)))
    if grade_column is None:
        assert scoring.score(six, labels, n_boot=20)["accuracy"] == 1.0


def test_an_eye_column_typed_in_another_case_is_not_said_read_for_the_patient(tmp_path: Path) -> None:
    """Catches the per-eye note's own-column check comparing names as spelled
    (``grade_column in (left, right)``): ``--grade-column left_eye_dr_level`` on a header's
    ``left_eye_DR_Level`` is that eye's own column (names are matched whatever their case), not
    a column read for the patient; the note said so for it. The scorer says the other eye's
    rows, as for the header's spelling, and no per-eye note."""
    from data_prep.labels import read_table
    from data_prep.validate import per_eye_columns_unread

    labels, cases, grades, _ = deepdrid_labels(tmp_path)
    table, _ = read_table(labels, ["image_id"])
    assert table is not None and per_eye_columns_unread(labels, table, "left_eye_dr_level", "image_id") is None
    sub = submission(tmp_path / "team.csv", cases, grades)
    with pytest.raises(scoring.ScoreError) as caught:
        scoring.score(sub, labels, grade_column="left_eye_dr_level")
    text = str(caught.value)
    assert "not the image's own eye's" not in text and "this row's grade is in 'right_eye_DR_Level'" in text, text
