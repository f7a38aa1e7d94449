"""The grade scale of an ingest: names of grades 0..K-1 from ``data.grades`` or the layout.

DRAC 2022 Task 3 grades UW-OCTA on 3 levels (0 Normal, 1 NPDR, 2 PDR); the public colour
fundus sets (APTOS 2019, EyePACS / Kaggle DR 2015, IDRiD, DeepDRiD, Messidor-2, MedMNIST's
RetinaMNIST: the layouts :data:`LAYOUT_SCALES` puts on ``icdr``) use the 5-level
International Clinical Diabetic Retinopathy scale (ICDR; Wilkinson et al., Ophthalmology
2003): 0 No DR, 1 Mild, 2 Moderate, 3 Severe NPDR, 4 PDR.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from data_prep.problems import counted
from drac_ssl.config import GRADE_SCALES, layout_name, referable_from_rule
from drac_ssl.config import REFERABLE_NAMES as REFERABLE_NAMES  # kept importable here

SHOWN_ROWS = 5
"""Images a fix names one by one, with their lines in the label CSV; more are counted."""
LAYOUT_SCALES = {"drac": "drac", "plain": "drac", "aptos": "icdr", "eyepacs": "icdr",
                 "idrid": "icdr", "deepdrid": "icdr", "messidor2": "icdr", "medmnist": "icdr"}
"""The grade scale a layout implies when ``data.grades`` is empty."""


def resolve_grades(setting: Sequence[str], layout: str, referable_from: int = 0) -> tuple[tuple[str, ...], str]:
    """(names of grades 0..K-1, where they came from) for ``data.grades`` and a layout kind.

    ``setting`` is ``data.grades`` as validated by the config (empty, one scale name, or
    >= 2 names). ``referable_from`` (``data.referable_from`` > 0, two grades made from ICDR
    labels): an empty ``setting``, or the ICDR scale the labels are on (``icdr``, its five
    names), is :data:`REFERABLE_NAMES`, not the layout's scale; two names are kept
    (:func:`drac_ssl.config.referable_from_rule`).
    """
    names = [str(g).strip() for g in setting]
    if referable_from and referable_from_rule(referable_from, names).from_labels_scale:  # not the model's
        return REFERABLE_NAMES, f"data.referable_from={referable_from}"
    if len(names) == 1 and names[0].lower() in GRADE_SCALES:
        scale = names[0].lower()
        return GRADE_SCALES[scale], f"data.grades={scale}"
    if names:
        return tuple(names), "data.grades"
    scale = LAYOUT_SCALES.get(layout, "drac")
    return GRADE_SCALES[scale], f"the {layout_name(layout)} layout's default ({scale})"


def no_grade_at_or_above(grades: Sequence[int], n: int, column: str | None, option: str, outcome: str,
                         verb: str, drop: str = "", other_fix: str = "") -> tuple[str, str] | None:
    """The refusal of a referral cut ``n`` >= 2 (``option``: ``--referable-from`` of the ingest,
    ``--labels-referable-from`` of ``export --score``) on labels none of which is ``n`` or more
    (``grades``: the valid grades read, on the ICDR scale): every row would silently become grade
    0, which ``outcome`` says (``'become grade 0 (non-referable)'``). A column of 0/1 alone is most
    likely two grades already: its fix is to drop the option (said as ``drop``, else ``option``)
    and ``verb`` the labels as they are, or N = 1, which keeps them. ``other_fix`` is added to
    the fix of the other case. ``(what, fix)`` with ``column`` (``"'grade'"``) as the column's
    name (None: a column without a name, said as "the grade column"), or None when some grade
    is >= ``n``, when nothing was read, or for ``n`` = 1 (on 0/1 labels the identity)."""
    if n < 2 or not grades or max(grades) >= n:
        return None
    named = f"column {column}" if column else "the grade column"
    if set(grades) <= {0, 1}:
        return (f"{named} holds only 0/1 ({counted(len(grades), 'row')}): already two grades? Read "
                f"as ICDR grades, none is >= {n}, so every row would {outcome}",
                f"drop {drop or option} to {verb} the 0/1 labels as they are, or use {option} 1 (keeps them "
                f"as they are)")
    return (f"no row of {named} is ICDR grade >= {n} (the highest read is {max(grades)}), so every "
            f"row would {outcome}", f"use {option} N with N <= {max(grades)}{other_fix}")


def describe(names: Sequence[str]) -> str:
    """``'0 Normal, 1 NPDR, 2 PDR'``."""
    return ", ".join(f"{k} {name}" for k, name in enumerate(names))


def choices(names: Sequence[str]) -> str:
    """``'0 (Normal), 1 (NPDR) or 2 (PDR)'`` for a fix."""
    parts = [f"{k} ({name})" for k, name in enumerate(names)]
    return ", ".join(parts[:-1]) + f" or {parts[-1]}" if len(parts) > 1 else parts[0]


def grade_label(grade: int, grade_names: Sequence[str] = ()) -> str:
    """``'grade 1 (NPDR)'``, or ``'grade 1'`` when the names are not known."""
    return f"grade {grade} ({grade_names[grade]})" if grade < len(grade_names) else f"grade {grade}"


def grades_option(names: Sequence[str]) -> str:
    """``--grades "No DR,Moderate,PDR"``, the ingest's flag naming these grades (the pipeline
    says it as ``data.grades=[No DR, Moderate, PDR]``: :func:`data_prep.problems.as_config_keys`)."""
    return '--grades "' + ",".join(names) + '"'


def config_grades(names: Sequence[str]) -> str:
    """``data.grades=[none, non-proliferative, proliferative]``: :func:`grades_option`'s names
    as the setting of ``python -m drac_ssl.train`` (as
    :func:`data_prep.problems.as_config_keys` says the flag), for a fix that gives both."""
    return f"data.grades=[{', '.join(names)}]"


def _left_out_rows(n: int) -> str:
    """``'its 4 rows were left out (--missing leave_out: their images are missing)'``."""
    rows = "its row was" if n == 1 else f"its {n} rows were"
    their = "its image is" if n == 1 else "their images are"
    return f"{rows} left out (--missing leave_out: {their} missing)"


def renumbering(kept: Sequence[int]) -> str:
    """``'2 -> 1, 3 -> 2, 4 -> 3'``: the kept grades whose numbers change when they are numbered
    0..len(kept)-1, lowest first (the order in which replacing them one by one is safe)."""
    return ", ".join(f"{old} -> {new}" for new, old in enumerate(sorted(kept)) if old != new)


def renumber_and_name(kept: Sequence[int], grade_names: Sequence[str], renumber: str) -> str:
    """``'{renumber} so that they run 0..K-2 (2 -> 1, 3 -> 2, in this order), and pass
    --grades "..."'`` for the ``kept`` grades; only the ``--grades`` step when no number
    changes."""
    moves = renumbering(kept)
    named = grades_option([grade_names[g] for g in sorted(kept)])
    if not moves:
        return f"pass {named}"
    order = ", in this order" if "," in moves else ""
    return (f"{renumber} so that they run 0..{len(kept) - 1} ({moves}{order}), and "
            f"pass {named}")


def _images(rows: Sequence[tuple[str, int]], n_images: int | None) -> str:
    """``'its image 005.png (line 7)'``, up to :data:`SHOWN_ROWS` images named; without
    ``rows``, ``'its image'`` for one image (``n_images``), else ``'its images'``."""
    if not rows:
        return "its image" if n_images == 1 else "its images"
    if len(rows) > SHOWN_ROWS:
        return f"its {len(rows)} images"
    names = ", ".join(name for name, _ in rows)
    lines = ", ".join(str(line) for _, line in rows)
    if len(rows) == 1:
        return f"its image {names} (line {lines})"
    return f"its images {names} (lines {lines})"


def merge_fix(grade: int, grade_names: Sequence[str], rows: Sequence[tuple[str, int]] = (),
              labels: str = "", n_images: int | None = None) -> str:
    """How to merge ``grade`` into a neighbouring grade so that the ingest accepts the result:
    a coarser scale for the run, made in a copy of the label CSV (``--labels-csv``): its images
    given the neighbour's grade there, the grades above it renumbered so that they run 0..K-2
    again, and the K-1 grades left named with ``--grades``. Said as a change of scale, never as
    a correction of an image's clinical grade (a careless-user review: "relabel its image from
    4 to 3" read as advice to change a grade to satisfy the folds): the label CSV itself is
    left as it is.

    Args:
        rows: (image name, line) of the grade's rows in the label CSV, named when there are
            at most :data:`SHOWN_ROWS`; ``labels`` the CSV's file name.
        n_images: the grade's images when ``rows`` are not known (1: 'its image').

    Returns ``''`` when merging cannot work: a scale of two grades would keep one.
    """
    k = len(grade_names)
    label = grade_label(grade, grade_names)
    where = labels or "the label CSV"
    images = _images(rows, n_images)
    scale = (f"a coarser scale for this run, not a correction: the images keep their clinical "
             f"grades in {where}")
    if grade >= k:  # the names are not known: said without numbers
        return (f"merge {label} into a neighbouring grade ({scale}: in a copy of {where}, passed "
                f"with --labels-csv, give {images} that grade instead, lower every grade above "
                f"{grade} by one so that the grades run 0..K-2, and name the grades left with --grades)")
    if k <= 2:
        return ""
    neighbours = [g for g in (grade - 1, grade + 1) if 0 <= g < k]
    to = " or ".join(f"{g} ({grade_names[g]})" for g in neighbours)
    kept = [g for g in range(k) if g != grade]
    names = list(grade_names)
    if len(neighbours) == 1:  # the merged grade named for both (PDR into Severe: 'Severe or PDR')
        (n,) = neighbours
        names[n] = (f"{grade_names[n]} or {grade_names[grade]}" if n < grade
                    else f"{grade_names[grade]} or {grade_names[n]}")
    return (f"merge {label} into a neighbouring grade ({scale}): in a copy of {where}, passed with "
            f"--labels-csv, give {images} grade {to} instead of {grade}, then "
            + renumber_and_name(kept, names, "renumber the copy's grades, the merged ones too,"))


def empty_grades(counts: Mapping[int, int], grade_names: Sequence[str], *,
                 where: str = "", left_out: Mapping[int, int] | None = None,
                 zero_left_out: tuple[str, str] | None = None) -> tuple[str, str] | None:
    """(what is wrong, the fix) for the grades of the scale without a labelled image, or None.

    Args:
        counts: labelled training images per grade (at least one image in all).
        grade_names: the names of grades 0..K-1 (``data.grades``).
        where: the data the counts come from, said after them (``' in labels.csv'``).
        left_out: label rows per grade left out by ``--missing leave_out`` (their images are
            missing). A grade without an image whose rows were all left out is in the data's
            scale: the fix asks for their images, never to take the grade out of the scale
            (which would build a model of fewer grades than the data has).
        zero_left_out: (what, fix) when ``--ungradable leave_out`` left out the ``none`` rows
            of a grade column of words with no scale given
            (:func:`data_prep.validate.zero_word_empty_grade`): an empty grade 0 is then said
            with those rows, and the fix leads with the ``--grades`` that reads ``none`` as
            grade 0 (``if 'none' ... names a grade ..., pass --grades "none,NPDR,PDR"``), the
            usual fix after ``else``.

    The ingest (a warning) and the preflight of ``python -m drac_ssl.train`` say it in these
    words; the fix names the ingest's ``--grades``, the pipeline says it as a setting with
    :func:`data_prep.problems.as_config_keys`. Dropping a grade from the scale means
    renumbering the grades above it, since grades are numbered 0..K-1: the fix says how.
    """
    found = _empty_grades(counts, grade_names, where, left_out or {})
    if found is None or zero_left_out is None or counts.get(0, 0) or (left_out or {}).get(0, 0):
        return found
    # grade 0 empty and the 'none' rows left out as ungradable: they may be grade 0's own rows
    what, fix = found
    return f"{what}; {zero_left_out[0]}", f"{zero_left_out[1]}; else {fix}"


def _empty_grades(counts: Mapping[int, int], grade_names: Sequence[str], where: str,
                  left_out: Mapping[int, int]) -> tuple[str, str] | None:
    """:func:`empty_grades` without ``zero_left_out``."""
    k = len(grade_names)
    dropped = [g for g in range(k) if counts.get(g, 0) == 0 and left_out.get(g, 0) > 0]
    if dropped and any(counts.get(g, 0) for g in range(k)):
        # the rows are there, their images are not: the grade stays in the scale
        rest = _empty_grades({g: counts.get(g, 0) + left_out.get(g, 0) for g in range(k)},
                             grade_names, where, {})
        them = "it" if len(dropped) == 1 else "them"
        said = "; ".join(f"{grade_label(g, grade_names)}: no labelled image{where}; "
                         f"{_left_out_rows(left_out[g])}" for g in dropped)
        what = f"{said}; the grading model never sees {them}"
        fix = ("add their images" if len(dropped) == 1 else "add the images of those rows")
        if rest is not None:
            what, fix = f"{what}; {rest[0]}", f"{fix}; {rest[1]}"
        return what, fix
    absent = [g for g in range(k) if counts.get(g, 0) == 0]
    present = [g for g in range(k) if counts.get(g, 0) > 0]
    if not absent or not present:
        return None
    them = "it" if len(absent) == 1 else "them"
    said = ", ".join(grade_label(g, grade_names) for g in absent)
    used = max(present) + 1
    top_only = len(present) >= 2 and absent == list(range(used, k))
    scale = (f"; if your scale has {used} grades, the model would still have {k} outputs named "
             f"{', '.join(grade_names)}" if top_only else "")
    what = f"{said}: no labelled image{where}; the grading model never sees {them}{scale}"
    if top_only:
        names = ",".join(f"name of grade {g}" for g in range(used))
        fix = (f'--grades "{names}" (your {used} grades\' names, e.g. --grades "no referable '
               f'DR,referable DR" for 2), or check the label CSV')
    elif len(present) < 2:
        fix = (f"check the label CSV: grading needs labelled images of at least 2 grades "
               f"(add labelled {' or '.join(grade_label(g, grade_names) for g in absent)} images)")
    else:
        fix = (f"check the label CSV, or add labelled {said} images; if the data has none, take "
               f"{them} out of the scale: "
               + renumber_and_name(present, grade_names, "renumber the grades in the label CSV"))
    return what, fix
