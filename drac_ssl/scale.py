"""The grading scale and the input facts of a run, as its data recorded them.

The ingest (:mod:`data_prep.ingest`) resolves the grade names (``data.grades`` or the
layout's scale), the channels (``data.channels``) and the fundus preprocessing options
and writes them into ``RUN/data/ingest_summary.json``. Every later stage and the bundle
read them through :func:`read_ingest_facts`; a summary written before these were recorded
(or none at all) means the DRAC 2022 Task 3 scale, grey images and no fundus preprocessing,
which is what such runs used.

K grades have probability columns ``P0..P{K-1}`` (:func:`prob_columns`) and a submission
header ``case,class,P0..P{K-1}`` (:func:`submission_columns`); DRAC's is exactly
``case,class,P0,P1,P2``.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drac_ssl import GRADE_NAMES
from drac_ssl.config import GRADE_SCALES, layout_name
from drac_ssl.starting import ascii_int  # stdlib only

__all__ = [
    "DEFAULT_PREPROCESSING",
    "ICDR_CLINICAL_NAMES",
    "GradeCount",
    "GradesScale",
    "IngestFacts",
    "default_grade_names",
    "describe_grades",
    "explain_grades",
    "grade_names_for_people",
    "grade_names_of",
    "grades_k_said",
    "grades_scale_from",
    "grades_typed",
    "grades_words",
    "prob_columns",
    "read_ingest_facts",
    "submission_columns",
]

FUNDUS_LAYOUTS = ("aptos", "eyepacs", "idrid", "deepdrid", "messidor2", "medmnist")
"""The colour fundus layouts (as :data:`data_prep.layout.FUNDUS_LAYOUTS`)."""

DEFAULT_PREPROCESSING: dict[str, bool] = {"fundus_crop": False, "graham": False,
                                          "graham_mask": True, "graham_reflect_padding": False}
"""The ingest's fundus preprocessing options when none are recorded (all off).
``graham_reflect_padding``: with the crop and the Graham filter both on, a crop that is not
square was padded with its mirror image, the padding set to 128 after filtering
(:mod:`data_prep.fundus`); False for ingests before that (black padding, filtered as it is),
so their models are replayed as they were trained."""


def prob_columns(num_grades: int) -> tuple[str, ...]:
    """``('P0', ..., 'P{K-1}')`` for ``K = num_grades`` (>= 2)."""
    if int(num_grades) < 2:
        raise ValueError(f"a grading scale has at least 2 grades, got {num_grades}")
    return tuple(f"P{k}" for k in range(int(num_grades)))


def submission_columns(num_grades: int) -> tuple[str, ...]:
    """The submission header ``('case', 'class', 'P0', ..., 'P{K-1}')``."""
    return ("case", "class", *prob_columns(num_grades))


def default_grade_names(num_grades: int) -> tuple[str, ...]:
    """Names for K grades when none are known: DRAC's three for K = 3 (the package's default
    scale, what unrecorded runs used), else the numbers ``'0' .. 'K-1'``."""
    k = int(num_grades)
    return GRADE_NAMES if k == len(GRADE_NAMES) else tuple(str(g) for g in range(k))


def names_are_numbers(names: Sequence[str]) -> bool:
    """Whether the grade names are just the numbers ``'0' .. 'K-1'`` (no named scale)."""
    return all(str(n) == str(g) for g, n in enumerate(names))


def grades_words(grades: Sequence[int], names: Sequence[str]) -> str:
    """Grades as the package names them in a sentence, number first, name in brackets:
    ``'grade 2 (Moderate)'``, ``'grades 0 (Normal), 1 (NPDR) and 2 (PDR)'`` (``grades`` in the
    order given, each an index of ``names``); the bare numbers when the names are the numbers
    ``'0' .. 'K-1'`` (``'grades 0 and 1'``). ``grades`` must not be empty."""
    numbered = names_are_numbers(names)
    each = [str(g) if numbered else f"{g} ({names[g]})" for g in grades]
    listed = ", ".join(each[:-1]) + f" and {each[-1]}" if len(each) > 1 else each[0]
    return f"grade{'s' if len(each) > 1 else ''} {listed}"


def describe_grades(names: Sequence[str]) -> str:
    """``'0 Normal, 1 NPDR, 2 PDR'``."""
    return ", ".join(f"{k} {name}" for k, name in enumerate(names))


GRADE_MEANINGS: dict[tuple[str, ...], tuple[str, ...]] = {
    # International Clinical Diabetic Retinopathy scale: Wilkinson et al., Ophthalmology 2003,
    # "Proposed international clinical diabetic retinopathy and diabetic macular edema
    # disease severity scales"
    ("No DR", "Mild", "Moderate", "Severe", "PDR"): (
        "no apparent retinopathy",
        "mild non-proliferative DR: microaneurysms only",
        "moderate non-proliferative DR: more than microaneurysms, less than severe",
        "severe non-proliferative DR by the 4-2-1 rule: more than 20 intraretinal haemorrhages in "
        "each of 4 quadrants, or definite venous beading in 2 or more quadrants, or prominent "
        "intraretinal microvascular abnormalities (IRMA) in 1 or more quadrant; and no signs of "
        "proliferative DR",
        "proliferative DR: neovascularisation, or vitreous / preretinal haemorrhage"),
    # DRAC 2022 Task 3 (UW-OCTA)
    ("Normal", "NPDR", "PDR"): ("no diabetic retinopathy", "non-proliferative DR",
                                "proliferative DR"),
}
"""What the grades of the known scales mean (keyed by the scale's names, in order)."""

ICDR_CLINICAL_NAMES = ("No apparent DR", "Mild NPDR", "Moderate NPDR", "Severe NPDR", "PDR")
"""The five ICDR grades in the scale's own wording (Wilkinson et al., Ophthalmology 2003, table
1: "No apparent retinopathy", "Mild / Moderate / Severe nonproliferative DR", "Proliferative
DR"), as the app shows them to people (:func:`grade_names_for_people`). The recorded names
(``data.grades: icdr``, :data:`drac_ssl.config.GRADE_SCALES`: ``No DR, Mild, Moderate, Severe,
PDR``) stay what the machine formats hold (``class_names`` of a bundle, metrics keys, the
export's ``grade_name`` column): a short "Severe" read beside "4 PDR" could be taken as the
worse of the two."""

_ICDR_SHORT = ("no dr", "mild", "moderate", "severe")
_ICDR_LAST = ("pdr", "proliferative", "proliferative dr")


def grade_names_for_people(names: Sequence[str]) -> tuple[str, ...]:
    """The grade names ``names`` (a bundle's ``class_names``, grades 0..K-1) as a page shows them
    to people: the five ICDR grades under their short names (``No DR, Mild, Moderate, Severe,
    PDR``, any case; ``Proliferative`` for the last) as :data:`ICDR_CLINICAL_NAMES`; any other
    scale (DRAC's ``Normal, NPDR, PDR``, a scale of one's own) as it is."""
    given = tuple(str(n) for n in names)
    folded = tuple(n.strip().lower() for n in given)
    if len(folded) == 5 and folded[:4] == _ICDR_SHORT and folded[4] in _ICDR_LAST:
        return ICDR_CLINICAL_NAMES
    return given


def explain_grades(names: Sequence[str]) -> str:
    """The grades with what they mean for a known scale (:data:`GRADE_MEANINGS`):
    ``'0 Normal (no diabetic retinopathy), 1 NPDR (non-proliferative DR), ...'``; for another
    scale :func:`describe_grades` (the names alone)."""
    meanings = GRADE_MEANINGS.get(tuple(str(n) for n in names))
    if meanings is None:
        return describe_grades(names)
    return ", ".join(f"{k} {name} ({meaning})" for k, (name, meaning) in enumerate(zip(names, meanings, strict=True)))


def grade_names_of(metadata: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The grade names a ``model.json`` / bundle ``metadata.json`` records (``class_names``),
    else DRAC's (what a bundle written before the scale was recorded used)."""
    names = (metadata or {}).get("class_names")
    return tuple(str(n) for n in names) if names else GRADE_NAMES


@dataclass(frozen=True)
class IngestFacts:
    """What the ingest recorded about the data (see the module docstring).

    ``grade_names``: grades 0..K-1; ``channels``: 1 (grey) or 3 (RGB) of the cache arrays;
    ``preprocessing``: the fundus options applied to every cached copy
    (:data:`DEFAULT_PREPROCESSING` keys); ``layout``: the layout kind (``drac``, ``plain``,
    ``aptos``, ``eyepacs``, ``idrid``, ``deepdrid``, ``medmnist``) or ``''`` when unknown; ``modality``:
    what the images are, ``octa`` or ``fundus`` (the ingest's ``data.modality``; for an
    older ingest that did not record it: fundus for the fundus layouts and colour caches);
    ``recorded``: whether the summary held the scale (False: the DRAC defaults were assumed).
    """

    grade_names: tuple[str, ...] = GRADE_NAMES
    channels: int = 1
    preprocessing: dict[str, bool] = field(default_factory=lambda: dict(DEFAULT_PREPROCESSING))
    layout: str = ""
    recorded: bool = False
    modality: str = "octa"

    def describe_images(self) -> str:
        """What the images are, for the report and the console: "DRAC UW-OCTA", "colour
        fundus photographs (APTOS layout)", "UW-OCTA images (plain layout)" ... (the layout
        as people write it, :func:`drac_ssl.config.layout_name`)."""
        if self.is_drac:
            return "DRAC UW-OCTA"
        kind = ("UW-OCTA images" if self.modality == "octa"
                else f"{'colour' if self.channels == 3 else 'grey'} fundus photographs")
        return f"{kind} ({layout_name(self.layout)} layout)" if self.layout else kind

    @property
    def is_drac(self) -> bool:
        """The official DRAC 2022 layout (or an ingest that did not record its layout): UW-OCTA
        images of the challenge, as far as the user says so."""
        return self.layout in ("", "drac") and self.modality == "octa"

    @property
    def num_grades(self) -> int:
        return len(self.grade_names)

    def to_dict(self) -> dict[str, Any]:
        return {"grades": list(self.grade_names), "k": self.num_grades, "channels": self.channels,
                "preprocessing": dict(self.preprocessing), "layout": self.layout or None,
                "modality": self.modality,
                "source": "ingest_summary.json" if self.recorded
                else "not recorded by the ingest: the DRAC defaults (3 grades, grey)"}


def read_ingest_facts(data_dir: str | os.PathLike[str]) -> IngestFacts:
    """The :class:`IngestFacts` of ``data_dir/ingest_summary.json`` (DRAC defaults for what
    it does not record, or when it is absent or unreadable)."""
    try:
        summary = json.loads((Path(data_dir) / "ingest_summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return IngestFacts()
    if not isinstance(summary, dict):
        return IngestFacts()
    grades = summary.get("grades") or {}
    names = tuple(str(n) for n in grades.get("names") or ()) if isinstance(grades, dict) else ()
    channels = summary.get("channels") or {}
    value = channels.get("value") if isinstance(channels, dict) else None
    prep = summary.get("preprocessing") or {}
    preprocessing = {k: bool(prep.get(k, v)) if isinstance(prep, dict) else v
                     for k, v in DEFAULT_PREPROCESSING.items()}
    layout = str(summary.get("layout") or "")
    n_channels = int(value) if value in (1, 3) else 1
    recorded_modality = summary.get("modality")
    modality = recorded_modality.get("value") if isinstance(recorded_modality, dict) else None
    if modality not in ("octa", "fundus"):  # an ingest before data.modality
        modality = "fundus" if layout in FUNDUS_LAYOUTS or n_channels == 3 else "octa"
    return IngestFacts(grade_names=names if len(names) >= 2 else GRADE_NAMES,
                       channels=n_channels, preprocessing=preprocessing, layout=layout,
                       recorded=len(names) >= 2, modality=modality)


class GradeCount(int):
    """K as ``--grades`` gave it (:func:`grades_count`): an ``int``, with ``scale`` the name of
    the grade scale typed (``icdr``, lower case), or "" for a number, so that a message names
    what the user typed (:func:`grades_scale_from`)."""

    # yaml.safe_dump refuses an int subclass (and json would lose nothing but the type): pass
    # int(k), not a GradeCount, to whatever writes JSON or YAML
    scale: str = ""


@dataclass(frozen=True)
class GradesScale:
    """Who says K when ``--grades`` named a scale (:func:`grades_scale_from`): ``scale`` as
    typed, lower case (``icdr``). Kept apart from the words of other sayers (which may hold a
    user's path, ``the manifest of runs/a{b} has``), so that nothing is formatted into them."""

    scale: str


ScaleFrom = str | GradesScale
"""A check's ``scale_from``: the words of who says K (``'--grades says'``, ``'the manifest of
RUN has'``; "" the check's own default), or a :class:`GradesScale`."""


def grades_typed(k: int) -> str:
    """``--grades`` as the user typed it: ``'--grades icdr (5 ICDR grades)'`` for a scale's
    name (a :class:`GradeCount` with ``scale``), else ``'--grades 5'``."""
    scale = getattr(k, "scale", "")
    return _scale_typed(scale, int(k)) if scale else f"--grades {int(k)}"


def _scale_typed(scale: str, k: int, listed: str = "") -> str:
    """``'--grades icdr (5 ICDR grades)'``, with ``listed`` (the grades' names) in the same
    parenthesis: ``'--grades drac (3 DRAC grades: Normal, NPDR, PDR)'``."""
    return f"--grades {scale} ({k} {scale.upper()} grades" + (f": {listed})" if listed else ")")


def grades_scale_from(k: int | None) -> ScaleFrom:
    """Who says K, as the checks' ``scale_from`` (:func:`grades_k_said`): a
    :class:`GradesScale` for a scale's name typed (a :class:`GradeCount` with ``scale``),
    ``'--grades says'`` for a number, "" without ``--grades`` (``k`` None)."""
    if k is None:
        return ""
    scale = getattr(k, "scale", "")
    return GradesScale(scale) if scale else "--grades says"


def grades_k_said(scale_from: ScaleFrom, k: int, names: Sequence[str] | None = None) -> str:
    """``'--grades says 5 grades'``: who says K (``scale_from``; "" the check's own default) and
    K; a :class:`GradesScale` (:func:`grades_scale_from` of a scale's name) is the whole phrase:
    ``'--grades icdr (5 ICDR grades)'``. ``names``, the grades' names, go into the same
    parenthesis: ``'--grades drac (3 DRAC grades: Normal, NPDR, PDR)'``, ``'--grades says 3
    grades (Normal, NPDR, PDR)'``. ``scale_from`` is never formatted (it may hold a path)."""
    listed = ", ".join(str(n) for n in names) if names else ""
    if isinstance(scale_from, GradesScale):
        return _scale_typed(scale_from.scale, int(k), listed)
    return f"{scale_from or 'the check expects'} {int(k)} grades" + (f" ({listed})" if listed else "")


def grades_count(word: str) -> int:
    """The ``type=`` of ``--grades K`` of the export (``--check``, ``--score``) and of
    ``python -m drac_ssl.submission``: the number of
    grades, an integer of at least 2 (ASCII digits, :func:`drac_ssl.starting.ascii_int`), or the
    name of a grade scale of ``data.grades`` (:data:`drac_ssl.config.GRADE_SCALES`: ``drac`` ->
    3, ``icdr`` -> 5, any case), which a user types there as the ingest's ``--grades`` takes it
    (a review: ``--grades drac`` said only "invalid int value: 'drac'"). Anything else is a
    usage error naming the flag and what it takes. A scale's name gives a :class:`GradeCount`
    that remembers it. A comma list of two or more names, as the ingest's ``--grades`` takes
    them (``"Normal,NPDR,PDR"``, ``"[No DR, Mild, ...]"``), gives their count."""
    counts = ", ".join(f"{len(grades)} for {name.upper()}" for name, grades in GRADE_SCALES.items())
    takes = f"--grades takes the number of grades K here ({counts}; the names {', '.join(GRADE_SCALES)} too)"
    if word.strip().lower() in GRADE_SCALES:
        count = GradeCount(len(GRADE_SCALES[word.strip().lower()]))
        count.scale = word.strip().lower()  # said back as typed (grades_scale_from)
        return count
    names = [n.strip() for n in word.strip().strip("[]").split(",")]
    if len(names) >= 2 and all(names):  # the ingest's --grades "Normal,NPDR,PDR": their count (a CLI review)
        return len(names)
    try:
        count = ascii_int("--grades")(word)  # its own error for non-ASCII digits
    except ValueError:
        raise argparse.ArgumentTypeError(f"{word!r} is no number of grades: {takes}") from None
    if count < 2:
        raise argparse.ArgumentTypeError(
            f"{count}: a grading scale has at least 2 grades; {takes}, or leave --grades out (then "
            f"the manifest's or the CSV header's)")
    return count
