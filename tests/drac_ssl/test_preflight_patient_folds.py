"""The full run's fold check after a first try on patient-grouped data
(:func:`drac_ssl.preflight.new_run_problems`, from the first try's manifest): it counts patients
per grade as the fresh run's check counts them from the label CSV, so the fold count it offers
is one the full run accepts. A trial user on a DeepDRiD tree (7 patients x 2 eyes x 2
photographs) was told ``data.n_folds=4`` (images counted), and the full run refused that at once
(``grade 0 has only 2 patients ... fix: data.n_folds=2``). Most manifests are written here as the
ingest writes them, without images; the check that the note after a first try says the full
run's own line ingests tiny DeepDRiD and EyePACS trees for real (no training)."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from data_prep import ingest
from drac_ssl.config import DataConfig, load_config
from drac_ssl.manifest import REQUIRED_COLUMNS
from drac_ssl.preflight import Finding, check, new_run_problems, read_config
from drac_ssl.train import DEFAULT_CONFIG

ICDR = "data.grades=[No DR, Mild, Moderate, Severe, PDR]"

# 6 patients x 4 photographs (two per eye), each patient's grades: by image every grade has 4
# or more (the image count's fix: data.n_folds=4), by patient grades 0, 1 and 4 have 2
PATIENT_GRADES = {"1": [0, 0, 1, 1], "2": [0, 0, 1, 1], "3": [2, 2, 3, 3], "4": [2, 2, 3, 3],
                  "5": [4, 4, 4, 4], "6": [4, 4, 2, 3]}


def _ingested(run_dir: Path, patients: dict[str, list[int]], *, named: bool = True,
              patient_column: str = "") -> Path:
    """``run_dir/data/manifest.csv`` and ``ingest_summary.json`` of a DeepDRiD-like ingest of
    ``patients`` (patient -> its images' grades), in 2 folds by patient; ``named``: the
    manifest's patient column is filled (else empty: per-image folds, unless the summary
    records ``patient_column``). Returns ``run_dir``."""
    data = run_dir / "data"
    data.mkdir(parents=True)
    rows = []
    for number, (patient, grades) in enumerate(patients.items()):
        for shot, grade in enumerate(grades):
            image = f"{patient}_{'lr'[shot // 2]}{shot % 2 + 1}.jpg"
            rows.append({"id": image, "path": f"Images/{patient}/{image}", "grade": grade, "split": "train",
                         "fold": number % 2, "patient": patient if named else "", "sha256": "0" * 64,
                         "orig_width": 224, "orig_height": 224, "orig_mode": "RGB",
                         "cache_index": len(rows), "origin": "train"})
    with open(data / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, [*REQUIRED_COLUMNS, "origin"])
        writer.writeheader()
        writer.writerows(rows)
    grouped = named or bool(patient_column)
    summary = {"root": "/data/regular-fundus-training", "layout": "deepdrid",
               "grades": {"names": ["No DR", "Mild", "Moderate", "Severe", "PDR"], "source": "given"},
               "patients": {"grouped": grouped,
                            "source": ("the DeepDRiD layout's column 'patient_id'" if named and not patient_column
                                       else f"column {patient_column!r}" if patient_column else None),
                            "column": patient_column or ("patient_id" if named else None),
                            "n_patients": len(patients) if grouped else None, "n_images": len(rows)},
               "config": {"patient_column": patient_column, "n_folds": 2, "fold_seed": 0}}
    (data / "ingest_summary.json").write_text(json.dumps(summary), encoding="utf-8")
    return run_dir


def _fold_problem(run_dir: Path, *overrides: str) -> Finding:
    """The one ``data.n_folds`` error a full run (every stage, its own ingest) of the fundus
    recipe would meet on the data ingested in ``run_dir``."""
    cfg = load_config("fundus", ["data.root=/data/regular-fundus-training", ICDR, *overrides])
    (problem,) = [f for f in new_run_problems(cfg, run_dir) if f.setting == "data.n_folds"]
    return problem


def test_the_full_run_after_a_first_try_counts_patients_per_grade(tmp_path: Path) -> None:
    """F1: the grades' patients, not their images, and the fold count the full run accepts."""
    problem = _fold_problem(_ingested(tmp_path / "ft", PATIENT_GRADES), "data.n_folds=5")
    assert problem.what.startswith("grade 0 (No DR) has only 2 patients, grade 1 (Mild) only 2, grade 2 "
                                   "(Moderate) only 3, grade 3 (Severe) only 3 and grade 4 (PDR) only 2 in "
                                   f"the ingest in {tmp_path / 'ft' / 'data'}; stratified 5-fold"), problem.what
    assert problem.fix.startswith("data.n_folds=2, or add labelled grade 0 (No DR), "), problem.fix
    assert "images of more patients (at least 5 of each for 5 folds)" in problem.fix
    # the fold count offered is accepted: 2 folds, every grade of 2 patients or more
    cfg = load_config("fundus", ["data.root=/data/regular-fundus-training", ICDR, "data.n_folds=2"])
    assert [f for f in new_run_problems(cfg, tmp_path / "ft") if f.setting == "data.n_folds"] == []


def test_per_image_folds_are_still_judged_by_image(tmp_path: Path) -> None:
    """The same images with no patient named (folds per image): images count, as before."""
    problem = _fold_problem(_ingested(tmp_path / "plain", PATIENT_GRADES, named=False), "data.n_folds=5")
    assert problem.what.startswith("grade 0 (No DR) has only 4 labelled images and grade 1 (Mild) only 4 in"), \
        problem.what
    assert problem.fix.startswith("data.n_folds=4, or "), problem.fix


@pytest.mark.parametrize("named", [True, False])
def test_a_patient_column_with_empty_cells_counts_each_such_image_as_its_own_patient(
        tmp_path: Path, named: bool) -> None:
    """data.patient_column recorded by the ingest groups the folds even where no cell named a
    patient (data_prep.folds.manifest_units): each image is then its own patient, as in the
    ingest's folds, and the check says where the patients come from."""
    problem = _fold_problem(_ingested(tmp_path / "col", PATIENT_GRADES, named=named, patient_column="subject"),
                            "data.n_folds=5")
    assert problem.what.startswith("grade 0 (No DR) has only "
                                   + ("2 patients" if named else "4 patients")), problem.what
    assert problem.fix.startswith(f"data.n_folds={2 if named else 4}, or "), problem.fix


def test_fewer_patients_than_folds_is_said_of_the_patients(tmp_path: Path) -> None:
    """6 patients cannot fill 7 folds (24 images could): the patients' own error and fix."""
    problem = _fold_problem(_ingested(tmp_path / "ft", PATIENT_GRADES), "data.n_folds=7")
    assert problem.what == (f"the ingest in {tmp_path / 'ft' / 'data'} has 6 patients (the DeepDRiD layout's "
                            "column 'patient_id'); no patient may be in two folds, so there are at most 6 folds")
    assert problem.fix == "data.n_folds=6"


def test_grades_of_one_image_in_two_folds_need_no_second_clause(tmp_path: Path) -> None:
    """F5: ``(at least 2 for 2 folds, 2 for --folds 2)`` said the same count twice; with 2 folds
    the fix says it once (several grades: ``of each``)."""
    patients = {"1": [0, 0], "2": [0, 2], "3": [2, 2], "4": [1], "5": [3], "6": [4, 4], "7": [4]}
    problem = _fold_problem(_ingested(tmp_path / "ft", patients), "data.n_folds=2")
    assert ("grade 1 (Mild) and grade 3 (Severe) images of more patients (at least 2 of each for 2 folds)"
            in problem.fix), problem.fix
    assert "for data.n_folds=2" not in problem.fix and "for --folds 2" not in problem.fix
    problem = _fold_problem(tmp_path / "ft", "data.n_folds=3")
    assert "(at least 3 of each for 3 folds, 2 of each for data.n_folds=2)" in problem.fix, problem.fix


def test_a_summary_without_patients_or_config_names_the_manifests_column(tmp_path: Path) -> None:
    """An ingest summary from before it recorded how the folds were grouped (no ``patients``,
    no ``config``): the manifest's patient column still groups the count, and the patients are
    said to come from it, not from a layout the summary cannot name."""
    run_dir = _ingested(tmp_path / "old", PATIENT_GRADES)
    summary_path = run_dir / "data" / "ingest_summary.json"
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    del summary["patients"], summary["config"]
    summary_path.write_text(json.dumps(summary), encoding="utf-8")
    problem = _fold_problem(run_dir, "data.n_folds=7")
    manifest = run_dir / "data" / "manifest.csv"
    assert problem.what == (f"the ingest in {run_dir / 'data'} has 6 patients (the patient column of "
                            f"{manifest}); no patient may be in two folds, so there are at most 6 folds")
    assert _fold_problem(run_dir, "data.n_folds=5").what.startswith("grade 0 (No DR) has only 2 patients")


def _photograph(path: Path, seed: int) -> None:
    """A 48 px colour JPEG at ``path`` (its folders made), noise the ingest decodes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.random.default_rng(seed).integers(0, 255, (48, 48, 3), dtype=np.uint8))


def _deepdrid_tree(root: Path) -> tuple[Path, Path]:
    """``root/regular-fundus-training`` as DeepDRiD ships it: 7 patients x 2 photographs per
    eye, each eye's grade in its own column. Returns the data root and its label CSV."""
    base = root / "regular-fundus-training"
    rows = []
    for patient in range(1, 8):
        left, right = patient % 5, (patient + 2) % 5
        for image_id in (f"{patient}_l1", f"{patient}_l2", f"{patient}_r1", f"{patient}_r2"):
            _photograph(base / "Images" / str(patient) / f"{image_id}.jpg", len(rows))
            eye = "_l" in image_id
            rows.append(f"{patient},{image_id},regular-fundus-training\\Images\\{patient}\\{image_id}.jpg,"
                        f"{left if eye else ''},{'' if eye else right},{max(left, right)},1")
    csv_path = base / "regular-fundus-training.csv"
    csv_path.write_text("patient_id,image_id,image_path,left_eye_DR_Level,right_eye_DR_Level,"
                        "patient_DR_Level,Overall quality\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return base, csv_path


def _eyepacs_tree(root: Path) -> tuple[Path, Path]:
    """An EyePACS folder (``train/`` + ``trainLabels.csv``): both eyes of 7 patients, named
    ``<patient>_left`` / ``_right``. Returns the data root and its label CSV."""
    rows = []
    for patient in range(10, 17):
        for eye, grade in (("left", patient % 5), ("right", (patient + 1) % 5)):
            _photograph(root / "train" / f"{patient}_{eye}.jpeg", len(rows))
            rows.append(f"{patient}_{eye},{grade}")
    (root / "trainLabels.csv").write_text("image,level\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return root, root / "trainLabels.csv"


@pytest.mark.parametrize(("tree", "words"), [
    (_deepdrid_tree, "the DeepDRiD layout's column 'patient_id'"),
    (_eyepacs_tree, "the EyePACS image ids <patient>_left / _right"),
])
def test_the_note_after_a_first_try_names_the_patients_as_its_full_run_does(
        tmp_path: Path, tree: Callable[[Path], tuple[Path, Path]], words: str) -> None:
    """Review F1: the fresh run's check named the patients in its own words and the note after
    a first try (its ingest's manifest and summary) in the summary's, so the note predicted
    another line than the full run gives (``column patient_id`` against ``column
    'patient_id'``, ``(EyePACS image ids (<patient>_left / _right))`` in nested brackets). The
    same tree, ingested for real (2 folds), and checked fresh: one line, but for its source."""
    root, csv_path = tree(tmp_path / "tree")
    settings = [f"data.root={root}", "data.n_folds=8", "data.grades=[icdr]", "pretrain.augment.recipe=fundus",
                "pretrain.batch_size=8", "umm.batch_size=8"]
    cfg, sources, parsed = read_config(DEFAULT_CONFIG, settings)
    assert parsed == []
    (fresh,) = [f for f in check(cfg, tmp_path / "runs" / "fresh", sources)
                if f.severity == "error" and f.setting == "data.n_folds"]
    run_dir = tmp_path / "runs" / "ft"
    ingest.run(DataConfig(root=str(root), grades=["icdr"], n_folds=2, cache_sizes=[16], workers=1),
               run_dir / "data", verbose=False)
    (noted,) = [f for f in new_run_problems(cfg, run_dir, sources) if f.setting == "data.n_folds"]
    said = f"has 7 patients ({words}); no patient may be in two folds, so there are at most 7 folds"
    assert fresh.what == f"{csv_path} {said}", fresh.what
    assert noted.what == f"the ingest in {run_dir / 'data'} {said}", noted.what
    assert fresh.fix == noted.fix == "data.n_folds=7"
