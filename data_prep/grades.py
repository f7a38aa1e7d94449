"""The grade scale of an ingest: names of grades 0..K-1 from ``data.grades`` or the layout.

DRAC 2022 Task 3 grades UW-OCTA on 3 levels (0 Normal, 1 NPDR, 2 PDR); the public colour
fundus sets (APTOS 2019, EyePACS / Kaggle DR 2015, IDRiD, RetinaMNIST) use the 5-level
International Clinical Diabetic Retinopathy scale (ICDR; Wilkinson et al., Ophthalmology
2003): 0 No DR, 1 Mild, 2 Moderate, 3 Severe NPDR, 4 PDR.
"""

from __future__ import annotations

from collections.abc import Sequence

from drac_ssl.config import GRADE_SCALES

LAYOUT_SCALES = {"drac": "drac", "plain": "drac", "aptos": "icdr", "eyepacs": "icdr",
                 "idrid": "icdr", "medmnist": "icdr"}
"""The grade scale a layout implies when ``data.grades`` is empty."""


def resolve_grades(setting: Sequence[str], layout: str) -> tuple[tuple[str, ...], str]:
    """(names of grades 0..K-1, where they came from) for ``data.grades`` and a layout kind.

    ``setting`` is ``data.grades`` as validated by the config (empty, one scale name, or
    >= 2 names).
    """
    names = [str(g).strip() for g in setting]
    if len(names) == 1 and names[0].lower() in GRADE_SCALES:
        scale = names[0].lower()
        return GRADE_SCALES[scale], f"data.grades={scale}"
    if names:
        return tuple(names), "data.grades"
    scale = LAYOUT_SCALES.get(layout, "drac")
    return GRADE_SCALES[scale], f"the {layout} layout's default ({scale})"


def describe(names: Sequence[str]) -> str:
    """``'0 Normal, 1 NPDR, 2 PDR'``."""
    return ", ".join(f"{k} {name}" for k, name in enumerate(names))


def choices(names: Sequence[str]) -> str:
    """``'0 (Normal), 1 (NPDR) or 2 (PDR)'`` for a fix."""
    parts = [f"{k} ({name})" for k, name in enumerate(names)]
    return ", ".join(parts[:-1]) + f" or {parts[-1]}" if len(parts) > 1 else parts[0]
