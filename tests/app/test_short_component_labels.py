"""Every component's label is short (an accessibility review: the overlay image's and the batch
downloads' labels ran to 239 characters, and gradio_client names inputs and outputs by them);
what the long labels said is on the page, in words under the downloads and above the upload."""

from __future__ import annotations

from typing import Any

from app.predict import Predictor

LONGEST_LABEL = 60


def test_labels_are_short_and_what_they_said_is_on_the_page(predictor: Predictor) -> None:
    import gradio as gr

    from app.server import (
        DOWNLOAD_LABELS,
        PROVENANCE_LABEL,
        AppSettings,
        build_demo,
        grades_csv_label,
        mark_flags,
    )

    demo = build_demo(predictor, AppSettings())
    blocks: list[Any] = list(demo.blocks.values())
    labels = [str(b.label) for b in blocks if getattr(b, "label", None)]
    assert labels and max(map(len, labels)) <= LONGEST_LABEL, max(labels, key=len)
    said = " ".join(str(b.value) for b in blocks if isinstance(b, gr.Markdown))
    for words in (grades_csv_label(**mark_flags(predictor)), PROVENANCE_LABEL, "grey or colour".capitalize(),
                  "Any other file is listed as not graded", "columns to filter on"):
        assert words in said, words
    # each line under the downloads says which download it is about (a review: they did not)
    for box, words in zip(DOWNLOAD_LABELS, (grades_csv_label(**mark_flags(predictor)), "CSV with the notes",
                                            PROVENANCE_LABEL), strict=True):
        assert f"- **{box}**: {words}" in said, box
    assert {str(b.label) for b in blocks if isinstance(b, gr.File) and not b.interactive} >= set(DOWNLOAD_LABELS)
    # every output a client gets has a name, not gradio's value_13 / value_31 by position
    api = demo.get_api_info()["named_endpoints"]
    names = [r["label"] for e in ("/grade", "/grade_batch") for r in api[e]["returns"]]
    assert names[0] == "Result" and "Batch summary" in names, names
    assert not any(name.startswith("value_") for name in names), names
