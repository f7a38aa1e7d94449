"""Docstrings that name the layouts by hand, beyond those the layout guard test reads
(``tests/data_prep/test_layouts.py``): ``DataConfig``'s paragraphs on ``layout``, ``grades``
and ``modality``, and ``data_provenance``'s kinds. A new layout must be named in each
(docs/design.md, "Adding a data layout", step 4); DeepDRiD was once missing from two."""

from __future__ import annotations

import inspect

from data_prep.grades import LAYOUT_SCALES
from drac_ssl.config import DATA_LAYOUTS, LAYOUT_NAMES, DataConfig
from drac_ssl.grading.bundle import data_provenance
from drac_ssl.scale import FUNDUS_LAYOUTS

LAYOUTS = [kind for kind in DATA_LAYOUTS if kind != "auto"]


def paragraph(doc: str, opening: str) -> str:
    """The paragraph of ``doc`` that starts with ``opening``, on one line."""
    (found,) = [" ".join(p.split()) for p in inspect.cleandoc(doc).split("\n\n")
                if p.strip().startswith(opening)]
    return found


def test_data_config_docstring_names_every_layout_where_it_lists_them() -> None:
    doc = DataConfig.__doc__ or ""
    where = paragraph(doc, "``layout`` ``auto``")
    grades = paragraph(doc, "``grades``").split("Empty: the layout's scale")[1].split(")")[0]
    modality = paragraph(doc, "``modality``").split("``auto``: the layout's")[1].split(")")[0]
    for kind in LAYOUTS:
        name = LAYOUT_NAMES[kind]
        assert name in where, f"drac_ssl/config.py DataConfig docstring, ``layout`` paragraph: add {name}"
        assert name in grades, (f"drac_ssl/config.py DataConfig docstring, ``grades`` paragraph: "
                                f"add {name} ({LAYOUT_SCALES[kind]})")
        if kind in FUNDUS_LAYOUTS:
            assert name in modality, (
                f"drac_ssl/config.py DataConfig docstring, ``modality`` paragraph: add {name} (fundus)")


def test_data_provenance_docstring_names_every_layout_kind() -> None:
    doc = " ".join((data_provenance.__doc__ or "").split())
    for kind in LAYOUTS:
        assert f"``{kind}``" in doc, f"drac_ssl/grading/bundle.py data_provenance docstring: add ``{kind}``"


def test_a_layout_name_for_people_never_reads_none() -> None:
    # an older record without a layout gave "None layout" in the report (review s49)
    from drac_ssl.config import layout_name

    assert layout_name("aptos") == "APTOS" and layout_name("phantom") == "phantom"
    assert layout_name(None) == layout_name("") == "unknown"
