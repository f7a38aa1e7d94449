"""Folds grouped by patient that leave a grade out of a validation fold although the grade has
as many patients as folds (data_prep.folds)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from reviewer_folds import ICDR, REVIEWER_FOLDS, REVIEWER_GRADES, REVIEWER_PATIENTS

from data_prep.folds import (
    FOLD_UNITS,
    TWIN_UNIT,
    FoldUnit,
    assign_folds,
    fold_gaps,
    folds_without_grade,
    manifest_fold_gaps,
    rare_grade,
    single_image_minimum,
    units_per_grade,
)
from data_prep.problems import IngestError


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


def test_fold_gaps_says_whether_redoing_the_ingest_would_change_the_folds() -> None:
    """The preflight told the reviewer to redo the ingest, which made the same folds: the
    manifest's folds are now checked against what this version makes of the same rows. Made by
    it: redoing changes nothing, and the fix is the checked seed / fold count. Other folds (an
    older, unstratified ingest): redoing is a fix."""
    gaps = fold_gaps(REVIEWER_GRADES, REVIEWER_FOLDS, 3, 0, REVIEWER_PATIENTS, ICDR)
    assert gaps.without == {1: [0], 3: [1]} and gaps.left_out == [1, 3] and not gaps.redo_helps
    assert gaps.fix.startswith("--seed 16 (checked: its 3 folds then hold every grade), or --folds 2 ")
    assert gaps.fix.endswith("add labelled grade 1 (Mild) and grade 3 (Severe) images of more patients")
    unstratified = [0 if g == 1 else i % 2 + 1 for i, g in enumerate(REVIEWER_GRADES)]
    old = fold_gaps(REVIEWER_GRADES, unstratified, 3, 0, None, ICDR)
    assert old.left_out and old.redo_helps  # StratifiedKFold today puts every grade in every fold
    assert fold_gaps(REVIEWER_GRADES, REVIEWER_FOLDS, 3, 0, REVIEWER_PATIENTS, ICDR) == gaps
    # folds not grouped (no patients): each image its own unit, as FoldGaps.unit says
    assert fold_gaps([0, 1, 0, 1], [0, 0, 1, 1], 2, 0) == type(gaps)({}, [], (), False, unit="labelled image")
    assert old.unit == "labelled image" and gaps.unit == "patient"


def test_the_manifest_s_folds_are_recomputed_with_the_ingest_s_patient_groups() -> None:
    """A review: with only some rows naming a patient, the ingest groups a row without one by
    its image id, but manifest_fold_gaps named it ``image:<row>``; StratifiedGroupKFold orders
    groups by name, so the recomputed folds differed from the ingest's and the preflight could
    say "redo the ingest" of an ingest this version made (the same folds again). The rows now
    carry the image id, and each trial's verdict is the one of the ingest's own groups; a
    patient column set but empty everywhere (the summary says it was set) groups too."""
    checked = 0
    for trial in range(300):
        rng = np.random.default_rng(trial)
        n = 24
        grades = rng.integers(0, 4, n).tolist()
        cells = [f"P{rng.integers(0, 8):02d}" if rng.random() < .6 else "" for _ in range(n)]
        ids = [f"img{i:03d}" for i in range(n)]
        groups = [p or ids[i] for i, p in enumerate(cells)]
        folds, _ = assign_folds(grades, 3, 0, groups)
        truth = fold_gaps(grades, folds, 3, 0, groups)
        got = manifest_fold_gaps(list(zip(grades, folds.tolist(), cells, ids, strict=True)), 0)
        assert (got.left_out, got.redo_helps, got.fix) == (truth.left_out, truth.redo_helps, truth.fix), trial
        checked += bool(truth.left_out)
    assert checked  # some trials leave a grade out of a fold
    # a patient column set, its cells all empty: the ingest grouped each image alone (folds made
    # by hand here, grade 3 only in folds 1 and 2, so that there is a gap to judge)
    grades = [0, 1, 2, 3] * 6
    ids = [f"img{i:03d}" for i in range(len(grades))]
    folds = [i % 3 if g != 3 else 1 + i % 2 for i, g in enumerate(grades)]
    rows = [(g, f, "", i) for g, f, i in zip(grades, folds, ids, strict=True)]
    grouped = manifest_fold_gaps(rows, 0, grouped=True)
    assert grouped.left_out == [3] and grouped == fold_gaps(grades, folds, 3, 0, ids)
    assert manifest_fold_gaps(rows, 0) == fold_gaps(grades, folds, 3, 0, None)  # no patient column


def test_every_sentence_on_a_fold_unit_takes_its_words_from_one_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """The words for the unit the folds keep whole (patient, image group, image) were chosen in
    several places (the rare-grade fix, the too-few-units error, the gap note, the preflight),
    each with its own if/else: one could change without the others. They are now one table,
    FOLD_UNITS: an entry marked here changes every sentence that counts or adds such units."""
    marked = FoldUnit("patient", gloss="GLOSS", more="MORE", others="OTHERS", split="SPLIT",
                      kept="KEPT {units}")
    monkeypatch.setitem(FOLD_UNITS, "patient", marked)
    with pytest.raises(IngestError) as raised:
        assign_folds([0, 1], 2, 0, ["P", "P"], "labels.csv")
    (problem,) = raised.value.problems
    assert problem.what == "only 1 patient (GLOSS) for 2 folds"
    assert problem.fix == "cross-validation needs at least one patient per fold: add OTHERS (at least 1 more patient)"
    mild = _gap_notes(assign_folds(REVIEWER_GRADES, 3, 0, REVIEWER_PATIENTS, "/d/grades.csv", ICDR)[1])[0]
    assert "5 labelled images of 3 patients (GLOSS), enough for 3 folds: the SPLIT did not spread" in mild.what
    assert mild.fix.endswith("add labelled grade 1 (Mild) MORE")
    what, fix = rare_grade(1, ICDR, 2, "patient", 3, 2)
    assert what.startswith("grade 1 (Mild) has only 2 patients (GLOSS); stratified 3-fold")
    assert fix == "--folds 2, or add labelled grade 1 (Mild) MORE (at least 3 for 3 folds)"
    assert marked.held(2) == "KEPT 2 patients (GLOSS)"


@pytest.mark.parametrize(("unit", "fix"), [
    ("patient", "cross-validation needs at least one patient per fold: add training images of other "
                "patients (at least 1 more patient)"),
    (TWIN_UNIT, "cross-validation needs at least one image group per fold: add training images that are "
                "not near twins of those there (at least 1 more image group)"),
    (None, "cross-validation needs at least one training image per fold: add at least 1 more training image"),
])
def test_a_set_of_one_unit_is_refused_in_the_words_of_its_unit(unit: str | None, fix: str) -> None:
    """The table's words, as the ingest said them before it: one patient, one image group (with
    what it is) or one image cannot be split into 2 folds."""
    with pytest.raises(IngestError) as raised:
        if unit is None:
            assign_folds([0], 2, 0, source="labels.csv")
        else:
            assign_folds([0, 1], 2, 0, ["P", "P"], "labels.csv", unit=unit)
    (problem,) = raised.value.problems
    assert problem.what == {"patient": "only 1 patient for 2 folds",
                            TWIN_UNIT: "only 1 image group (near twins and a patient's images kept together "
                                       "by --near-duplicate-mse) for 2 folds",
                            None: "only 1 training image for 2 folds"}[unit]
    assert problem.fix == fix


def test_a_grade_of_one_image_in_two_folds_is_told_its_minimum_once() -> None:
    """F5 (a trial user): with 2 folds the fix read ``(at least 2 for 2 folds, 2 for --folds 2)``,
    one count said twice; the second clause is said only when it offers fewer folds."""
    _, fix = rare_grade(1, ICDR, 1, "patient", 2, 1)
    assert fix.startswith("add labelled grade 1 (Mild) images of more patients (at least 2 for 2 folds), or "), fix
    assert "--folds 2" not in fix
    _, fix = rare_grade(1, ICDR, 1, "labelled image", 5, 1)
    assert fix.startswith("add labelled grade 1 (Mild) images (at least 5 for 5 folds, 2 for --folds 2), or "), fix
    assert single_image_minimum(3, " of each") == "at least 3 of each for 3 folds, 2 of each for --folds 2"


def test_units_per_grade_counts_a_patient_in_each_of_its_grades_and_refuses_unequal_lists() -> None:
    """A patient is counted once per grade its images have; images when not grouped; patients
    and grades of different lengths (none, or one too few) are a ValueError, never a count."""
    assert units_per_grade([0, 0, 1, 2, 2], ["a", "a", "a", "b", "c"]) == [1, 1, 2]
    assert units_per_grade([0, 0, 1, 2, 2], None) == [2, 1, 2]
    assert units_per_grade([], None) == units_per_grade([], []) == []
    for grades, patients in (([0, 1], ["a"]), ([], ["a"])):
        with pytest.raises(ValueError, match=f"{len(grades)} grades but {len(patients)} patients"):
            units_per_grade(grades, patients)


def test_a_grade_with_exactly_n_folds_images_still_gets_stratified_folds() -> None:
    """Five grade-0 images for 5 folds: stratification is possible (max count >= n_folds), so the
    folds are StratifiedKFold(5, shuffle=True, random_state=0)'s, not dealt_folds' (mutation D03:
    > instead of >=)."""
    from sklearn.model_selection import StratifiedKFold

    y = [0] * 5 + [1] * 3
    expected = np.full(len(y), -1, dtype=np.int64)
    with pytest.warns(UserWarning, match="least populated class"):
        for fold, (_, val) in enumerate(StratifiedKFold(5, shuffle=True, random_state=0).split(np.zeros(len(y)), y)):
            expected[val] = fold
    folds, _ = assign_folds(y, 5, 0)
    assert folds.tolist() == expected.tolist() == [2, 0, 1, 3, 4, 0, 2, 1]


def test_fewer_patients_than_folds_is_offered_unchecked_not_a_crash() -> None:
    """Mutation audit M34: 3 patients cannot make 4 patient-grouped folds (scikit-learn raises
    ``n_splits > number of groups``); the flag is offered unchecked instead."""
    from data_prep.folds import checked_fold_count

    assert checked_fold_count([0, 1, 0, 1, 0, 1], list("aabbcc"), 4, 0) == "--folds 4"


def test_the_fold_count_is_checked_on_the_folds_its_sites_make() -> None:
    """Mutation audit M58: the first check of :func:`checked_fold_count` split without the
    site column (its later tries split with it), so it could offer a fix for folds the ingest
    does not make. Here 4 grade-only folds leave a grade out of a fold and the grade x site
    folds the ingest makes do not: with the sites, ``--folds 4`` as asked."""
    from data_prep.folds import checked_fold_count

    grades = [0, 0, 0, 0, 1, 1, 1, 0, 0, 1, 1]
    patients = [f"p{i}" for i in (2, 1, 5, 7, 6, 7, 2, 0, 1, 5, 8)]
    sites = [f"s{i}" for i in (2, 0, 2, 2, 1, 2, 2, 2, 0, 2, 1)]
    assert checked_fold_count(grades, patients, 4, 0).startswith("--folds 3 (checked: 4 folds leave a grade out")
    assert checked_fold_count(grades, patients, 4, 0, sites) == "--folds 4"


def test_one_image_for_five_folds_says_how_many_more_and_the_two_fold_minimum() -> None:
    """An editor's review (F5): "only 1 training image for 5 folds -> add training images:
    cross-validation needs at least 2 training images, one per fold" contradicted itself; the
    fix now counts what to add and says --folds 2's own minimum."""
    with pytest.raises(IngestError) as raised:
        assign_folds([0], 5, 0, source="labels.csv")
    (problem,) = raised.value.problems
    assert problem.what == "only 1 training image for 5 folds"
    assert "needs at least one training image per fold" in problem.fix
    assert "add at least 4 more training images" in problem.fix
    assert "or use --folds 2 (needs at least 2 training images)" in problem.fix
