"""Cross-validation folds of the training images: stratified by grade, grouped by patient.

There is no official DRAC validation split; the top teams used stratified 5-fold CV on the
611 training images. Folds are a pure function of (grades in manifest order, groups, K, seed),
and the manifest order is the natural sort of the file names, so the same seed and file set
always give the same folds.

A grade with fewer images (or patients) than folds cannot be in every fold: the folds without
it validate without that grade. When no grade has as many images as folds, scikit-learn cannot
stratify; the images are then dealt grade by grade (:func:`dealt_folds`), as evenly as the
counts allow. Data that can be stratified get ``StratifiedKFold``'s folds, unchanged. :func:`rare_grade` says so in the words the ingest and the
preflight of ``python -m drac_ssl.train`` (``drac_ssl.preflight``) share.

Folds grouped by patient (``StratifiedGroupKFold``) can leave a grade out of a fold although it
has as many patients as folds: the splitter deals patients greedily and may not manage. The
folds are kept (the same inputs give the same folds), and a note says which folds and offers
what was checked to work (:func:`working_folds`: another fold seed, fewer folds) besides more
patients of the grade; :func:`folds_without_grade` finds such folds in any manifest, for the
report and the preflight.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from data_prep.grades import grade_label, merge_fix
from data_prep.problems import Problem, counted, note
from data_prep.validate import IngestError, error
from drac_ssl.starting import import_keeping_random

if TYPE_CHECKING:  # imported in assign_folds: scikit-learn (SciPy, pandas) is 4-5 s of imports,
    # which python -m data_prep --help and the ingest's usage errors need not wait for
    from sklearn.model_selection import GroupKFold, StratifiedGroupKFold, StratifiedKFold


@dataclass(frozen=True)
class FoldUnit:
    """How the fold notes, their fixes and the preflight say one kind of unit the folds keep
    whole (a value of :data:`FOLD_UNITS`, keyed by :attr:`noun`): every sentence that counts
    such units or says what to add of them takes its words here."""

    noun: str  # one unit, counted with data_prep.problems.counted: "patient" -> "3 patients"
    gloss: str = ""  # what a unit is, in brackets after its count; '' for a plain noun
    more: str = "images"  # what to add of a grade with too few units: "images of more patients"
    others: str = "training images"  # what to add to a set of too few units for its folds
    split: str = ""  # the split that keeps the units whole (and may miss a grade); '' when none
    # how a grade's images sit in grouped folds, ``{units}`` their count (:meth:`held`); '' when not grouped
    kept: str = ""

    def count(self, n: int) -> str:
        """``n`` units, with :attr:`gloss` in brackets when there is one: ``3 patients``,
        ``2 image groups (near twins and ...)``."""
        return counted(n, self.noun) + (f" ({self.gloss})" if self.gloss else "")

    def held(self, n: int) -> str:
        """:attr:`kept` of a grade whose images are of ``n`` units: ``its images are of 3
        patients, and a patient's images stay in one fold``."""
        return self.kept.format(units=self.count(n))


TWIN_UNIT = "image group"
"""The unit of folds that keep near twins together (``data.near_duplicate_mse``), as the notes
count it when the twins joined some images or patients
(:func:`data_prep.near_duplicates.grouped_units`): an image with its near twins and, where
patients are named, their patients' images (its :data:`FOLD_UNITS` entry's ``gloss``)."""

FOLD_UNITS: dict[str, FoldUnit] = {unit.noun: unit for unit in (
    FoldUnit("patient", more="images of more patients", others="training images of other patients",
             split="patient-grouped split",
             kept="its images are of {units}, and a patient's images stay in one fold"),
    FoldUnit(TWIN_UNIT, "near twins and a patient's images kept together by --near-duplicate-mse",
             more="images (not near twins of those it has)",
             others="training images that are not near twins of those there",
             split="split that keeps image groups whole", kept="its images are in {units}, each in one fold"),
    # leave-one-site-out (the site column as the patient column): each site one unit
    FoldUnit("site", more="images of more sites", others="training images of other sites",
             split="site-grouped split (leave-one-site-out)",
             kept="its images are of {units}, and a site's images stay in one fold"),
    FoldUnit("labelled image"),  # folds not grouped: each image its own unit
    FoldUnit("training image"),
)}
"""The words of each unit the folds can keep whole, keyed by its noun (the ``unit`` of
:func:`assign_folds`, :func:`rare_grade`, :func:`gap_fix`, :attr:`FoldGaps.unit`): patients,
image groups (:data:`TWIN_UNIT`), sites (leave-one-site-out: ``--patient-column site
--site-column site``), or single images (``labelled image``, ``training image``)
when the folds are not grouped."""


def too_few_units_fix(units: int, n_folds: int, unit: str) -> str:
    """The fix of ``units`` (of ``unit``, a :data:`FOLD_UNITS` key) being fewer than the
    ``n_folds`` folds: fewer folds (at least 2) when there are 2 or more, else how many more
    units to add and ``--folds 2``'s own minimum: ``cross-validation needs at least one training
    image per fold: add at least 4 more training images, or use --folds 2 (needs at least 2
    training images)``. An editor's review (F5): "only 1 training image for 5 folds -> ...
    needs at least 2 training images, one per fold" contradicted itself."""
    words = FOLD_UNITS[unit]
    if units >= 2:
        return f"use --folds {units} or fewer (at least 2), or add {words.others}"
    more = counted(n_folds - units, f"more {unit}")
    add = (f"add at least {more}" if words.others == "training images"
           else f"add {words.others} (at least {more})")
    fewer = f", or use --folds 2 (needs at least {counted(2, unit)})" if n_folds > 2 else ""
    return f"cross-validation needs at least one {unit} per fold: {add}{fewer}"


SKLEARN_FEW_MEMBERS = "least populated class in y has only"
"""scikit-learn's warning for a class smaller than n_splits, replaced by :func:`rare_grade`."""


def single_image_minimum(n_folds: int, each: str = "") -> str:
    """How many of the folds' units a grade of one unit needs, in the ingest's flags: images,
    or patients (image groups) when the folds keep those whole: the unit the caller's fix
    names (:data:`FOLD_UNITS`' ``more``: ``images of more patients``). ``at least 5 for 5
    folds, 2 for --folds 2``; ``at least 2 for 2 folds`` alone when ``n_folds`` is 2 (the second
    clause would repeat the first). ``each``: said after each count (``' of each'``, for several
    grades). No fold count helps such a grade (one unit is in one fold), so the fewest that
    cross-validation can use, 2, is offered beside the folds asked for."""
    fewer = f", 2{each} for --folds 2" if n_folds > 2 else ""
    return f"at least {n_folds}{each} for {n_folds} folds{fewer}"


def rare_grade(grade: int, grade_names: Sequence[str], n: int, unit: str, n_folds: int,
               fewest: int, *, without: int | None = None, where: str = "",
               rows: Sequence[tuple[str, int]] = (), labels: str = "") -> tuple[str, str]:
    """(what is wrong, the fix) for a grade with ``n`` labelled images or patients, fewer than
    ``n_folds``: :func:`rare_grade_parts` put into words.

    The fix names the ingest's flags (``--folds``, ``--grades``); the pipeline says them as
    settings with :func:`data_prep.problems.as_config_keys`.
    """
    what, folds, add = rare_grade_parts(grade, grade_names, n, unit, n_folds, fewest, without=without,
                                        where=where, rows=rows, labels=labels)
    return what, f"--folds {folds}, or {add}" if folds else add


def rare_grade_parts(grade: int, grade_names: Sequence[str], n: int, unit: str, n_folds: int,
                     fewest: int, *, without: int | None = None, where: str = "",
                     rows: Sequence[tuple[str, int]] = (), labels: str = "") -> tuple[str, int | None, str]:
    """(what is wrong, the fewer folds that would do or None, the other fix) for a grade with
    ``n`` labelled images or patients, fewer than ``n_folds``.

    Args:
        grade: the grade's number; ``grade_names`` the names of grades 0..K-1.
        n: its labelled images (``unit='labelled image'``), patients (``unit='patient'``) or
            groups of near twins and patients (``unit=``:data:`TWIN_UNIT`).
        fewest: the fewest of any grade with too few, so that the fewer folds proposed suit
            them all. A grade of one image (patient) is in one fold whatever their number:
            no fold count helps (None), its fix is more images, or merging it into a
            neighbouring grade (:func:`data_prep.grades.merge_fix`: relabel, renumber, name
            the grades left).
        without: how many folds validate without the grade once assigned; None: before the
            folds exist, ``n_folds - n`` (stratified folds spread the ``n`` over ``n`` folds).
        where: the data the counts come from, said after them (``' in labels.csv'``).
        rows: (image name, line) of the grade's rows in the label CSV ``labels`` (its file
            name), named in the merge fix when there are few.
    """
    k = n_folds
    said = grade_label(grade, grade_names)
    folds = (f"{counted(k - n, 'fold')} would validate" if without is None
             else f"{without} of the {k} folds will validate")
    what = (f"{said} has only {FOLD_UNITS[unit].count(n)}{where}; stratified {k}-fold "
            f"cross-validation needs at least {k} of every grade ({folds} without any {said} image)")
    more = FOLD_UNITS[unit].more
    if n < 2:  # fewer folds cannot help: one image is in one fold, and there are 2 or more
        add = f"add labelled {said} {more} ({single_image_minimum(k)})"
        merge = merge_fix(grade, grade_names, rows, labels, None if unit != "labelled image" else n)
        return what, None, f"{add}, or {merge}" if merge else add
    return what, fewest if fewest >= 2 else n, f"add labelled {said} {more} (at least {k} for {k} folds)"


def assign_folds(grades: Sequence[int], n_folds: int, seed: int,
                 patients: Sequence[str] | None = None, source: str = "folds",
                 grade_names: Sequence[str] = (),
                 rows: Sequence[tuple[str, int]] | None = None,
                 unit: str = "patient", sites: Sequence[str] | None = None) -> tuple[np.ndarray, list[Problem]]:
    """Fold index 0..n_folds-1 for each training image, and any caveats as notes at ``source``:
    :func:`assign_site_folds` without how the folds treated the sites."""
    folds, caveats, _ = assign_site_folds(grades, n_folds, seed, patients, source, grade_names, rows,
                                          unit, sites)
    return folds, caveats


def assign_site_folds(grades: Sequence[int], n_folds: int, seed: int,
                      patients: Sequence[str] | None = None, source: str = "folds",
                      grade_names: Sequence[str] = (),
                      rows: Sequence[tuple[str, int]] | None = None,
                      unit: str = "patient", sites: Sequence[str] | None = None
                      ) -> tuple[np.ndarray, list[Problem], str]:
    """Fold index 0..n_folds-1 for each training image, any caveats as notes at ``source``,
    and how the folds treated ``sites`` (a key of :data:`SITE_FOLDS`: ``grades`` when the
    grade-only folds were kept, :data:`GRADE_ONLY_KEPT`'s note, else ``sites``; '' without
    ``sites``; ``whole`` is the caller's, which passes no sites then).

    ``StratifiedKFold(shuffle=True, random_state=seed)``; with ``patients`` (one id per
    image) ``StratifiedGroupKFold`` instead, so no patient is in two folds. When no grade has
    ``n_folds`` images, stratification is impossible and the images are dealt grade by grade
    (:func:`dealt_folds`; ``GroupKFold`` with patients). A grade with
    fewer images (patients) than folds is a note naming it (``grade_names``: the names of
    grades 0..K-1), its count, the folds that validate without it and the fix
    (:func:`rare_grade`; ``rows``: each image's (name, line) in the label CSV ``source``, so
    that the fix names the images to relabel); the folds are still made, and training can
    run on them. A grade of at least ``n_folds`` patients that the patient-grouped folds still
    leave out of a fold is a note too, naming the folds, with the seed and the fold count
    :func:`working_folds` found to work (:func:`gap_fix`); the folds are not changed. Raises
    :class:`IngestError` when there are too few images (or patients) for ``n_folds``;
    ``source`` (the label CSV) is where the problems are reported. ``unit``: what the notes
    call an id of ``patients``, ``patient`` or, when near twins joined them,
    :data:`TWIN_UNIT` (said with the words of :data:`FOLD_UNITS`).

    ``sites`` (``data.site_column``: one site per image, or None): without ``patients`` the
    images are dealt in grade, then site order after a seeded shuffle
    (:func:`site_dealt_folds`), so that each grade, each grade x site and each fold size are
    within one of even. With ``patients`` the folds are stratified on grade x site
    (:func:`site_strata`: a grade x site stratum of fewer patients than folds is pooled with
    its grade's other small strata, said in one note), unless that spreads the grades less
    evenly than grade-only folds (:func:`grade_spread`): the grade-only folds are then kept,
    said in a note. The grade notes above stay on grades; the seeds and fold counts they offer
    are checked with the sites. None: exactly the folds made before sites existed.
    """
    y = np.asarray(grades, dtype=np.int64)
    folds = np.full(len(y), -1, dtype=np.int64)
    if len(y) == 0:
        return folds, [], ""
    units = len(set(patients)) if patients is not None else len(y)
    grouped_unit = unit
    unit = grouped_unit if patients is not None else "training image"
    if units < n_folds:
        fix = too_few_units_fix(units, n_folds, unit)
        problem = error(source, f"only {FOLD_UNITS[unit].count(units)} for {n_folds} folds", fix)
        raise IngestError(problem.line, [problem])
    per_grade = units_per_grade(y, patients)
    caveats: list[Problem] = []
    folds, caught, pooled, kept = _split(y, n_folds, seed, patients, sites)
    if pooled:
        caveats.append(note(source, f"folds: {len(pooled)} grade x site stratum(s) hold fewer "
                                    f"{unit}s than the {n_folds} folds "
                                    f"({'; '.join(pooled[:6])}{' ...' if len(pooled) > 6 else ''}): "
                                    f"those are stratified by grade alone, so their sites may "
                                    f"not be spread evenly over the folds",
                            "nothing to do; more images of those sites and grades, or fewer "
                            "folds (--folds), spread them by site too", "folds"))
    if kept:
        caveats.append(note(source, f"{GRADE_ONLY_KEPT}: with the "
                                    f"{unit}s kept whole, grade x site folds spread the grades "
                                    f"less evenly ({kept}), so the sites may not be spread evenly "
                                    f"over the folds (report.md's figures per site still hold)",
                            "nothing to do; another fold seed (--seed) may let the folds spread "
                            "sites too", "folds"))
    rare = {g: n for g, n in enumerate(per_grade) if 0 < n < n_folds}
    for grade, n in rare.items():
        its = [row for row, g in zip(rows, y, strict=True) if g == grade] if rows else []
        what, fix = rare_grade(grade, grade_names, n,
                               grouped_unit if patients is not None else "labelled image",
                               n_folds, min(rare.values()),
                               without=n_folds - len(set(folds[y == grade].tolist())),
                               rows=its, labels=Path(source).name if rows else "")
        caveats.append(note(source, what, fix, "folds"))
    caveats += _gap_notes(y, folds, n_folds, seed, patients, per_grade, source, grade_names, grouped_unit,
                          sites)
    caveats += [note(source, f"folds: {w.message}", "check the fold counts below", "folds")
                for w in caught if SKLEARN_FEW_MEMBERS not in str(w.message)]
    return folds, caveats, "" if sites is None else "grades" if kept else "sites"


GRADE_ONLY_KEPT = "folds: stratified on grade alone, not grade x site"
"""How :func:`assign_folds`' note begins when it kept grade-only folds of patients because grade x
site folds spread the grades less evenly; :func:`assign_site_folds` returns ``grades`` then, which the ingest records (``ingest_summary.json``'s
``sites.folds``: :data:`SITE_FOLDS`)."""
SITE_FOLDS = {"sites": "the folds stratified on grade x site",
              "grades": "the folds stratified on grade alone (grade x site folds spread the grades less evenly)",
              "whole": "each site in its own fold (leave-one-site-out)"}
"""``ingest_summary.json``'s ``sites.folds`` with ``data.site_column`` -> how the folds treated
the sites, in the model card's words: ``sites`` grade x site (dealt, or stratified with
patients), ``grades`` grade alone (with patients, when grade x site cost grade balance:
:data:`GRADE_ONLY_KEPT`), ``whole`` each site whole in one fold (the site as the patient
column)."""


def site_strata(grades: Sequence[int] | np.ndarray, sites: Sequence[str], n_folds: int,
                patients: Sequence[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """The stratum of each image for folds stratified on grade x site, and the strata pooled.

    Each (grade, site) pair holding at least ``n_folds`` units (its images' distinct
    ``patients``, or its images when None) is a stratum of its own; the smaller pairs of a
    grade are pooled into one stratum of that grade (stratified by grade alone there), so
    that a small site never leaves a stratum the splitter cannot spread. Returns ``(strata,
    pooled)``: ``strata`` ``(n,)`` int64 labels (any integers; the splitter reads only their
    equality), ``pooled`` the pairs pooled as ``"grade G at SITE: N"`` in grade then site order
    ([] when none was). Raises ValueError when ``sites`` and ``grades`` differ in length."""
    y = np.asarray(grades, dtype=np.int64)
    if len(sites) != len(y):
        raise ValueError(f"site_strata: {len(y)} grades but {len(sites)} sites (one of each per image)")
    names = sorted(set(sites))
    at = {s: i for i, s in enumerate(names)}
    units = patients if patients is not None else [str(i) for i in range(len(y))]
    members: dict[tuple[int, str], set[str]] = {}
    for g, s, u in zip(y.tolist(), sites, units, strict=True):
        members.setdefault((g, s), set()).add(u)
    small = {pair for pair, held in members.items() if len(held) < n_folds}
    width = len(names) + 1  # per grade: one stratum per site, and its pooled one last
    strata = np.array([g * width + (len(names) if (g, s) in small else at[s])
                       for g, s in zip(y.tolist(), sites, strict=True)], dtype=np.int64)
    pooled = [f"grade {g} at {s}: {len(members[(g, s)])}" for g, s in sorted(small)]
    return strata, pooled


def units_per_grade(grades: Sequence[int] | np.ndarray, patients: Sequence[str] | None) -> list[int]:
    """The units the folds spread, per grade 0..max of ``grades`` (one per training image):
    patients (``patients``: one id per image, a patient counted in every grade its images have),
    or images when the folds are not grouped (``patients`` None); [] without images. The
    ingest's folds and notes count here, and so does the preflight of ``python -m
    drac_ssl.train``, from the label CSV for a new ingest and from an existing ingest's manifest
    (its patient column, :func:`manifest_units`) for the full run after a first try.

    Raises:
        ValueError: ``patients`` and ``grades`` differ in length."""
    y = np.asarray(grades, dtype=np.int64)
    if patients is not None and len(patients) != len(y):
        raise ValueError(f"units_per_grade: {len(y)} grades but {len(patients)} patients (one of each per image)")
    if len(y) == 0:
        return []
    if patients is None:
        return np.bincount(y).tolist()
    return [len({p for p, g in zip(patients, y, strict=True) if g == grade})
            for grade in range(int(y.max()) + 1)]


def grade_spread(grades: Sequence[int] | np.ndarray, folds: Sequence[int] | np.ndarray,
                 n_folds: int) -> int:
    """How unevenly ``folds`` spread the grades: the sum over the grades present of (most - fewest)
    images of that grade in a fold 0..``n_folds``-1; 0 when each grade is in every fold
    equally."""
    y, f = np.asarray(grades, dtype=np.int64), np.asarray(folds, dtype=np.int64)
    return int(sum(int(np.ptp(np.bincount(f[y == g], minlength=n_folds))) for g in set(y.tolist())))


def site_dealt_folds(grades: Sequence[int] | np.ndarray, sites: Sequence[str], n_folds: int,
                     seed: int) -> np.ndarray:
    """Folds of images not grouped by patient, dealt on grade x site: the images, in a seeded
    random order (``seed``), are dealt to the folds in turn (as :func:`dealt_folds`), grade
    after grade, and within a grade site block after site block. Each grade and each grade x
    site block is dealt in one run, so each grade, each grade x site and each fold size is
    within one of even; the order of a grade's site blocks is chosen greedily (the block that
    widens its site's spread over the folds least goes next, ties by site name), which keeps
    each site's total near even too. ``(n,)`` int64, a pure function of the inputs."""
    y = np.asarray(grades, dtype=np.int64)
    names = sorted(set(sites))
    at = np.asarray([names.index(s) for s in sites], dtype=np.int64) if names else np.zeros(0, np.int64)
    order = np.random.default_rng(seed).permutation(len(y))
    folds = np.empty(len(y), dtype=np.int64)
    load = np.zeros((len(names), n_folds), dtype=np.int64)
    cursor = 0
    for grade in sorted(set(y.tolist())):
        blocks = {i: order[(y[order] == grade) & (at[order] == i)] for i in range(len(names))}
        blocks = {i: b for i, b in blocks.items() if len(b)}
        while blocks:
            def widening(i: int, start: int = cursor, held: dict[int, np.ndarray] = blocks) -> tuple[int, int]:
                after = load[i].copy()
                np.add.at(after, (start + np.arange(len(held[i]))) % n_folds, 1)
                return int(np.ptp(after) - np.ptp(load[i])), i

            best = min(blocks, key=widening)
            dealt = (cursor + np.arange(len(blocks[best]))) % n_folds
            folds[blocks[best]] = dealt
            np.add.at(load[best], dealt, 1)
            cursor = (cursor + len(blocks.pop(best))) % n_folds
    return folds


def _split(y: np.ndarray, n_folds: int, seed: int, patients: Sequence[str] | None,
           sites: Sequence[str] | None = None
           ) -> tuple[np.ndarray, list[warnings.WarningMessage], list[str], str]:
    """The folds of :func:`assign_folds` (its splitter chosen as it says), the warnings
    scikit-learn gave, the grade x site strata pooled (:func:`site_strata`) and, when grade x
    site folds of ``patients`` spread the grades less evenly than grade-only ones (and the
    grade-only ones were kept), the two :func:`grade_spread` in words ('' otherwise); no check,
    no note. ``sites`` None: exactly the folds made before sites existed."""
    if sites is None:
        folds, caught = _split_grades(y, n_folds, seed, patients)
        return folds, caught, [], ""
    if patients is None:
        # not grouped: dealt in grade, then site order, after a seeded shuffle (StratifiedKFold
        # over grade x site strata spread the grades less evenly: it numbers them by first seen)
        return site_dealt_folds(y, sites, n_folds, seed), [], [], ""
    strata, pooled = site_strata(y, sites, n_folds, patients)
    by_site, caught = _split_grades(strata, n_folds, seed, patients)
    by_grade, caught_grade = _split_grades(y, n_folds, seed, patients)
    spread_site, spread_grade = grade_spread(y, by_site, n_folds), grade_spread(y, by_grade, n_folds)
    if spread_site > spread_grade:
        return by_grade, caught_grade, [], (f"grade spread {spread_site} images against {spread_grade} "
                                            f"with grade alone, summed over the grades")
    return by_site, caught, pooled, ""


def _split_grades(y: np.ndarray, n_folds: int, seed: int, patients: Sequence[str] | None
                  ) -> tuple[np.ndarray, list[warnings.WarningMessage]]:
    """The folds of ``y`` (grades, or any stratum labels): dealt (:func:`dealt_folds`) when no
    label has ``n_folds`` images and no patients, else scikit-learn's splitter, and the
    warnings it gave."""
    model_selection = import_keeping_random("sklearn.model_selection")
    GroupKFold, StratifiedGroupKFold, StratifiedKFold = (
        model_selection.GroupKFold, model_selection.StratifiedGroupKFold, model_selection.StratifiedKFold)

    folds = np.full(len(y), -1, dtype=np.int64)
    splitter: StratifiedKFold | StratifiedGroupKFold | GroupKFold
    stratified = int(np.bincount(y).max()) >= n_folds
    caught: list[warnings.WarningMessage] = []
    if not stratified and patients is None:
        # sklearn cannot stratify when every grade has fewer images than folds (tiny sets)
        return dealt_folds(y, n_folds, seed), caught
    if not stratified:
        splitter = GroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    elif patients is not None:
        splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    else:
        splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for fold, (_, val) in enumerate(splitter.split(np.zeros(len(y)), y, groups=patients)):
            folds[val] = fold
    return folds, caught


def folds_without_grade(grades: Sequence[int] | np.ndarray, folds: Sequence[int] | np.ndarray,
                        n_folds: int) -> dict[int, list[int]]:
    """For each grade present among ``grades``, the folds 0..``n_folds``-1 (ascending) whose
    validation images hold none of it, where there are any: ``{1: [0], 3: [1]}`` (grade 1 is
    in no image of fold 0 ...). ``folds``: each image's fold, as ``grades``. Such a fold's
    one-vs-one and one-vs-rest AUCs cannot be computed (n/a) and its kappa leaves the grade out.
    The report and the model card say it from a manifest; :func:`assign_folds` notes it."""
    y = np.asarray(grades, dtype=np.int64)
    f = np.asarray(folds, dtype=np.int64)
    gaps: dict[int, list[int]] = {}
    for grade in sorted(set(y.tolist())):
        held = set(f[y == grade].tolist())
        without = [k for k in range(n_folds) if k not in held]
        if without:
            gaps[grade] = without
    return gaps


FOLD_SEEDS_TRIED = 20
"""Fold seeds after the one given that :func:`working_folds` tries, when some grade of as many
patients as folds misses a fold; only one found to work is offered."""


def _fills(y: np.ndarray, n_folds: int, seed: int, patients: Sequence[str] | None,
           per_grade: Sequence[int], sites: Sequence[str] | None = None) -> bool:
    """Whether the folds of (``n_folds``, ``seed``) put every grade of at least ``n_folds``
    units (``per_grade``: patients or images per grade) in every fold; ``sites``: as
    :func:`assign_folds` splits them."""
    folds = _split(y, n_folds, seed, patients, sites)[0]
    return not any(per_grade[g] >= n_folds for g in folds_without_grade(y, folds, n_folds))


def working_folds(grades: Sequence[int] | np.ndarray, n_folds: int, seed: int,
                  patients: Sequence[str] | None, per_grade: Sequence[int],
                  sites: Sequence[str] | None = None) -> tuple[int | None, int | None]:
    """(another fold seed, a smaller fold count) whose folds were checked to put every grade of
    at least that many units (``per_grade``: patients, or images without ``patients``, of
    grades 0..) in every fold, each None where none was found. The seeds tried are the
    :data:`FOLD_SEEDS_TRIED` after ``seed`` (with ``n_folds`` folds), the fold counts
    ``n_folds - 1`` down to 2 (with ``seed``); the first that works is given. Each try is one
    split: only called when the folds of (``n_folds``, ``seed``) leave such a grade out of a
    fold, which the default folds of a stratified set without patients never do. ``sites``
    (one per image, or None): the folds tried are split on them too, as :func:`assign_folds`
    splits them, so the seed offered is checked on the folds it will make."""
    y = np.asarray(grades, dtype=np.int64)
    other = next((s for s in range(seed + 1, seed + 1 + FOLD_SEEDS_TRIED)
                  if _fills(y, n_folds, s, patients, per_grade, sites)), None)
    fewer = next((k for k in range(n_folds - 1, 1, -1)
                  if (patients is None or len(set(patients)) >= k)
                  and _fills(y, k, seed, patients, per_grade, sites)), None)
    return other, fewer


def checked_fold_count(grades: Sequence[int] | np.ndarray, patients: Sequence[str] | None, n_folds: int,
                       seed: int, sites: Sequence[str] | None = None) -> str:
    """The ingest's flags for ``n_folds`` folds offered as a fix (a grade of fewer units than the
    folds asked for: :func:`rare_grade_parts`' fold count), checked as the ingest will split
    ``grades`` (one per labelled training image) grouped by ``patients`` (one id per image) with
    ``seed``: ``--folds 4`` when those folds put every grade of at least 4 patients in every
    fold; else, patient-grouped folds having left such a grade out of a fold (StratifiedGroupKFold
    spreads patients, not images), the seed or the smaller fold count :func:`working_folds` found
    to fill them, with what was checked (``--folds 4 --seed 1 (checked: 4 folds with --seed 0
    leave a grade out of a fold; with --seed 1 its 4 folds hold every grade)``, ``--folds 3
    (checked: 4 folds leave a grade out of a fold; its 3 folds hold every grade)``);
    ``--folds 4`` unchecked when ``patients`` is None (stratified folds of images always fill a
    grade of as many images as folds) or neither was found (a trial: ``data.n_folds=4`` after a
    first try, whose 4 folds then left grade 0 out of one). ``sites`` (one per image, or None):
    the folds checked are split on them too, as :func:`assign_site_folds` splits them
    (``data.site_column``; a review: ``data.n_folds=4`` offered unchecked beside a site column
    left a grade out of a fold)."""
    flag = f"--folds {n_folds}"
    if patients is None or len(set(patients)) < n_folds or len(grades) == 0:
        return flag
    y = np.asarray(grades, dtype=np.int64)
    per_grade = units_per_grade(y, patients)
    if _fills(y, n_folds, seed, patients, per_grade, sites):
        return flag
    other, fewer = working_folds(y, n_folds, seed, patients, per_grade, sites)
    if other is not None:
        return (f"{flag} --seed {other} (checked: {n_folds} folds with --seed {seed} leave a grade out of "
                f"a fold; with --seed {other} its {n_folds} folds hold {_every_grade_words(per_grade, n_folds, 'patient')})")
    if fewer is not None:
        return (f"--folds {fewer} (checked: {n_folds} folds leave a grade out of a fold; its {fewer} "
                f"folds hold {_every_grade_words(per_grade, fewer, 'patient')})")
    return flag


def _every_grade_words(per_grade: Sequence[int], k: int, unit: str) -> str:
    """'every grade' when every grade present has at least ``k`` units, else 'every grade of
    at least k patients' (a rarer grade cannot be in every fold)."""
    present = [n for n in per_grade if n > 0]
    return "every grade" if min(present) >= k else f"every grade of at least {counted(k, unit)}"


def gap_fix(grades: Sequence[int], grade_names: Sequence[str], n_folds: int, seed: int,
            found: tuple[int | None, int | None], per_grade: Sequence[int], unit: str) -> str:
    """The fix, in the ingest's flags (``--seed``, ``--folds``), for ``grades`` of at least
    ``n_folds`` units (``unit``: patient or labelled image) left out of a fold: the
    alternatives of :func:`gap_fixes` joined by ', or '."""
    return ", or ".join(gap_fixes(grades, grade_names, n_folds, seed, found, per_grade, unit))


def gap_fixes(grades: Sequence[int], grade_names: Sequence[str], n_folds: int, seed: int,
              found: tuple[int | None, int | None], per_grade: Sequence[int], unit: str) -> list[str]:
    """The alternatives of :func:`gap_fix`, in order: the seed and the fold count
    :func:`working_folds` ``found`` (each only when found, with what was checked), then more
    patients (images) of the grade, which always remains."""
    other, fewer = found
    said = " and ".join(grade_label(g, grade_names) for g in grades)
    fixes = []
    if other is not None:
        fixes.append(f"--seed {other} (checked: its {n_folds} folds then hold "
                     f"{_every_grade_words(per_grade, n_folds, unit)})")
    if fewer is not None:
        fixes.append(f"--folds {fewer} (checked, with the same seed: its {fewer} folds then hold "
                     f"{_every_grade_words(per_grade, fewer, unit)})")
    more = FOLD_UNITS[unit].more
    tried = ("" if other is not None else
             f" (none of the {FOLD_SEEDS_TRIED} fold seeds after {seed} put "
             f"{'it' if len(grades) == 1 else 'them'} in every fold)")
    fixes.append(f"add labelled {said} {more}{tried}")
    return fixes


def _gap_notes(y: np.ndarray, folds: np.ndarray, n_folds: int, seed: int,
               patients: Sequence[str] | None, per_grade: Sequence[int], source: str,
               grade_names: Sequence[str], grouped_unit: str = "patient",
               sites: Sequence[str] | None = None) -> list[Problem]:
    """A note for each grade of at least ``n_folds`` units that the folds still leave out of a
    validation fold (patient-grouped folds: StratifiedGroupKFold spreads patients, not images,
    and may not manage), with :func:`gap_fix`; [] when there is none (a rarer grade has its own
    note, :func:`rare_grade`). ``grouped_unit``: what an id of ``patients`` is (``patient``,
    or :data:`TWIN_UNIT`)."""
    gaps = {g: without for g, without in folds_without_grade(y, folds, n_folds).items()
            if per_grade[g] >= n_folds}
    if not gaps:
        return []
    unit = grouped_unit if patients is not None else "labelled image"
    found = working_folds(y, n_folds, seed, patients, per_grade, sites)
    notes = []
    for grade, without in gaps.items():
        said = grade_label(grade, grade_names)
        n_images = counted(int(np.sum(y == grade)), "labelled image")
        has = (f"{n_images} of {FOLD_UNITS[unit].count(per_grade[grade])}, enough for "
               f"{n_folds} folds: the {FOLD_UNITS[unit].split} did not spread them over every fold"
               if patients is not None else f"{n_images}, enough for {n_folds} folds")
        one = len(without) == 1
        their = "that fold's" if one else "those folds'"
        what = (f"{len(without)} of the {n_folds} folds (fold{'' if one else 's'} "
                f"{', '.join(str(f) for f in without)}) will validate without any {said} image, "
                f"although it has {has}; {their} AUC cannot be "
                f"computed (n/a) and {'its' if one else 'their'} kappa leaves {said} out")
        notes.append(note(source, what, gap_fix([grade], grade_names, n_folds, seed, found,
                                                per_grade, unit), "folds"))
    return notes


@dataclass(frozen=True)
class FoldGaps:
    """The folds of a manifest checked for grades they leave out (:func:`fold_gaps`)."""

    without: dict[int, list[int]]  # every grade present -> the folds holding none of it
    left_out: list[int]  # of those, the grades of at least as many units as folds
    fixes: tuple[str, ...]  # for ``left_out``, in the ingest's flags (:func:`gap_fixes`); () when none
    redo_helps: bool  # redone as it was, this version's ingest fills the folds ``left_out`` misses
    units: tuple[int, ...] = ()  # patients (images when not grouped) of grades 0..
    found: tuple[int | None, int | None] = (None, None)  # :func:`working_folds`: seed, fold count
    # what a unit of ``units`` is (a key of FOLD_UNITS): patient or TWIN_UNIT when grouped,
    # labelled image when not
    unit: str = "patient"
    # the ingest kept near twins together but its manifest has no fold_group column (made before
    # it existed): its units are unknown, so nothing was recomputed and ``fixes`` is (); the fix
    # is :data:`REDO_FOR_FOLD_GROUPS`
    units_unknown: bool = False

    @property
    def fix(self) -> str:
        """The alternatives of :attr:`fixes` in one sentence (:func:`gap_fix`); '' when none."""
        return ", or ".join(self.fixes)

    @property
    def flag(self) -> str:
        """The ingest flag of the first fix checked to work, ``--seed 16`` or ``--folds 2``
        (:attr:`found`); '' when neither was found."""
        seed, fewer = self.found
        return f"--seed {seed}" if seed is not None else f"--folds {fewer}" if fewer is not None else ""


def fold_gaps(grades: Sequence[int], folds: Sequence[int], n_folds: int, seed: int,
              patients: Sequence[str] | None = None, grade_names: Sequence[str] = (),
              unit: str = "patient", sites: Sequence[str] | None = None) -> FoldGaps:
    """The grades an ingest's folds leave out of some validation fold, and whether redoing the
    ingest would change that: ``grades``, ``folds`` and ``patients`` (None: folds not grouped)
    are the training rows of its manifest in file order (the order the ingest split them in),
    ``n_folds`` and ``seed`` its ``data.n_folds`` / ``data.fold_seed``. ``redo_helps``: the folds
    this version of :func:`assign_folds` makes of the same rows put every grade of ``left_out``
    in every fold (an ingest made before the folds were stratified, or folds made by hand):
    redoing the ingest as it was is then the fix; else it would give the same gaps (the same
    folds, for an ingest of this version), and ``fix`` says what to change instead. No
    splitter runs when no grade is left out. ``unit``: what an id of ``patients`` is
    (``patient``, or :data:`TWIN_UNIT` for folds that kept near twins together), in the fixes'
    words and :attr:`FoldGaps.unit` (``labelled image`` when ``patients`` is None). ``sites``:
    the rows' sites when the ingest split on them (``data.site_column``), else None."""
    unit = unit if patients is not None else "labelled image"
    y = np.asarray(grades, dtype=np.int64)
    without = folds_without_grade(y, folds, n_folds)
    if not without or len(y) == 0:
        return FoldGaps(without, [], (), False, unit=unit)
    groups = len(set(patients)) if patients is not None else len(y)
    per_grade = units_per_grade(y, patients)
    left_out = [g for g in without if per_grade[g] >= n_folds]
    redo_helps = bool(left_out) and groups >= n_folds and _fills(y, n_folds, seed, patients, per_grade, sites)
    found: tuple[int | None, int | None] = (None, None)
    fixes: tuple[str, ...] = ()
    if left_out:
        found = working_folds(y, n_folds, seed, patients, per_grade, sites)
        fixes = tuple(gap_fixes(left_out, grade_names, n_folds, seed, found, per_grade, unit))
    return FoldGaps(without, left_out, fixes, redo_helps, tuple(int(n) for n in per_grade), found, unit)


def summary_config(summary: object) -> dict:
    """The ``config`` an ``ingest_summary.json`` (read as ``summary``) records (the ingest's
    settings: ``patient_column``, ``n_folds``, ``fold_seed`` ...); {} without one."""
    config = summary.get("config") if isinstance(summary, dict) else None
    return config if isinstance(config, dict) else {}


def summary_fold_seed(summary: object) -> int:
    """The fold seed an ``ingest_summary.json`` (read as ``summary``) records (its ``config``'s
    ``fold_seed``); 0, the default, for a summary without it."""
    seed = summary_config(summary).get("fold_seed")
    return seed if isinstance(seed, int) and not isinstance(seed, bool) else 0


def patient_unit(patient: str | None, image_id: str) -> str:
    """The patient an image's folds keep it with: its ``patient`` (from ``data.patient_column``
    or the patients a layout names), and an image without one (None or '') its own patient,
    under its ``image_id``. The ingest's folds (``data_prep.ingest``), their summary, a
    manifest's units (:func:`manifest_units`) and the preflight's patient counts
    (``drac_ssl.preflight``) all name patients here, so they count the same patients.

    The readers of finished runs name the units their own way, ``patient:<patient>`` or
    ``image:<id>`` (``drac_ssl.manifest.resampling_unit``): the model card's patient count
    (``drac_ssl.grading.bundle.data_provenance``), the out-of-fold bootstrap's units
    (``drac_ssl.oof.patient_groups``) and the per-patient figures. They differ from
    this function only where a patient id equals the id of another image that names no
    patient: here that is one unit (those images share a fold, which costs nothing), there
    two. This function is not prefixed the same way because its names are the groups
    :func:`assign_folds` orders (StratifiedGroupKFold sorts them): other names would give
    other folds, and an existing run's manifest could no longer be checked against them."""
    # not drac_ssl.manifest.resampling_unit (prefixed) nor drac_ssl.metrics._patient_id (blank = NaN/spaces too): unprefixed names order the folds
    return patient or image_id


def patient_id_key(patient: str) -> str:
    """``patient`` as :func:`patient_spellings` compares it: letters and digits only, case
    folded, each run of digits without its leading zeros (``'P-007'``, ``'p 007'``, ``'P7'`` ->
    ``'p7'``; ``'00100'``, ``'100'`` -> ``'100'``; ``'000'`` -> ``'0'``). Leading zeros count as
    spelling because a spreadsheet drops them from the cells it reads as numbers (``00100``
    typed, ``100`` saved), often in only part of a column that was pasted together.

    The zeros are stripped per digit run *before* the punctuation goes, and two digit runs that
    punctuation or spaces separate keep a ``'|'`` between them: ``'S01-12'`` -> ``'s1|12'``,
    ``'S11-2'`` -> ``'s11|2'`` (two patients of a site-number scheme), ``'2024-01-05'`` and
    ``'2024-1-5'`` -> ``'2024|1|5'``. Stripping after joining the runs made ``S01-12`` and
    ``S11-2`` one key (``s112``): 278 false sets among 5,000 ids ``S{site:02d}-{n}``."""
    key: list[str] = []
    last = ""  # what the key ended with: "digits", "letters" or "" (nothing yet)
    apart = False  # punctuation or spaces came since the last run
    for digits, letters in re.findall(r"(\d+)|([^\W\d_]+)|[\W_]+", patient.casefold()):
        if digits:
            key.append(("|" if last == "digits" and apart else "") + (digits.lstrip("0") or "0"))
            last, apart = "digits", False
        elif letters:
            key.append(letters)
            last, apart = "letters", False
        else:
            apart = True
    return "".join(key)


def patient_spellings(patients: Iterable[str]) -> list[list[str]]:
    """The patient ids among ``patients`` (empty ones aside) that differ only in letter case,
    punctuation, spaces or leading zeros (one :func:`patient_id_key`): each such set and the
    sets in the order the ids first come. The folds compare ids exactly, so ``P-007``,
    ``p-007``, ``P007`` and ``P7`` (or ``00100`` and ``100``) are different patients that may
    land in different folds; whether they are one patient only the label CSV's author can say
    (the ingest warns, it does not merge them, and the manifest keeps each id as written)."""
    spellings: dict[str, dict[str, None]] = {}
    for patient in patients:
        if patient:
            spellings.setdefault(patient_id_key(patient), {})[patient] = None
    return [list(ids) for ids in spellings.values() if len(ids) > 1]


def fold_row(row: Mapping[str, Any]) -> tuple[int, int, str, str]:
    """A labelled training row of a manifest (``drac_ssl.manifest.read_manifest``'s, with an
    ``id``, a ``grade``, a ``fold`` >= 0 as an int or its digits, an optional ``patient``) as
    :func:`manifest_units` and :func:`manifest_fold_gaps` take it: (grade, fold, patient: ''
    for none, image id)."""
    return row["grade"], int(row["fold"]), (row.get("patient") or "").strip(), row["id"]


def manifest_units(rows: Sequence[tuple[int, int, str, str]], grouped: bool = False,
                   fold_groups: Sequence[str] | None = None) -> tuple[list[str] | None, str]:
    """The units an ingest split a manifest's training rows by, as it passed them to
    :func:`assign_folds`, and what one is: ``(units or None, unit)``.

    ``rows``: each (grade, fold, patient: '' for none, image id), in file order. Grouped by
    patient when any row names one or ``grouped`` (the ingest had ``data.patient_column``:
    :func:`summary_grouped`), a row without one its own patient under its image id, exactly as
    the ingest groups it (StratifiedGroupKFold orders the groups by name: other names for the
    same groups give other folds); None when not grouped (per-image folds). ``fold_groups``:
    the manifest's ``fold_group`` column of the same rows (an ingest with
    ``data.near_duplicate_mse`` > 0, :data:`data_prep.ingest.FOLD_GROUP_COLUMN`): when any is
    filled they are the units (a row left empty keeps its patient or image id), near twins
    joined with patients. ``unit``: ``patient``, or :data:`TWIN_UNIT` when the fold groups
    join more than the patients do.

    Raises:
        ValueError: ``fold_groups`` and ``rows`` differ in length."""
    grouped = grouped or any(p for _, _, p, _ in rows)
    patients = [patient_unit(p, image_id) for _, _, p, image_id in rows] if grouped else None
    if fold_groups is None or not any(fold_groups):
        return patients, "patient"
    if len(fold_groups) != len(rows):
        raise ValueError(f"manifest_units: {len(rows)} rows but {len(fold_groups)} fold groups")
    alone = patients if patients is not None else [image_id for _, _, _, image_id in rows]
    units = [g or a for g, a in zip(fold_groups, alone, strict=True)]
    return units, TWIN_UNIT if len(set(units)) < len(set(alone)) else "patient"


REDO_FOR_FOLD_GROUPS = ("redo the ingest with this version (it records each image's fold_group, the "
                        "image groups its folds kept near twins together by)")
"""The fix for an ingest that kept near twins together (``data.near_duplicate_mse`` > 0) but made
its manifest before the ``fold_group`` column existed (:attr:`FoldGaps.units_unknown`): the units
its folds split are not in the manifest, so its folds cannot be recomputed (no fold seed or fold
count can be checked) and its CIs cannot resample the groups."""


def manifest_fold_gaps(rows: Sequence[tuple[int, int, str, str]], seed: int,
                       grade_names: Sequence[str] = (), grouped: bool = False,
                       fold_groups: Sequence[str] | None = None, twins_grouped: bool = False,
                       sites: Sequence[str] | None = None) -> FoldGaps:
    """:func:`fold_gaps` of a manifest's training rows, each (grade, fold, patient: '' for
    none, image id), in file order, made with fold seed ``seed``: the folds are those the rows
    have (the highest + 1), recomputed with the units the ingest split them by
    (:func:`manifest_units`: patients, ``grouped`` or named, or the manifest's ``fold_groups``
    when it kept near twins together). ``twins_grouped``: the ingest's summary says near twins
    were kept together (:func:`summary_twins_grouped`); when no row has a fold group then (a
    manifest made before the column existed) the units are unknown, and patients or images
    would give other folds than the ingest's: the folds are not recomputed, only the grades
    they leave out are given, with :attr:`FoldGaps.units_unknown` (its fix
    :data:`REDO_FOR_FOLD_GROUPS`). ``sites``: the manifest's ``site`` column of the same rows
    (``data.site_column``), split on as the ingest did; ignored when empty or when each row's
    site is its patient (leave-one-site-out: the ingest split on patients alone)."""
    if not rows:
        return FoldGaps({}, [], (), False)
    n_folds = max(f for _, f, _, _ in rows) + 1
    if twins_grouped and not any(fold_groups or ()):
        without = folds_without_grade([g for g, _, _, _ in rows], [f for _, f, _, _ in rows], n_folds)
        return FoldGaps(without, [], (), False, unit=TWIN_UNIT, units_unknown=True)
    units, unit = manifest_units(rows, grouped, fold_groups)
    split_sites = (list(sites) if sites is not None and len(sites) == len(rows) and any(sites)
                   and any(s != p for s, (_, _, p, _) in zip(sites, rows, strict=True)) else None)
    return fold_gaps([g for g, _, _, _ in rows], [f for _, f, _, _ in rows], n_folds, seed, units,
                     grade_names, unit, split_sites)


def summary_grouped(summary: object) -> bool:
    """Whether an ``ingest_summary.json`` (read as ``summary``) records a ``data.patient_column``
    (its ``config``'s ``patient_column``): the ingest then grouped its folds by patient, an
    image without one alone, even when no cell named a patient."""
    return bool(summary_config(summary).get("patient_column"))


def summary_twins_grouped(summary: object) -> bool:
    """Whether an ``ingest_summary.json`` (read as ``summary``) says the ingest kept some near
    twins together (its ``near_duplicates``' ``n_groups`` > 0, ``data.near_duplicate_mse`` > 0):
    its folds were then split by image groups, which this version's manifest names
    (``fold_group``)."""
    twins = summary.get("near_duplicates") if isinstance(summary, dict) else None
    n = twins.get("n_groups") if isinstance(twins, dict) else None
    return isinstance(n, int) and not isinstance(n, bool) and n > 0


def dealt_folds(grades: Sequence[int] | np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """Folds as even as the counts allow when no grade has ``n_folds`` images (scikit-learn's
    StratifiedKFold refuses, and KFold put two images of a grade in one fold and none in
    another): the images, in a seeded random order within each grade, are dealt to the folds
    in turn, grade after grade. A grade of ``n`` images is then in ``n`` different folds, and
    the fold sizes differ by at most one."""
    y = np.asarray(grades, dtype=np.int64)
    order = np.random.default_rng(seed).permutation(len(y))
    order = order[np.argsort(y[order], kind="stable")]
    folds = np.empty(len(y), dtype=np.int64)
    folds[order] = np.arange(len(y)) % n_folds
    return folds
