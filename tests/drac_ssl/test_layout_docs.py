"""Docstrings that name the layouts by hand, beyond those the layout guard test reads
(``tests/data_prep/test_layouts.py``): ``DataConfig``'s paragraphs on ``layout``, ``grades``
and ``modality``, ``data_provenance``'s kinds, ``data_prep/layout.py``'s and
``data_prep/grades.py``'s module docstrings; and the ingest help, built from the layout list. A
new layout must be named in each (docs/design.md, "Adding a data layout", steps 4 and 9);
DeepDRiD was once missing from two, Messidor-2 from grades.py's."""

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
        assert f"``{kind}``" in doc, f"drac_ssl/grading/model_card.py data_provenance docstring: add ``{kind}``"


def test_a_layout_name_for_people_never_reads_none() -> None:
    # an older record without a layout gave "None layout" in the report (review s49)
    from drac_ssl.config import layout_name

    assert layout_name("aptos") == "APTOS" and layout_name("phantom") == "phantom"
    assert layout_name(None) == layout_name("") == "unknown"


def test_the_ingest_help_names_the_layouts_from_the_layout_list(
        monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    """``python -m data_prep ingest --help``'s description is built from ``LAYOUT_NAMES`` (it
    was typed by hand, one more list to keep): a layout renamed there is renamed here."""
    import pytest

    from data_prep.__main__ import main
    from drac_ssl import config

    monkeypatch.setitem(config.LAYOUT_NAMES, "messidor2", "Messidor-Two")
    with pytest.raises(SystemExit):
        main(["ingest", "--help"])
    description = " ".join(capsys.readouterr().out.partition("Validate every image")[2].split())
    said = description.partition("), then write")[0]
    for kind in LAYOUTS:
        assert config.LAYOUT_NAMES[kind] in said, (kind, said)
    assert "Messidor-2" not in said, said


def test_the_module_docstrings_that_list_layouts_name_every_one() -> None:
    """The hand-typed lists of layouts in docstrings a trial contributor found stale or
    unguarded: ``data_prep/grades.py``'s ICDR sets (Messidor-2 was missing),
    ``data_prep/layout.py``'s one section per layout and its label formats, and
    ``DataConfig``'s label formats."""
    import data_prep.grades
    from data_prep import layout

    icdr = " ".join((data_prep.grades.__doc__ or "").split())
    for kind in LAYOUTS:
        if LAYOUT_SCALES[kind] == "icdr":
            assert LAYOUT_NAMES[kind] in icdr, f"data_prep/grades.py docstring: add {LAYOUT_NAMES[kind]} (ICDR)"
        assert f"\n``{kind}``:" in (layout.__doc__ or ""), (
            f"data_prep/layout.py module docstring: add a ``{kind}``: section")
    layout_formats = " ".join((layout.__doc__ or "").split()).partition(
        "has those of exactly one public layout (")[2].partition(")")[0]
    config_formats = paragraph(DataConfig.__doc__ or "", "``layout`` ``auto``").partition(
        "exactly one public layout (")[2].partition(")")[0]
    assert layout_formats and config_formats
    for kind in layout.LABEL_FORMATS:
        name = LAYOUT_NAMES[kind]
        assert f"{name}'s" in layout_formats, (
            f"data_prep/layout.py module docstring, label formats: add {name}'s columns")
        assert name in config_formats, (
            f"drac_ssl/config.py DataConfig docstring, ``layout`` paragraph's label formats: add {name}")
