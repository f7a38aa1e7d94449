"""Folds grouped by patient that leave a grade out of a validation fold although the grade has
as many patients as folds (data_prep.folds)."""

from __future__ import annotations

import re

import numpy as np

from data_prep.folds import assign_folds, folds_without_grade

ICDR = ("No DR", "Mild", "Moderate", "Severe", "PDR")

# a fresh user's 25 photographs: 13 patients, 5 images and 3 patients per ICDR grade (P02 and
# P07 have eyes of two grades), in the manifest's order (the natural sort of the file names)
REVIEWER_GRADES = [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 4, 4, 4, 4, 4]
REVIEWER_PATIENTS = ["P00", "P00", "P01", "P01", "P02", "P02", "P03", "P03", "P04", "P04", "P05",
                     "P05", "P06", "P06", "P07", "P07", "P08", "P08", "P09", "P09", "P10", "P10",
                     "P11", "P11", "P12"]
# the folds the ingest made of them (runs/tiny-kill/data/manifest.csv); they must not change
REVIEWER_FOLDS = [0, 0, 2, 2, 1, 1, 2, 2, 1, 1, 1, 1, 0, 0, 2, 2, 2, 2, 0, 0, 1, 1, 0, 0, 2]


def _gap_notes(caveats: list) -> list:
    return [p for p in caveats if "although" in p.what]


def test_a_grade_of_enough_patients_left_out_of_a_fold_is_noted_with_fixes_that_work() -> None:
    """3 patients per grade, 3 folds: StratifiedGroupKFold left Mild out of fold 0 and Severe
    out of fold 1 without a word (only rare grades, fewer patients than folds, were noted), and
    the preflight's later warning said to redo the ingest, which gives the same folds. The
    ingest now notes each such grade, and its fix names a seed and a fold count that were
    checked to put every grade in every fold; the folds themselves are unchanged."""
    folds, caveats = assign_folds(REVIEWER_GRADES, 3, 0, REVIEWER_PATIENTS, "/d/grades.csv", ICDR)
    assert folds.tolist() == REVIEWER_FOLDS
    assert folds_without_grade(REVIEWER_GRADES, folds, 3) == {1: [0], 3: [1]}
    notes = _gap_notes(caveats)
    assert [p.severity for p in notes] == ["note", "note"] and len(caveats) == 2
    mild, severe = notes
    assert mild.what == ("1 of the 3 folds (fold 0) will validate without any grade 1 (Mild) "
                         "image, although it has 5 labelled images of 3 patients, enough for 3 folds: "
                         "the patient-grouped split did not spread them over every fold; "
                         "that fold's AUC cannot be computed (n/a) and its kappa leaves grade 1 "
                         "(Mild) out")
    assert "fold 1" in severe.what and "grade 3 (Severe)" in severe.what
    assert mild.fix.split(', or add')[0] == severe.fix.split(', or add')[0]  # the same checked options
    assert "add labelled grade 3 (Severe) images of more patients" in severe.fix
    seed = int(re.search(r"--seed (\d+)", mild.fix)[1])  # type: ignore[index]
    fewer = int(re.search(r"--folds (\d+)", mild.fix)[1])  # type: ignore[index]
    assert seed != 0 and fewer < 3
    assert "add labelled grade 1 (Mild) images of more patients" in mild.fix
    # what the fix says was checked holds: no grade misses a fold then
    for k, s in ((3, seed), (fewer, 0)):
        other, said = assign_folds(REVIEWER_GRADES, k, s, REVIEWER_PATIENTS, "/d/grades.csv", ICDR)
        assert folds_without_grade(REVIEWER_GRADES, other, k) == {} and said == [], (k, s)


def test_no_seed_or_fold_count_is_offered_unless_one_was_found_to_work() -> None:
    """Where no fold count below and no seed tried fills every fold, only more patients are
    offered: 4 patients, each grade carried by 3 of them (a, b, c / a, b, d / a, c, d /
    b, c, d), in 3 folds. Two patients share a fold whatever the seed, and a grade both carry
    then misses a fold: no seed can be offered. Fewer folds are named only if checked."""
    pairs = {0: "abc", 1: "abd", 2: "acd", 3: "bcd"}
    grades = [g for g, ps in pairs.items() for _ in ps]
    patients = [p for ps in pairs.values() for p in ps]
    folds, caveats = assign_folds(grades, 3, 0, patients, "labels.csv", ("A", "B", "C", "D"))
    assert folds_without_grade(grades, folds, 3)  # impossible: some grade misses a fold
    notes = _gap_notes(caveats)
    assert notes and all("--seed" not in p.fix for p in notes)
    for p in notes:  # 2 folds: possible (a,b | c,d puts every grade in both)? only if found
        match = re.search(r"--folds (\d+)", p.fix)
        if match:
            k = int(match[1])
            other, _ = assign_folds(grades, k, 0, patients)
            assert folds_without_grade(grades, other, k) == {}
        assert "of more patients" in p.fix


def test_folds_without_a_grade_are_only_those_of_grades_present() -> None:
    assert folds_without_grade([0, 0, 1, 2, 2], np.array([0, 1, 0, 0, 1]), 2) == {1: [1]}
    assert folds_without_grade([0, 1], np.array([0, 1]), 3) == {0: [1, 2], 1: [0, 2]}
    assert folds_without_grade([], np.array([], dtype=int), 3) == {}
