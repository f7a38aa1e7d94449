"""The Gradio app: a single-image tab, a batch tab and the model card.

:func:`build_demo` lays out the page for a :class:`app.predict.Predictor`; :func:`serve`
queues and launches it. Offline by construction: analytics off (set before gradio is
imported: :func:`app.offline_server_environment` runs first), no share link, no server-side rendering (no Node process), the
default theme's fonts are served from the gradio package itself, no Hugging Face calls.

Events that run the model share one concurrency group (``concurrency_id="model"``) behind
the app's own bounded queue (:class:`app.model_queue.ModelQueue`): at most
``AppSettings.concurrency`` requests run the model at once (default 1: one image at a time
uses the process's threads, set by ``drac_ssl.runtime.apply_thread_policy`` in ``python -m
app``), at most ``AppSettings.queue_size`` wait in line (default 32: twenty clients at once
are all served), and a request beyond that gets the app's "busy, try again in N s" message
in the page, never gradio's "Queue is full" error (gradio's own queue is sized above the
app's, :func:`app.model_queue.gradio_limits`). A batch holds its slot one image at a time
(:meth:`app.model_queue.Turn.pass_on` between two files): a single image that waits in line
is graded between two of the batch's images, not after the whole batch.

Bad input never raises into gradio: every handler turns it into a message in the page
(and an ``error`` field in the details JSON for API clients); an unexpected exception is
logged with its traceback and reported the same way, and the server keeps serving.
"""

from __future__ import annotations

import csv
import html
import inspect
import json
import logging
import os
import re
import secrets
import shutil
import tempfile
import threading
import time
import traceback
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from app import GRADIO_MISSING, offline_server_environment

try:
    offline_server_environment()  # before gradio is imported: analytics off, the hub offline
    import gradio as gr
except ModuleNotFoundError as exc:  # the optional [app] extra: say so and how to install it
    if exc.name != "gradio":
        raise
    raise ModuleNotFoundError(GRADIO_MISSING, name="gradio") from None

from app import reverse_proxy
from app.batch_csv import notes_csv_columns, write_grades_for_people
from app.gradcam import (
    OUTLINE_SHARES,
    blend_heat,
    coarse_words,
    draw_outlines,
    heat_colours,
    reads_box_only,
    strongest_words,
)
from app.grading_log import GRADING_LOG_MAX_MB, GradingLog, mib_bytes
from app.inputs import (
    FILE_TYPES,
    FORMAT_WORDS,
    MIN_SIDE,
    InputLimits,
    InputRejected,
    check_gradable,
    describe_kind,
    is_plain_note,
    load_upload,
)
from app.login_guard import LoginGuard
from app.model_queue import ModelQueue, ServerBusy, gradio_limits
from app.predict import Prediction, Predictor, borderline_grades, borderline_words
from app.retention import (  # CACHE_CLEANUP: gradio's hourly rule, named here before
    CACHE_CLEANUP,
    KEPT_S,
    SWEEP_EVERY_S,
    UNCLAIMED_UPLOAD_S,
    UploadClaims,
    sweep_old_entries,
    sweep_unclaimed_uploads,
    sweep_upload_leftovers,
)
from drac_ssl.figures import (
    ci_words,
    figure_text,
    format_ci,
    percent_text,
    percent_texts,
    referable_percent_text,
    screening_figures_words,
    tie_words,
    tied_grades,
    whole_percentages,
)
from drac_ssl.grading.bundle import (
    HEATMAP_CAVEAT,
    REFERABLE_SCOPE_WORDS,
    data_folder_name,
    grade_said,
    grading_provenance_words,
    never_found_rows,
    never_found_words,
    scope_words,
)
from drac_ssl.grading.image_file import DEFAULT_LIMITS
from drac_ssl.grading.image_notes import (  # the verdict's tables, re-exported: they were here
    DOUBT_KINDS,
    MODALITY_DOUBTS,
    NOT_RELIABLY_GRADABLE,  # noqa: F401 - re-exported
    UNLIKE_KIND,
    UNLIKE_TRAINING,
    decision_words,
    doubt_kind,
    flagged_reasons,
    incomplete_line,
    same_grade_words,
    unreliable_reasons,
)
from drac_ssl.grading.training_images import BY_PIXELS, training_images_line
from drac_ssl.grading.utc import utc_now as grading_utc_now
from drac_ssl.io import sha256_file
from drac_ssl.metrics import referral_words
from drac_ssl.name_tags import name_digest
from drac_ssl.scale import grade_names_for_people
from drac_ssl.starting import python_command
from drac_ssl.submission import (
    NOT_GRADED,
    TRAINING_IMAGE_COLUMN,
    UNRELIABLE_COLUMN,
    case_name_problem,
    grading_provenance_record,
    image_name_problem,
    provenance_path,
    safe_case_name,
    write_grading_provenance,
    write_incomplete_grades,
    write_submission,
)

__all__ = ["BENCH_HEADS_CAVEAT", "HEATMAP_CAPTION", "HEATMAP_PAGE_CAVEAT", "HEATMAP_PAGE_CAVEAT_FEW_CELLS",
           "HEATMAP_PAGE_CAVEAT_LINEAR", "HEATMAP_PAGE_CAVEAT_LINEAR_ONE_VIEW",
           "HEATMAP_PAGE_CAVEAT_ONE_VIEW", "BATCH_RESULT_ID", "BATCH_STATUS_ID", "HEAT_NOT_FINITE_WORDS",
           "LIVE_IDS", "PAGE_CSS", "PAGE_JS", "READ_BOX_WORDS", "RESULT_ID", "STATUS_ID", "AppSettings",
           "batch_status", "build_demo", "failed_status", "grading_status", "heat_key_html",
           "heatmap_page_caveat", "image_alt_texts", "model_card_view", "outline_words", "page_doubts",
           "percent_cell_text", "percent_cells", "probability_header", "result_status", "safe_card_html",
           "serve", "submission_columns", "sweep_files", "sweeping", "table_columns", "table_datatypes",
           "table_value", "table_widths", "transport_limit"]

log = logging.getLogger("app")


def name_tag(name: str) -> str:
    """How the server log refers to an uploaded file: ``image 1a2b3c4d``, the first 8 hex
    digits of the SHA-256 of its name. File names in hospitals often carry a patient's name
    or ID, and the console log is kept (journald under a service manager): the log never
    writes an upload's name, only this tag, which correlates the lines about one file
    without saying the name (the page still shows the name to its user). The unkeyed digest of
    :func:`drac_ssl.name_tags.name_digest`: whoever guesses a name can confirm it by hashing it
    (the export command's ``--log-names tag`` keys its tags with a secret of the run against
    that, so its tags are not these)."""
    return f"image {name_digest(name)}"


def _log_safe(text: str, paths: list[str | None]) -> str:
    """``text`` (a traceback) with each upload's path, name and stem replaced by its
    :func:`name_tag`: an exception's message often names the file it failed on."""
    for path in paths:
        if not path:
            continue
        name = Path(path).name
        tag = name_tag(name)
        stem = Path(name).stem
        for said in (str(path), name, *([stem] if len(stem) >= 4 else [])):
            text = text.replace(said, tag)
    return text


def _traceback(paths: list[str | None]) -> str:
    """The current exception's traceback for the log, without the uploads' names (:func:`_log_safe`)."""
    return _log_safe(traceback.format_exc(), paths)


MODEL_GROUP = "model"


def _kept_words(cleanup: tuple[int, int]) -> str:
    """What becomes of an upload the app did not grade (the busy message): it is in gradio's
    upload cache already, deleted by the clean-up ``cleanup`` (:data:`CACHE_CLEANUP`)."""
    every, age = (max(1, round(v / 60)) for v in cleanup)
    def minutes(m: int) -> str:
        return "an hour" if m == 60 else f"{m} minutes"
    return (f"The file you sent is already in the server's upload folder: files there older "
            f"than {minutes(age)} are deleted every {'hour' if every == 60 else f'{every} minutes'} "
            f"while the server runs.")
DISPLAY_MAX_SIDE = 768
def _theme() -> gr.themes.Base:
    """:data:`THEME`: gradio's default look, its colours darkened where text was too faint."""
    theme = gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"],
                              font_mono=["ui-monospace", "monospace"]).set(
        button_primary_background_fill="*primary_700",  # white on #c2410c: 5.18:1
        button_primary_background_fill_hover="*primary_800",
        button_primary_border_color="*primary_700",
        button_primary_border_color_hover="*primary_800",
        button_primary_background_fill_dark="*primary_700",
        button_primary_background_fill_hover_dark="*primary_800",
        button_primary_border_color_dark="*primary_700",
        button_primary_border_color_hover_dark="*primary_800",
        color_accent="*primary_700",  # the selected tab's text, on white
        body_text_color_subdued="*neutral_600",  # info text: #52525b on white, 7.7:1
        input_placeholder_color="*neutral_500",
        input_placeholder_color_dark="*neutral_400",
        link_text_color_visited="*secondary_700",  # #3b82f6 on white was 3.68:1
        link_text_color_visited_dark="*secondary_400",
        # a radio's or checkbox's own border against its white box: #d4d4d8 was 1.48:1 (a browser
        # review; WCAG 1.4.11 asks 3:1 of a control's boundary): #71717a, 4.83:1
        checkbox_border_color="*neutral_500",
        checkbox_border_color_hover="*neutral_600",
        checkbox_border_color_dark="*neutral_400",
        checkbox_border_color_hover_dark="*neutral_300",
    )
    # the selected tab's text on the dark page (gradio's set() has no dark accent): orange 400
    theme.color_accent_dark = "*primary_400"  # type: ignore[attr-defined]
    return theme


THEME = _theme()
"""gradio's default look with the system's fonts (nothing to fetch, and no glyph problems of
the bundled web fonts, seen in headless Chromium with Source Sans Pro bold), with every text
colour at WCAG AA's 4.5:1 or more against what it stands on, and the radios' and checkboxes'
borders at 3:1 or more (1.4.11), in the light and the dark mode
(``tests/app/test_theme_contrast.py`` reads the theme's own CSS): an accessibility review found
the default's primary buttons white on #f97316 (2.80:1), the selected tab's text #f97316 on
white (2.80:1) and the muted info text #bbbbc2 on white (1.91:1); a browser review the unchecked
radio's border #d4d4d8 on white (1.48:1)."""
def probability_header(grade: int, name: str) -> str:
    """The batch table's header of grade ``grade``'s probability: ``P(1 NPDR) %``."""
    return f"P({grade} {name}) %"


def table_columns(grade_names: Sequence[str]) -> list[str]:
    """The batch table's columns: ``case, class, grade``, one ``P(k name) %`` per grade
    (:func:`probability_header`, ``grade_names`` as the page names them), ``notes``. ``class`` is
    the grade number, as in the submission CSV; ``grade`` its name as the page says it
    (:func:`drac_ssl.scale.grade_names_for_people`: ``Severe NPDR`` where the ``/grade_batch`` API
    gave the bundle's recorded ``Severe`` before, docs/app.md); each ``P(k name) %`` cell the
    grade's whole percentage, a number (:func:`percent_cells`: the K of an image rounded together,
    adding up to 100; equal ones alike, then within floor(K/2) of 100 for K grades), shown as the rest of the page writes it (``37``, ``<1`` for 0, ``>99`` for
    100: :func:`table_value`), None (empty) for an image not reliably gradable, whose percentages
    the page never shows. The table said ``P0..`` with 4 decimals until an accessibility review
    (everything else says the grade's name and whole percentages); the submission CSV keeps
    ``P0..`` (:func:`submission_columns`, 6 decimals), for machines. The model's time per image is
    in the server's log, not the table (a trial: a ``mean s/image`` column meant nothing to a
    clinician)."""
    return ["case", "class", "grade", *(probability_header(k, n) for k, n in enumerate(grade_names)), "notes"]


def table_datatypes(num_grades: int) -> list[str]:
    """gradio's ``datatype`` of the batch table's columns (:func:`table_columns`): ``class`` and
    the ``num_grades`` percentage columns are numbers, so that sorting a column in the page sorts
    by value (as text, "9" came after "37"), the rest text."""
    return ["str", "number", "str", *["number"] * num_grades, "str"]


def percent_cells(probs: Any) -> list[int]:
    """An image's K probabilities ``(K,)`` as the batch table's ``P(k name) %`` cells: whole
    percentages rounded together, adding up to 100 (:func:`drac_ssl.figures.whole_percentages`:
    ``[0, 37, 63]``; equal values alike, ``[46, 9, 46]``, then within floor(K/2) of 100 for K grades, the
    figures of the page and the notes); the page shows 0 as ``<1`` and 100 as ``>99`` (:func:`percent_cell_text`),
    as a model's probability is never exactly either."""
    return whole_percentages(probs)


def percent_cell_text(percent: int | None) -> str:
    """A ``P(k name) %`` cell as the page shows it: :func:`drac_ssl.figures.percent_text` without
    the ``%`` the header carries (``37``, ``<1`` for 0, ``>99`` for 100), ``""`` for None."""
    return "" if percent is None else percent_text(percent)[:-1]


def table_value(rows: list[list[Any]], num_grades: int) -> dict[str, Any]:
    """The batch table's value for gradio's ``Dataframe``: ``rows`` (:func:`table_columns`'s
    columns) as data, the percentage cells numbers (:func:`percent_cells`; a ``/grade_batch``
    client reads them from ``data``), and gradio's ``metadata["display_value"]``, the text each cell
    shows: a percentage cell by :func:`percent_cell_text` (``<1``, ``>99``), another as it is
    (``""`` for None). gradio looks a cell's display text up by the row's own index, so sorting a
    column in the page keeps each figure on its row, and sorts by the numbers."""
    shown = range(3, 3 + num_grades)
    display = [[percent_cell_text(cell) if at in shown else "" if cell is None else str(cell)
                for at, cell in enumerate(row)] for row in rows]
    return {"data": rows, "metadata": {"display_value": display, "styling": None}}


def submission_columns(num_grades: int) -> list[str]:
    """The submission CSV's columns, DRAC's format: ``case, class, P0..P{K-1}`` (``class`` the
    grade number; :func:`drac_ssl.submission.write_submission`)."""
    return ["case", "class", *(f"P{k}" for k in range(num_grades))]


def table_widths(grade_names: Sequence[str]) -> list[int | str]:
    """The batch table's column widths (gradio's ``column_widths``): pixels for every column
    but the notes, a ``P(k name) %`` column wide enough for the longest word of its header
    (about 9 px a character, at least 72). Pixels grow with the browser's zoom as the text does,
    so a figure never breaks mid-number; percentages of the table did not (at 150% zoom
    "0.32 / 56", while the notes held a third of the width). The notes get a share of the
    table's width, so at a high zoom they give way (wrapping; the table scrolls sideways),
    not the numbers. (``"auto"`` for the notes would not wrap them at all.) Checked in
    headless Chromium at 100% and 150%."""
    def fits(header: str) -> int:
        return max(72, 9 * max(len(word) for word in header.split()) + 16)
    return [160, 64, 112, *(fits(probability_header(k, n)) for k, n in enumerate(grade_names)), "35%"]


def probability_key(class_names: list[str]) -> str:
    """What the batch table's probability columns hold: "P(0 Normal) % ... P(2 PDR) %: each
    grade's probability in whole percent ...", how ``<1`` and ``>99`` are held, and where the
    exact figures are."""
    first, last = (probability_header(k, class_names[k]) for k in (0, len(class_names) - 1))
    return (f"{first} ... {last}: each grade's probability in whole percent, an image's rounded "
            f"together to add up to 100 (equal ones alike, then within a point or two of 100; shown "
            f"<1 and >99 at the ends, held as 0 and 100, which a "
            f"probability never is exactly; empty for an image not reliably gradable); a column "
            f"sorts by these numbers; the grades CSV keeps them as P0.. with 6 decimals")


NOTES_CSV = "grades_with_notes.csv"
"""The batch's second download: every file with its grade and notes (:func:`_grade_batch`)."""

PROVENANCE_HOLDS = "bundle hash, code version, each image's SHA-256, time, TTA"
"""What the grades CSV's provenance record holds, as the batch's download label
(:data:`PROVENANCE_LABEL`) and its summary (:func:`_grade_batch`) say it: one list for both."""

DOWNLOAD_LABELS = ("Grades CSV", "Notes CSV", "Grades CSV provenance (JSON)")
"""The batch's downloads' labels, short (gradio_client names the outputs by them); each line of
the words under them starts with its download's label in bold, so that a reader knows which
download it is about (:data:`PROVENANCE_LABEL`, :func:`grades_csv_label`)."""

PROVENANCE_LABEL = ("Which model graded the grades CSV: its provenance record, NAME_provenance.json "
                    f"({PROVENANCE_HOLDS}; keep it beside the CSV: export --check compares the CSV's SHA-256)")
"""What the batch's third download is, said under the downloads (its label, short, is "Grades CSV
provenance (JSON)"): the grades CSV's grading provenance record
(:func:`drac_ssl.submission.provenance_path`, :func:`drac_ssl.submission.write_grading_provenance`),
the export's sidecar."""

FLAGGED_CSV = "grades_FLAGGED.csv"
"""The name of the batch's grades CSV (the submission's format) when every file was graded but
some image is not reliably gradable (:data:`NOT_RELIABLY_GRADABLE`): the name says it, as
``grades_INCOMPLETE.csv`` says a batch with a file not graded, and the summary points to
:data:`NOTES_CSV` for the warnings (a review: 30 of 30 colour photographs flagged, and the first
file offered was a plain ``submission.csv``)."""

PHANTOM_CSV = "grades_PHANTOM_DEMO.csv"
"""The name of the batch's grades CSV (the submission's format) when every file was graded by a
bundle trained on phantom images (:data:`PHANTOM_DEMO`, README command (1)'s bundle): the name
says its grades are a demonstration's, as :data:`DEMO_CSV` says an untrained demo's; it takes the
place of :data:`FLAGGED_CSV` as that does."""

TRIAL_CSV = "grades_TRIAL_RUN.csv"
"""The name of the batch's grades CSV (the submission's format) when every file was graded by a
trial run's bundle (:data:`TRIAL_RUN_MARK`: ``--first-try``, or epochs cut far below its config's,
``metadata.json``'s ``trial_run``): the name says its grades check that the software runs, not
how well it grades (a clinician trial: a ``--first-try`` bundle's complete batch was offered as
``submission.csv``); it takes the place of :data:`FLAGGED_CSV` as :data:`PHANTOM_CSV` does."""

DEMO_CSV = "grades_UNTRAINED_DEMO.csv"
"""The name of the batch's grades CSV (the submission's format) when every file was graded by an
untrained demo bundle (:attr:`app.predict.Predictor.untrained`, ``app.demo_bundle``'s random
weights), whatever its images: the name says that the grades mean nothing, as
:data:`FLAGGED_CSV` and ``grades_INCOMPLETE.csv`` say theirs (a review: a complete demo batch was
offered as ``submission.csv``, which ``--check`` passes, so that a grading from random weights
could be uploaded as a submission). It takes the place of :data:`FLAGGED_CSV` too; a batch with
a file not graded is still ``grades_INCOMPLETE.csv``."""

IMAGE_LABEL = "Uploaded image"
"""The page's image's label, hidden (its caption, :func:`_image_caption`, is a paragraph above
it): the name gradio_client gives the output, short (the caption was up to 200 characters)."""

HEATMAP_LABEL = "Grad-CAM heatmap"
"""The heatmap's label, hidden (:data:`HEATMAP_CAPTION` is a paragraph above it): the name
gradio_client gives the output, short (the caption is 239 characters)."""

HEATMAP_CAPTION = ("Grad-CAM: colour = evidence for the explained grade, relative to this map's "
                   "maximum; white solid line: the part holding that maximum, within 10% of it; "
                   "white dotted line: another part within 10% of it; white dashed line: half of it "
                   "or more")
"""The heatmap's caption: it names the outlines (:data:`app.gradcam.OUTLINE_SHARES`), which show
on any image and to every colour vision, not "brighter = more", which a colour blended over a
bright image does not keep (an accessibility review), nor a hue a colour-blind reader may not
see; and that the scale is this map's own maximum (each map is divided by its own maximum: the
colours carry no absolute strength)."""

_PAGE_BENCH = ("On a test model with a planted bright spot (a {head}-head test model on synthetic "
               "images with a random frozen backbone; says nothing about this model's maps; the "
               "model card gives the test), the map's peak ({views})")
"""The opening the page's bench caveats share (:func:`heatmap_page_caveat`): the test model's
scope, then which views the quoted map averaged, as this page's map does."""

_FOUR_VIEWS = "the image and its 3 flipped copies averaged, as here"
_ONE_VIEW = "of the image alone, without flips, as here"

HEATMAP_PAGE_CAVEAT = (f"{HEATMAP_CAVEAT} {_PAGE_BENCH.format(head='conv', views=_FOUR_VIEWS)} was on the "
                       f"spot's own cell in 47 of 96 images and within one cell of it in 89 of 96 (a "
                       f"randomly placed peak: 15 %).")
"""The heatmap line's standing caveat for a conv-head bundle (the default head) whose map has at
least 3 cells a side and averages the 4 flipped views (flip TTA; :func:`heatmap_page_caveat`):
:data:`drac_ssl.grading.bundle.HEATMAP_CAVEAT` and the heatmap bench's conv-head figures of the
4 views averaged, said to be a test model's (the model card and ``docs/app.md`` give the bench
in full, :func:`drac_ssl.grading.bundle.heatmap_bench_words`)."""

HEATMAP_PAGE_CAVEAT_ONE_VIEW = (f"{HEATMAP_CAVEAT} {_PAGE_BENCH.format(head='conv', views=_ONE_VIEW)} was "
                                f"on the spot's own cell in 21 of 96 images and within one cell of it in "
                                f"81 of 96 (a randomly placed peak: 15 %; with the 4 flipped copies "
                                f"averaged: 47 and 89).")
"""The caveat for a conv-head bundle whose map is the identity view's alone (no flip TTA: the
bundle's cross-validation ran without, or the app's ``--no-tta``): the bench's identity-view
figures (``heads.conv.combinations.identity_view``), the 4 views' beside them."""

HEATMAP_PAGE_CAVEAT_LINEAR = (f"{HEATMAP_CAVEAT} {_PAGE_BENCH.format(head='linear', views=_FOUR_VIEWS)} was "
                              f"within one cell of the spot in only 40 of 96 images (a "
                              f"randomly placed peak: 15 %), and the map failed a randomisation sanity "
                              f"check: it changed little when the head's weights were replaced.")
"""The caveat for a linear-head bundle with flip TTA (:func:`heatmap_page_caveat`): the bench's
linear-head figures, which are far weaker than the conv head's."""

HEATMAP_PAGE_CAVEAT_LINEAR_ONE_VIEW = (f"{HEATMAP_CAVEAT} {_PAGE_BENCH.format(head='linear', views=_ONE_VIEW)} "
                                       f"was within one cell of the spot in only 39 of 96 images (a randomly "
                                       f"placed peak: 15 %), and the map failed a randomisation sanity check "
                                       f"(run with the flipped copies averaged): it changed little when the "
                                       f"head's weights were replaced.")
"""The caveat for a linear-head bundle whose map is the identity view's alone: the bench's
identity-view figure (``heads.linear.combinations.identity_view``); its randomisation check ran
on the 4-view map only, and the caveat says so."""

HEATMAP_PAGE_CAVEAT_FEW_CELLS = (f"{HEATMAP_CAVEAT} The bench that tests the map on a planted bright "
                                 f"spot (the model card gives it) measured 7 x 7 maps; its "
                                 f"figures do not apply to a map of so few cells, which says only which "
                                 f"part of the image.")
"""The caveat for a map of fewer than 3 cells a side (2 x 2 at a 64 px input), where every cell
lies within one cell of every other, so the 7 x 7 bench's "within one cell" would mislead."""

BENCH_HEADS_CAVEAT = {("conv", 4): HEATMAP_PAGE_CAVEAT, ("conv", 1): HEATMAP_PAGE_CAVEAT_ONE_VIEW,
                      ("linear", 4): HEATMAP_PAGE_CAVEAT_LINEAR, ("linear", 1): HEATMAP_PAGE_CAVEAT_LINEAR_ONE_VIEW}
"""The page's caveat for the heads the heatmap bench measured (conv, linear) and the views it
measured their maps of (``(head, views)``: 4, the flip TTA's views averaged; 1, the identity view
alone); another head's page, or another count's, quotes no figure of it
(:func:`heatmap_page_caveat`)."""


BENCH_CELLS = (7, 7)
"""The map size the heatmap bench measured (``layer4`` of a 224 px input): its figures are quoted
only for a map of these cells (:func:`heatmap_page_caveat`)."""


def heatmap_page_caveat(cells: Sequence[int] | None, head: str | None, views: int) -> str:
    """The heatmap line's standing caveat for a map of ``cells`` ``(h, w)`` that averages ``views``
    views (:attr:`app.predict.Prediction.cam_views`: 4 with flip TTA, 1 without) of a bundle whose
    fold models have the head ``head`` (``linear``, ``mlp``, ``conv``, ``regression``;
    :attr:`app.predict.Predictor.head`): :data:`HEATMAP_PAGE_CAVEAT_FEW_CELLS` below 3 cells a side;
    no figure for a map of other cells than :data:`BENCH_CELLS` (7 x 7); else the bench's figures of that head and that many views (:data:`BENCH_HEADS_CAVEAT`: conv,
    linear; 1 or 4 views), each said to be a test model's; for a head the bench did not measure (or
    an unknown one), or another number of views, no figure, and that none applies."""
    if cells is not None and min(int(c) for c in cells) < 3:
        return HEATMAP_PAGE_CAVEAT_FEW_CELLS
    if cells is not None and tuple(int(c) for c in cells) != BENCH_CELLS:
        # a review of 0e97f21: "within one cell" of a 16 x 16 map is a far narrower target (a
        # random peak about 3.5 %, not 15 %), so the 7 x 7 figures do not carry over
        return (f"{HEATMAP_CAVEAT} The bench that tests the map on a planted bright spot "
                f"(the model card gives it) measured maps of {BENCH_CELLS[0]} x {BENCH_CELLS[1]} "
                f"cells, not {' x '.join(str(int(c)) for c in cells)}: none of its figures apply to this "
                f"model's map.")
    if (head, views) in BENCH_HEADS_CAVEAT:
        return BENCH_HEADS_CAVEAT[(head, views)]
    if head in {h for h, _ in BENCH_HEADS_CAVEAT}:
        return (f"{HEATMAP_CAVEAT} The bench that tests the map on a planted bright spot "
                f"(the model card gives it) measured maps of the image alone and of the image "
                f"and its 3 flipped copies averaged, not of {views} views: none of its figures apply to "
                f"this model's map.")
    which = f"this model's {head} head" if head else "this model's head"
    return (f"{HEATMAP_CAVEAT} The bench that tests the map on a planted bright spot "
            f"(the model card gives it) measured conv and linear heads on synthetic images, "
            f"not {which}: none of its figures apply to this model.")

RESULT_ID = "grade-result"
"""The ``elem_id`` of the single-image result (the grade and everything said of it). Not a live
region: a screen reader re-read its 900 to 1500 characters on every update, an arrow key in
*Heatmap for* included (an accessibility review); :data:`STATUS_ID` says the result in one
sentence instead."""

STATUS_ID = "grade-status"
"""The ``elem_id`` of the single-image result's one-sentence status (:func:`result_status`:
"Graded: grade 1 (NPDR); 1 warning above."), drawn off screen (:data:`STATUS_CSS`). The
element inside it that holds the sentence and nothing else (gradio's ``[data-testid=
"markdown"]``) is the polite live region (:data:`LIVE_IDS`, :data:`PAGE_JS`): what a screen
reader says when a result appears; the result itself is read when the user goes to it."""

BATCH_RESULT_ID = "batch-result"
"""The ``elem_id`` of the batch tab's visible summary ("3 images graded in 0.4 s ..."). Not a
live region: a browser review heard its 1,600 characters, and gradio's progress before them
("queue: 1/1 | 0.1s", "processing | 0.5s"); :data:`BATCH_STATUS_ID` says the batch in one
sentence instead."""

BATCH_STATUS_ID = "batch-status"
"""The ``elem_id`` of the batch's one-sentence status (:func:`batch_status`: "5 files: 4
graded, 1 rejected; 1 not reliably gradable."), off screen and a polite live region as
:data:`STATUS_ID` is."""

LIVE_IDS = (STATUS_ID, BATCH_STATUS_ID)
"""The page's live regions: the off-screen status blocks whose sentence element (gradio's
``[data-testid="markdown"]`` inside the block; not the block, which also holds gradio's progress
display: "0.0s", "processing | 0.5s") :data:`PAGE_JS` marks ``role="status"``,
``aria-live="polite"`` and ``aria-atomic="true"``."""

IMAGE_UPLOAD_ID = "image-upload"
"""The ``elem_id`` of the single-image tab's upload (:data:`UPLOAD_IDS`)."""

BATCH_UPLOAD_ID = "batch-upload"
"""The ``elem_id`` of the batch tab's upload (:data:`UPLOAD_IDS`)."""

UPLOAD_IDS = (IMAGE_UPLOAD_ID, BATCH_UPLOAD_ID)
"""The uploads :data:`PAGE_JS` looks after: the drop zone (gradio names it "Click to upload or
drop files") is described by the block's visible label, the formats (``aria-describedby``);
and a keyboard user's focus, which fell to the page's ``<body>`` when gradio swapped the zone
for the file's name after an upload, and back after its × (Clear), goes to the Clear button,
or to the zone again."""

IMAGE_ID = "image-picture"
"""The ``elem_id`` of the page's picture of the upload."""

HEATMAP_IMAGE_ID = "heatmap-picture"
"""The ``elem_id`` of the page's heatmap overlay picture."""

FULLSCREEN_NAMES = {IMAGE_ID: "Fullscreen: the uploaded image", HEATMAP_IMAGE_ID: "Fullscreen: the heatmap"}
"""The names :data:`PAGE_JS` gives each picture's Fullscreen button (both were "Fullscreen")."""

HEATMAP_FOR_ID = "heatmap-for"
"""The ``elem_id`` of the *Heatmap for* radio group (:data:`PAGE_JS`, :data:`FOCUS_CSS`)."""

CAPTION_CLASS = "picture-caption"
"""The ``elem_classes`` of the paragraph above each picture that says what it shows: the
pictures' own labels are hidden (``show_label=False``), as gradio floats them over the
picture's top (a browser review: 59 of the heatmap's 418 px hidden on a desktop, 127 px at 200%
zoom, its solid-outlined hottest cell included)."""

STATUS_CSS = (f"#{STATUS_ID}, #{BATCH_STATUS_ID} {{ position: absolute !important; width: 1px !important; "
              f"height: 1px !important; padding: 0 !important; margin: -1px !important; "
              f"overflow: hidden !important; clip: rect(0 0 0 0) !important; "
              f"white-space: nowrap !important; border: 0 !important; }}\n"
              f"#{STATUS_ID} [data-testid=\"status-tracker\"], #{BATCH_STATUS_ID} "
              f"[data-testid=\"status-tracker\"] {{ display: none !important; }}")
"""Draws the statuses (:data:`LIVE_IDS`) off screen, read by screen readers only (the usual
"visually hidden" rules), and without gradio's progress display: the page shows the whole
result beside them."""


MODALITY_HEADING = ("**⚠ This may not be a UW-OCTA en-face image, so the grade below may mean "
                    "nothing:**")
"""The heading of a UW-OCTA model's doubts about an image when one of them is about what the
image is (:func:`doubts_modality`): unlike the training images, a colour picture, a thresholded
export or mask, a phantom."""

CHECK_HEADING = "**⚠ Check this image before reading the grade below:**"
"""The heading of the doubts about an image otherwise: a colour model's, and a UW-OCTA model's
when each doubt is about the file (its size, bit depth, shape, a finding of the decoder), not
about what it shows (a clinician trial: a real DRAC scan saved as a 12-bit TIFF, graded the
same as its PNG, was headed "This may not be a UW-OCTA en-face image")."""

def doubts_modality(warning: str) -> bool:
    """Whether a doubt about an image (a sentence of :func:`page_doubts`) is about what the image
    is, not about its file: unlike the training images (:data:`drac_ssl.grading.image_notes.UNLIKE_TRAINING`),
    a colour image, only a few levels (a thresholded export or a mask), a phantom image
    (:data:`drac_ssl.grading.image_notes.MODALITY_DOUBTS`, kinds of its ``DOUBT_KINDS``). A size,
    a bit depth, a shape or a finding of the decoder is not."""
    return warning.startswith(UNLIKE_TRAINING) or doubt_kind(warning) in MODALITY_DOUBTS


def page_doubts(warnings: Sequence[str], predictor: Predictor) -> list[str]:
    """The warnings of a result said above its grade as doubts about the image (the model's own
    caveats, said elsewhere, and plain notes left out): what :func:`_result_markdown` lists under
    its warning heading and :func:`result_status` counts."""
    model_words = {predictor.chance_warning, predictor.calibration_warning, predictor.caveat}
    return [w for w in warnings if w not in model_words and not is_plain_note(w)]


def result_status(details: dict[str, Any], predictor: Predictor) -> str:
    """One sentence that a screen reader says when a single-image result appears (:data:`STATUS_ID`),
    from the result's ``details`` JSON: "Graded: grade 1 (NPDR)." with "; 1 warning above" when
    the page warns above the grade (the image's doubts, :func:`page_doubts`, and the model's
    no-better-than-chance warning: what the heading's "(⚠ see above)" points at), then what the
    page says in bold under the grade, in its order: "; probabilities not calibrated"
    (``details["calibration_failed"]``, or the bundle's :attr:`app.predict.Predictor
    .calibration_warning`), "; never found: PDR" (the grades the model never found out of fold,
    :func:`never_found_words`), "; borderline" (``details["borderline"]``, the Borderline line) and
    "; the model's most likely grade is 2 (PDR)" (``details["milder_than_most_likely"]``: the
    grade shown is milder than every grade tied for the largest, :func:`milder_than_most_likely`;
    "grades are 2 (PDR) and 3 (...)" for a tie; not said of an image not reliably gradable nor
    of a failed calibration, whose page names no most likely grade), and "; heatmap of grade 2
    (PDR)" when the heatmap explains another grade than the one shown; "Result: not reliably
    gradable; model output: grade 0 (Normal)." (or "untrained demo; ...") as the heading says
    it; for a refusal, that nothing was graded and where the reason is. ``""`` for no result (a
    cleared upload). (A review: it counted the warnings above the grade only, and an untrained
    demo's borderline result whose most likely grade was more severe said "Result: untrained
    demo; model output: grade 1 (NPDR).")"""
    if not details:
        return ""
    if "error" in details:
        if details.get("busy"):
            return "Busy: nothing was graded; please try again in a moment."
        if details.get("model_error"):
            return "The model failed on this image; the message says more."
        return "Not graded; the message says why."
    names = predictor.grade_names
    grade = f"grade {details.get('grade')} ({_shown_grade_name(details, predictor)})"
    reasons = details.get("not_reliably_gradable") or []
    verdicts = [*(["not reliably gradable"] if reasons else []),
                *([demo_mark(predictor)] if demo_mark(predictor) else [])]
    said = f"Result: {'; '.join(verdicts)}; model output: {grade}" if verdicts else f"Graded: {grade}"
    warned = len(page_doubts(details.get("warnings") or [], predictor)) + bool(predictor.chance_warning)
    if warned:
        said += f"; {warned} warning{'' if warned == 1 else 's'} above"
    uncalibrated = bool(details.get("calibration_failed") or predictor.calibration_warning)
    if uncalibrated:
        said += "; probabilities not calibrated"
    never = [grade_said(r, names) for r in never_found_rows(predictor.metadata)]
    if never:  # the bold ⚠ line under every grade (never_found_words)
        said += f"; never found: {', '.join(never)}"
    if details.get("borderline"):
        said += "; borderline"
    probs = details.get("P")
    if details.get("milder_than_most_likely") and not reasons and not uncalibrated:
        likely = tied_grades(probs) if probs else [details.get("most_likely_grade")]
        likely = [k for k in likely if isinstance(k, int) and 0 <= k < len(names)]
        graded = [f"{k} ({names[k]})" for k in likely]
        if len(graded) == 1:
            said += f"; the model's most likely grade is {graded[0]}"
        elif graded:
            said += f"; the model's most likely grades are {', '.join(graded[:-1])} and {graded[-1]}"
    heat = details.get("heatmap") or {}
    explained = heat.get("explains_grade")
    shown = details.get("grade")
    if isinstance(explained, int) and explained != shown and 0 <= explained < len(names):
        said += f"; heatmap of grade {explained} ({names[explained]})"
    return said + "."


def grading_status(paths: Sequence[str], batch: bool = False) -> str:
    """What a status (:data:`LIVE_IDS`) says as a grading starts, before its result's sentence
    (:func:`result_status`, :func:`batch_status`): "Grading the image." (``batch``: "Grading 5
    files."), ``""`` when there is nothing to grade (``paths`` empty). A screen reader hears that
    the grading started (gradio's own announcement of it, "Loading", "In queue: 1 of 1" and the
    untranslated "common.complete", is silenced by :data:`PAGE_JS`), and the result's sentence is
    said even when it is the last one's (a live region speaks when its text changes)."""
    if not paths:
        return ""
    if not batch:
        return "Grading the image."
    return f"Grading {len(paths)} file{'' if len(paths) == 1 else 's'}."


def failed_status(paths: Sequence[str], batch: bool = False) -> str:
    """What a status (:data:`LIVE_IDS`) says when a grading's step failed inside gradio, not in
    the app's handler, which answers every fault of its own with a result: gradio refused a
    request's input before the handler ran (an ``explain`` outside the offered choices, a file
    path outside gradio's cache: ``InvalidPathError``) or the step raised. Gradio then shows
    its error message (a toast) and runs only the step's ``.failure`` steps, not its ``.then``
    ones, so without this the status kept "Grading the image." (a browser review).
    "Not graded: an error; the message says why." (``batch``: "Nothing was graded: an error;
    the message says why."); ``""`` when there is nothing to grade (``paths`` empty), as when
    the upload's x cancels a grading in progress (gradio runs the cancelled step's
    ``.failure`` steps then too) and the status says nothing, as after the x."""
    if not paths:
        return ""
    return ("Nothing was graded" if batch else "Not graded") + ": an error; the message says why."


MODEL_FAILED_START = "⛔ The model failed while grading the batch"
"""How the batch summary opens when the model failed on the batch (:func:`_grade_batch_now`;
:func:`batch_status` reads it)."""

BUSY_START = "## ⏳ Busy"
"""How a busy refusal's markdown opens (:func:`_busy_markdown`; :func:`batch_status` reads it)."""


def batch_status(summary: str, rows: Sequence[Sequence[Any]], predictor: Predictor) -> str:
    """One sentence that a screen reader says when a batch's result appears
    (:data:`BATCH_STATUS_ID`), from what the page shows: the summary's markdown (``summary``)
    and the table's rows (``rows``: :func:`table_columns`' columns, the ``grade`` cell third,
    ``rejected`` for a file not graded, marked ``(not reliably gradable)`` by
    :func:`grade_cell`): "5 files: 4 graded, 1 rejected; 1 not reliably gradable." (with
    "; untrained demo" or "; phantom-trained demo" after it for such a bundle,
    :func:`demo_mark`); "Busy: nothing was graded; please try again in a moment." for a batch
    refused as busy; "The model failed on the batch; the message says more." when it did;
    "Nothing was graded; the message says why." for no file or too many; ``""`` for no summary.
    Rows without a file name (an empty table's) are not counted."""
    if not summary:
        return ""
    if summary.startswith(BUSY_START):
        return "Busy: nothing was graded; please try again in a moment."
    if summary.startswith(MODEL_FAILED_START):
        return "The model failed on the batch; the message says more."
    files = [row for row in rows if len(row) > 2 and isinstance(row[0], str) and row[0]]
    if not files:
        return "Nothing was graded; the message says why."
    rejected = sum(1 for row in files if row[2] == "rejected")
    graded = len(files) - rejected
    unreliable = sum(1 for row in files if row[2] != "rejected" and "not reliably gradable" in str(row[2]))
    said = f"{len(files)} file{'' if len(files) == 1 else 's'}: {graded} graded"
    if rejected:
        said += f", {rejected} rejected"
    if unreliable:
        said += f"; {unreliable} not reliably gradable"
    if graded and demo_mark(predictor):
        said += f"; {demo_mark(predictor)}"
    return said + "."


def _outline_sample(style: str) -> str:
    """A short line drawn as the overlay draws an outline (:func:`app.gradcam.draw_outlines`):
    white on a black edge, ``solid``, ``dashed`` or ``dotted``; decorative (``aria-hidden``), the
    words beside it say what it marks."""
    dash = {"solid": "", "dashed": ' stroke-dasharray="7 5"', "dotted": ' stroke-dasharray="1 7"'}[style]
    cap = "" if style == "solid" else ' stroke-linecap="round"'
    return ('<svg aria-hidden="true" width="30" height="10" style="vertical-align:middle">'
            f'<line x1="3" y1="5" x2="27" y2="5" stroke="#000000" stroke-width="4"{dash}{cap}/>'
            f'<line x1="3" y1="5" x2="27" y2="5" stroke="#ffffff" stroke-width="2"{dash}{cap}/></svg>')


def outline_words() -> dict[str, str]:
    """What each outline of the overlay marks (:data:`app.gradcam.OUTLINE_SHARES`,
    :func:`app.gradcam.outline_masks`), the key's and the heatmap line's words: ``solid`` the part
    that holds the map's maximum, where the heat is within 10% of it (the part the words name),
    ``dotted`` any other part within 10% of it, ``dashed`` the parts at half of it or more."""
    near = round(100 * (1 - OUTLINE_SHARES["solid"]))
    other = round(100 * (1 - OUTLINE_SHARES["dotted"]))
    half = round(100 * OUTLINE_SHARES["dashed"])
    return {"solid": f"the part that holds this map's maximum, the heat there within {near}% of it",
            "dotted": f"any other part within {other}% of the maximum",
            "dashed": f"the parts at {half}% of the maximum or more"}


KEY_BAR_MIN_PX = 96
"""The heatmap key's colour bar is never narrower than this (CSS px; :func:`heat_key_html`)."""


def heat_key_html(stops: int = 11) -> str:
    """The heatmap's key: a bar in the overlay's own colours (:func:`app.gradcam
    .heat_colours`, ``stops`` samples from cold to hot), labelled low ... high, relative to this
    map's maximum (each map is divided by its own maximum: 0 no positive evidence, 1 the
    maximum, so a colour carries no absolute strength), and the three outlines drawn on the map
    (:func:`outline_words`: solid around the part holding the maximum, within 10% of it; dotted
    around another part within 10% of it; dashed at half of it or more) with a sample of each,
    all with an ``aria-label`` that says it in words. It says that over a bright image the
    colours do not get lighter with the heat, and that the lines, not the colour, mark the
    strongest heat. The bar is at least :data:`KEY_BAR_MIN_PX` wide, the words beside it
    wrapping onto a line of their own on a narrow screen (a browser review: at 640 px and
    below the bar shrank to 0 px beside them)."""
    colours = heat_colours(np.linspace(0.0, 1.0, stops))
    gradient = ", ".join(f"#{int(r):02x}{int(g):02x}{int(b):02x}" for r, g, b in colours)
    said = outline_words()
    lines = "; ".join(f"white {style} line: {said[style]}" for style in ("solid", "dotted", "dashed"))
    return ('<div role="img" aria-label="Key of the heatmap, relative to this map\'s '
            'maximum: colours from dark purple (low evidence) through teal and green to bright yellow '
            '(this map\'s maximum), more opaque as the heat grows; each map is scaled to its own '
            'maximum, so the colours carry no absolute strength; where there is no evidence the image '
            f'shows without colour; {lines}; each line is drawn just outside what it outlines. Over a '
            'bright image the colours do not get lighter with the heat: the lines mark where it is '
            'strongest" '
            'style="font-size:90%;margin:4px 0">'
            '<div aria-hidden="true" style="display:flex;flex-wrap:wrap;align-items:center;gap:4px 8px">'
            '<span>low</span>'
            f'<span style="flex:1 1 {KEY_BAR_MIN_PX}px;min-width:{KEY_BAR_MIN_PX}px;height:14px;border-radius:3px;'
            f'background:linear-gradient(to right, {gradient})"></span>'
            '<span>high: this map\'s maximum (relative, not an absolute strength)</span></div>'
            '<div aria-hidden="true" style="display:flex;flex-wrap:wrap;gap:4px 16px;margin-top:4px">'
            + "".join(f'<span>{_outline_sample(style)} {said[style]}</span>'
                      for style in ("solid", "dotted", "dashed"))
            + '<span>(the lines, not the colour, mark where the heat is strongest on a bright '
            'image)</span></div></div>')


OCTA_WORDS = ("ultra-wide-field optical coherence tomography angiography (UW-OCTA) image, seen "
              "en face: a flat, front-on picture of the retina's blood vessels, as the device "
              "exports it")
"""The page's first words on the image it grades (under its title, an OCTA bundle's): "OCTA" and
"en face" spelt out where they are first used (an accessibility review: a reader who does not
know them met them unexplained in the title and its first line)."""


def _is_drac(predictor: Predictor) -> bool:
    """A 3-grade DRAC UW-OCTA bundle (the page keeps its DRAC wording)."""
    return predictor.kind == "octa" and predictor.class_names == ["Normal", "NPDR", "PDR"]


TRANSPORT_FACTOR = 2


def transport_limit(limits: InputLimits) -> int:
    """gradio's own upload limit (``max_file_size``): twice the app's (``--max-size-mb``).

    Uploads up to it reach the app, which checks its own limit first and answers with its
    own message in the page (file name, size, limit, what to upload instead), so a file a
    little too large, the common mistake, is explained; gradio's limit is the server's guard
    against disk-filling uploads, and the browser applies it before sending. A file above it
    gets gradio's bare "file too large" notice. It was at least 4 GiB (and 10x the app's) so
    that every oversize file got the app's message, but gradio stores an upload before any
    handler runs, and an upload that no handler sees (a bare ``POST /gradio_api/upload``)
    stayed in its cache until the hourly clean-up (:data:`CACHE_CLEANUP`): a review stored a
    400 MB file that way. Such an upload now goes after 30 minutes, the oldest first above
    4 GiB of them (:func:`sweep_files`, :data:`app.retention.UNCLAIMED_UPLOAD_S`,
    ``UNCLAIMED_CAP_BYTES``); a rejected oversize upload that does reach the app is deleted
    from the cache at once (:func:`_drop_oversize_upload`). gradio offers no
    limit on the number of uploads (up to 1000 files a request) nor on their rate: those belong
    in the reverse proxy (docs/app.md).
    """
    return TRANSPORT_FACTOR * limits.max_bytes


@dataclass(frozen=True)
class AppSettings:
    """How the app is served (command-line options of ``python -m app``)."""

    host: str = "127.0.0.1"
    port: int = 7860
    max_mb: float = DEFAULT_LIMITS.max_mb  # InputLimits' defaults: 50 MiB, 8192 px, 40 megapixels
    max_side: int = DEFAULT_LIMITS.max_side
    max_megapixels: float = DEFAULT_LIMITS.max_pixels / 1_000_000
    concurrency: int = 1
    queue_size: int = 32
    max_batch_files: int = 200
    tta: bool | None = None  # None: as the bundle's cross-validation (Bundle.tta_in_cv)
    gradcam: bool = True
    grading_log: str | None = None
    """``--grading-log FILE``: the file each grading appends a JSON line to
    (:class:`app.grading_log.GradingLog`); None (the default): no record of gradings."""
    grading_log_max_mb: float = GRADING_LOG_MAX_MB
    """``--grading-log-max-mb``: the size in MiB above which the record is renamed
    ``FILE.<UTC time>`` and a new one begun, no file deleted (:class:`app.grading_log.GradingLog`);
    0: never."""
    root_path: str | None = None
    """The path at which a reverse proxy serves the app (``--root-path``: ``"/drac"``; ``"/drac/"``
    is taken as ``"/drac"``, ``"/"`` as ``""``), or, as gradio's ``launch`` also takes it, a
    whole ``http(s)://`` URL (``GRADIO_ROOT_PATH`` may hold one): checked and put in its normal
    form by :func:`app.reverse_proxy.gradio_root_path`, whose ValueError a wrong one raises
    here; ``""`` (the normal form of ``"/"``, the app at the proxy's root): no prefix, and
    gradio's ``GRADIO_ROOT_PATH`` is not read; None: that variable as it is, else none."""

    def __post_init__(self) -> None:
        # "" is already the normal form ("/" -> ""); gradio_root_path refuses it as a path
        if self.root_path:  # frozen: the normal form is set through object's setattr
            object.__setattr__(self, "root_path", reverse_proxy.gradio_root_path(self.root_path))

    @property
    def limits(self) -> InputLimits:
        return InputLimits(max_bytes=int(self.max_mb * 1024 * 1024), max_side=self.max_side,
                           max_pixels=int(self.max_megapixels * 1_000_000))


# --------------------------------------------------------------------------------------
# Formatting


def _display(image: np.ndarray, max_side: int = DISPLAY_MAX_SIDE) -> np.ndarray:
    """A copy for the page, at most ``max_side`` px on the long side (INTER_AREA)."""
    h, w = image.shape[:2]
    scale = max_side / max(h, w)
    if scale >= 1:
        return image
    return cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))),
                      interpolation=cv2.INTER_AREA)


DISPLAY_JPEG_QUALITY = 95
DISPLAY_FILES_KEPT = 512

SERVED_NAME_BYTES = 16
"""Random bytes (128 bits) in the name of every file or folder the app hands gradio to serve
from a folder that all requests share: each page picture (:class:`_DisplayFiles`) and each
batch's CSV folder (:func:`_batch_folder`). gradio serves any file under its cache by path
(``/gradio_api/file=PATH``) to whoever may open the page (every logged-in user under
``--auth-file``), so an unguessable name is what keeps one request's files from another user:
a counter in the name (``00000003_image.jpg``, as the app wrote before) let a user who saw his
own picture's path fetch everyone else's by changing the number. The uploads themselves lie
where gradio puts them, ``<sha256 of gradio's seed and the bytes>/<the file's own name>``: not
found without the file, but whoever holds the identical bytes finds the folder by uploading them
and can confirm a name they guess (docs/app.md, *What a logged-in user can reach*)."""


def served_token() -> str:
    """A fresh name part for a served file or folder: :data:`SERVED_NAME_BYTES` random bytes
    from :mod:`secrets`, as lower-case hex (32 characters); never a counter, a time or a part
    of the upload's own name (which may name a patient)."""
    return secrets.token_hex(SERVED_NAME_BYTES)


def _display_overlay(image: np.ndarray, heatmap: np.ndarray) -> np.ndarray:
    """The Grad-CAM overlay at the page's size: the image and the heatmap brought to
    :func:`_display`'s size first (INTER_AREA / bilinear), then blended (the same colours as
    blending at full size and downscaling, for a third of the pixels); the outlines from the
    full-size map (:func:`app.gradcam.draw_outlines`), the one :func:`app.gradcam.strongest_heat`
    names a place of, so the solid line surrounds the part the words name (averaging the map
    down first can move, merge or drop its small hot parts)."""
    shown = _display(image)
    h, w = shown.shape[:2]
    small = heatmap
    if heatmap.shape[:2] != (h, w):
        small = cv2.resize(np.asarray(heatmap, dtype=np.float32), (w, h), interpolation=cv2.INTER_AREA)
    return draw_outlines(blend_heat(shown, small), heatmap)


class _DisplayFiles:
    """The page's two pictures as JPEG files (quality :data:`DISPLAY_JPEG_QUALITY`, written
    with OpenCV in a few ms) in one temporary folder per server process, removed at exit, each
    named ``<token>_<stem>.jpg`` with a fresh :func:`served_token` (``stem``: ``image`` or
    ``gradcam``, never the upload's name), so that no request's picture can be found from
    another's path;
    gradio serves each (from its own cache: under ``python -m app`` the folder lies in it, so
    gradio serves the file itself; otherwise it copies it there when the handler returns).
    Only the newest :data:`DISPLAY_FILES_KEPT` are kept here, and none older than
    :data:`app.retention.KEPT_S` (an hour: :meth:`expire`, run by the server's sweep).
    Returning arrays instead would have gradio
    encode them as WebP with Pillow: ~60 ms per picture on this CPU, as much CPU per request
    as the model itself (``bench/results/app_load*.json``)."""

    def __init__(self) -> None:
        import collections
        import threading

        self._root: tempfile.TemporaryDirectory[str] | None = None
        self._files: collections.deque[Path] = collections.deque()
        self._lock = threading.Lock()

    def write(self, image: np.ndarray, stem: str) -> str:
        """``image`` (uint8 grey or RGB) as a JPEG file named ``<token>_<stem>.jpg``
        (:func:`served_token`); its path. The oldest pictures beyond
        :data:`DISPLAY_FILES_KEPT` are deleted (kept in the order written, not by name)."""
        with self._lock:
            if self._root is None:
                self._root = tempfile.TemporaryDirectory(prefix="drac_app_display_")
            path = Path(self._root.name) / f"{served_token()}_{stem}.jpg"
            self._files.append(path)
            old = [self._files.popleft() for _ in range(max(0, len(self._files) - DISPLAY_FILES_KEPT))]
        pixels = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        if not cv2.imwrite(str(path), pixels, [cv2.IMWRITE_JPEG_QUALITY, DISPLAY_JPEG_QUALITY]):
            raise OSError(f"cannot write {path}")
        for stale in old:
            stale.unlink(missing_ok=True)
        return str(path)

    def expire(self, older_than: float = KEPT_S, now: float | None = None) -> list[Path]:
        """Delete the pictures older than ``older_than`` seconds (``now``: the time to age
        against, default now); the deleted paths."""
        with self._lock:
            if self._root is None:
                return []
            removed = sweep_old_entries(self._root.name, older_than, now)
            gone = set(removed)
            self._files = type(self._files)(f for f in self._files if f not in gone)
        return removed


_DISPLAY_FILES = _DisplayFiles()


def grade_probabilities(**kwargs: Any) -> gr.Label:
    """A ``gr.Label`` (the same widget) that names the GRADED class and lists the grades in
    scale order, for values made by :func:`_label_value`. A plain ``gr.Label`` sorts by
    probability and names the most probable grade, which is not the grade when the class
    decision is the QWK-tuned thresholds on the expected grade (``finetune.decision=
    thresholds``): the page and the API would show two grades for one image. (The instance's
    ``postprocess`` is replaced rather than the class subclassed: gradio writes a ``.pyi``
    stub beside any module that subclasses a component.)"""
    label = gr.Label(**kwargs)
    plain = label.postprocess

    def postprocess(value: Any) -> Any:
        if isinstance(value, dict) and "graded" in value and "probabilities" in value:
            from gradio.components.label import LabelConfidence, LabelData

            return LabelData(label=value["graded"], confidences=[
                LabelConfidence(label=k, confidence=float(p)) for k, p in value["probabilities"].items()])
        return plain(value)

    label.postprocess = postprocess  # type: ignore[method-assign]
    return label


def _no_empty_upload_files(upload: gr.File) -> None:
    """Stop ``upload`` (a ``gr.File(type="filepath")`` without ``file_types``) leaving an empty
    file in gradio's upload folder for every file it hands the app. gradio 6's
    ``File._process_single_file`` opens ``tempfile.NamedTemporaryFile(delete=False,
    dir=GRADIO_CACHE)`` and then only renames the Python object, returning the upload's own
    path: a load test found 922 zero-byte ``tmpXXXXXXXX`` files after about 1,100 ``/grade``
    calls (one per single image, one per file of a batch), left to the app's 30-minute sweep
    (:func:`app.retention.sweep_upload_leftovers`). Here the file's path is handed on as
    gradio does (a ``NamedString``), without that file. A component with ``file_types`` (whose
    check lives in the same method), another ``type``, or a gradio without the method is left
    as it is. (Replaced on the instance, as :func:`_quiet_choice_refusal` does.)"""
    plain = getattr(upload, "_process_single_file", None)
    if plain is None or upload.type != "filepath" or upload.file_types:
        return

    def process(f: Any) -> Any:
        path = getattr(f, "path", None)
        return gr.utils.NamedString(path) if isinstance(path, str) else plain(f)

    upload._process_single_file = process  # type: ignore[method-assign]


def _quiet_choice_refusal(radio: gr.Radio) -> None:
    """Keep gradio's own refusal of a value outside ``radio``'s choices (an API client's
    ``explain=7``: "Value: '7' ... is not in the list of choices: ['-1', '0', '1', '2']", raised by the
    radio's ``preprocess`` before the app's handler runs, and sent to the client as before),
    but without the 25-line traceback gradio prints for it: the same ``gr.Error`` with
    ``print_exception=False``, and one warning line in the app's log instead. (Replaced on
    the instance, as :func:`grade_probabilities` does, not subclassed.) A gradio whose
    ``gr.Error`` has no ``print_exception`` (5.x before December 2024; the app's extra allows
    ``gradio>=5``) keeps its refusal as it was, traceback included."""
    if "print_exception" not in inspect.signature(gr.Error).parameters:
        return
    plain = radio.preprocess

    def preprocess(payload: Any) -> Any:
        try:
            return plain(payload)
        except gr.Error as exc:
            log.warning("refused a heatmap choice outside the offered ones: %s",
                        _printable(str(exc.message), " ")[:200])
            raise gr.Error(exc.message, duration=exc.duration, visible=exc.visible, title=exc.title,
                           print_exception=False) from None

    radio.preprocess = preprocess  # type: ignore[method-assign]


def _label_value(pred: Prediction, names: list[str]) -> dict[str, Any] | None:
    """The probability widget's value (:func:`grade_probabilities`): the graded class and every
    grade's probability, in grade order, each label saying its whole percentage
    (``2 PDR: 60%``, :func:`drac_ssl.figures.percent_texts`, the result's figures) and each bar
    that same percentage (:func:`drac_ssl.figures.whole_percentages`), so that the widget's
    figures sum to 100, or to within floor(K/2) of it where equal probabilities are shown alike (0.455 / 0.09 /
    0.455: 46 / 9 / 46); its own rounded figure, which said 0% and 100% at the ends and 3% +
    37% + 61% = 101%, is hidden by :data:`PROBABILITY_CSS`. None, an empty widget, for an image not reliably gradable
    (:attr:`app.predict.Prediction.not_reliably_gradable`): a trial read "2 PDR 100%" on a brick
    texture; its probabilities stay in the details JSON."""
    if pred.not_reliably_gradable:
        return None
    percents = whole_percentages(pred.probs)  # the bars, the labels' figures: the result's
    labels = [f"{k} {n}: {percent_text(q)}" for k, (n, q) in enumerate(zip(names, percents, strict=True))]
    return {"graded": labels[int(pred.grade)],
            "probabilities": {lab: q / 100 for lab, q in zip(labels, percents, strict=True)}}


def probabilities_note(predictor: Predictor) -> str:
    """The line under the probability widget: what its percentages are calibrated on, the
    bundle's training images, not your patients or this clinic's population (a real-patient
    bundle's images are patients' too: a review found "not on patients" wrong for them); a
    phantom-trained bundle's on phantom images (procedural stand-ins, not patient data), not on
    patients; an untrained demo bundle's on nothing (a clinician trial: the page never said it).
    When the bundle's calibration failed (:attr:`app.predict.Predictor.calibration_warning`, its
    temperature at the edge of its search range) it says they are NOT calibrated: an auditor
    found it claiming "calibrated on its own training images" beside that warning."""
    if predictor.untrained:
        return ("Percentages: from an untrained demo model (random weights), calibrated on no "
                "image: they mean nothing.")
    if predictor.calibration_warning:
        return ("Percentages: the model's raw outputs, NOT calibrated (its calibration on its own "
                "training images failed): they do not say how likely the model finds each grade, "
                "nor the chance that this eye has that grade. Read the grade, not the percentages.")
    if predictor.trained_on_phantoms:
        return ("Percentages: how likely the model finds each grade, calibrated on phantom images "
                "(procedural stand-ins, not patient data), not on patients: not the chance that this "
                "eye has that grade.")
    return (f"Percentages: how likely the model finds each grade, calibrated on its own training images "
            f"({predictor.training_images_words}), not on your patients or this clinic's population: "
            f"not the chance that this eye has that grade.")


PROBABILITY_ID = "grade-probabilities"
"""The ``elem_id`` of the probability widget (:data:`PROBABILITY_CSS`)."""

PROBABILITY_CSS = f"#{PROBABILITY_ID} dd.confidence {{ display: none; }}"
"""The page's style: the probability widget's own figure (gradio's ``Math.round(confidence *
100)%``) hidden, since each of its labels says the result's whole percentage
(:func:`_label_value`: ``<1%`` and ``>99%`` at the ends, where the widget wrote 0% and 100%)."""

FOCUS_CSS = (f"#{HEATMAP_FOR_ID} input[type=\"radio\"]:focus-visible {{ outline: 2px solid "
             f"var(--color-accent) !important; outline-offset: 2px; }}")
"""A 2 px outline round the focused *Heatmap for* radio, in the theme's accent colour (#c2410c:
5.18:1 on white; orange 400 on the dark page): gradio drew no visible focus there (a browser
review, WCAG 2.4.7)."""

READING_CSS = (".prose code { overflow-wrap: anywhere; }\n"
               ".prose small { font-size: max(12.5px, 0.9em); }\n"
               + ", ".join(f'#{i} [data-testid="block-label"]' for i in UPLOAD_IDS)
               + " { max-width: calc(100% - 48px); }")
"""A code span (a file name, the CSV's columns) breaks anywhere rather than push the page
sideways (the batch summary's was 919 px wide on a 390 px phone), small print is at least
12.5 px (the *Limits* line was 11.2 px): a browser review (WCAG 1.4.10, 1.4.4). And an upload's
label wraps clear of its × (Clear), which on a phone covered its words ("...; grey or colour")."""

PAGE_JS = """() => {
  const LIVE = @LIVE_IDS@;
  const UPLOADS = @UPLOAD_IDS@;
  const FULLSCREEN = @FULLSCREEN@;
  const RADIOS = @RADIOS@;
  const set = (el, name, value) => {
    if (el && el.getAttribute(name) !== value) el.setAttribute(name, value);
  };
  let lastFocus = null;
  let lastUpload = null;
  const fix = () => {
    for (const id of LIVE) {
      const block = document.getElementById(id);
      if (!block) continue;
      for (const name of ["role", "aria-live", "aria-atomic"]) {
        if (block.hasAttribute(name)) block.removeAttribute(name);
      }
      const sentence = block.querySelector('[data-testid="markdown"]');
      set(sentence, "role", "status");
      set(sentence, "aria-live", "polite");
      set(sentence, "aria-atomic", "true");
    }
    for (const other of document.querySelectorAll('.sr-only[aria-live]:not([aria-live="off"])')) {
      other.setAttribute("aria-live", "off");
      other.removeAttribute("role");
    }
    for (const id of UPLOADS) {
      const block = document.getElementById(id);
      const label = block && block.querySelector('[data-testid="block-label"]');
      if (!label) continue;
      set(label, "id", id + "-label");
      for (const zone of block.querySelectorAll("button.upload-container")) {
        set(zone, "aria-describedby", id + "-label");
      }
    }
    const inert = [...document.querySelectorAll("#@PROBABILITY_ID@ button.confidence-set")];
    for (const [id, name] of Object.entries(FULLSCREEN)) {
      const block = document.getElementById(id);
      if (!block) continue;
      for (const b of block.querySelectorAll('button[aria-label="Fullscreen"]')) {
        set(b, "aria-label", name);
        set(b, "title", name);
      }
      for (const frame of block.querySelectorAll(".image-frame")) {
        if (frame.parentElement && frame.parentElement.tagName === "BUTTON") inert.push(frame.parentElement);
      }
    }
    for (const b of inert) {
      if (!b.disabled) b.disabled = true;
      set(b, "role", "none");
      set(b, "tabindex", "-1");
    }
    for (const id of RADIOS) {
      const group = document.getElementById(id);
      if (!group) continue;
      const title = group.querySelector('[data-testid="block-info"]');
      if (title) {
        set(title, "id", id + "-title");
        set(group, "aria-labelledby", id + "-title");
      }
      set(group, "role", "radiogroup");
      for (const radio of group.querySelectorAll('input[type="radio"]')) set(radio, "name", id);
    }
    for (const button of document.querySelectorAll(".gr-accordion > button.label-wrap")) {
      const content = button.parentElement.querySelector(':scope > [data-testid="accordion-content"]');
      if (!content) continue;
      set(button, "aria-expanded", content.style.display === "none" ? "false" : "true");
      set(button.querySelector(".icon"), "aria-hidden", "true");
    }
    for (const a of document.querySelectorAll('a[data-testid="download-link"]')) {
      const file = a.getAttribute("download");
      if (!file) continue;
      const size = a.textContent.replace(/[\\u21e3\\u2193\\s]+/g, " ").trim();
      set(a, "aria-label", "Download " + file + (size ? " (" + size + ")" : ""));
    }
    const lost = !document.activeElement || document.activeElement === document.body;
    if (lost && lastUpload && lastFocus && !lastFocus.isConnected) {
      const block = document.getElementById(lastUpload);
      const to = block && (block.querySelector(".icon-button-wrapper button")
                           || block.querySelector("button.upload-container"));
      if (to) {
        to.focus();
        lastFocus = to;
      }
    }
  };
  document.addEventListener("focusin", (event) => {
    lastFocus = event.target;
    const up = event.target.closest && event.target.closest(UPLOADS.map((id) => "#" + id).join(","));
    lastUpload = up ? up.id : null;
  });
  fix();
  new MutationObserver(fix).observe(document.body, {
    childList: true, subtree: true, attributes: true, attributeFilter: ["style"]});
}"""
for _mark, _value in (("@LIVE_IDS@", list(LIVE_IDS)), ("@UPLOAD_IDS@", list(UPLOAD_IDS)),
                      ("@FULLSCREEN@", FULLSCREEN_NAMES), ("@RADIOS@", [HEATMAP_FOR_ID])):
    PAGE_JS = PAGE_JS.replace(_mark, json.dumps(_value))
PAGE_JS = PAGE_JS.replace("@PROBABILITY_ID@", PROBABILITY_ID)
"""Run when the page loads (``demo.load(js=...)``); gradio has no option for any of it. A
``MutationObserver`` on the page that never stops (gradio builds a tab's elements when it is
first opened, and rebuilds parts on every result) applies, to whatever is there:

- the live regions (:data:`LIVE_IDS`): ``role="status"``, ``aria-live="polite"``,
  ``aria-atomic="true"`` on the element that holds the sentence alone, taken off the block
  (until a browser review the block was marked, holding gradio's progress too, by a script that
  gave up after 10 s, before the batch tab existed: its region was never one); gradio's own
  off-screen announcer of every event's progress ("Loading", "In queue: 1 of 1", and
  "common.complete", an untranslated key) silenced (``aria-live="off"``): the statuses say when
  a grading starts and what came of it (:func:`grading_status`);
- the uploads (:data:`UPLOAD_IDS`): the drop zone described by the label, focus kept;
- the buttons that do nothing (the probability rows, the pictures): disabled, ``role="none"``
  and out of the tab order, so the meters and the pictures' alt text are read as what they are;
- each picture's Fullscreen button named for its picture (:data:`FULLSCREEN_NAMES`);
- the *Heatmap for* radios (:data:`HEATMAP_FOR_ID`): one ``name`` (gradio gave each its own,
  so arrow keys did nothing), the group a ``radiogroup`` named by its title;
- each accordion's button ``aria-expanded``, its ▼ hidden from screen readers;
- each download link named by its file (``Download grades_with_notes.csv (1.5 KB)``; it was
  named by its size alone)."""

PAGE_CSS = f"{PROBABILITY_CSS}\n{STATUS_CSS}\n{FOCUS_CSS}\n{READING_CSS}"
"""The page's own CSS (``launch(css=...)``): :data:`PROBABILITY_CSS`, :data:`STATUS_CSS`,
:data:`FOCUS_CSS` and :data:`READING_CSS`."""


def _printable(text: str, instead: str) -> str:
    """``text`` with each control character (a line break, a tab ...) replaced by ``instead``."""
    return "".join(instead if unicodedata.category(c) == "Cc" else c for c in text)


def md_code(text: str) -> str:
    """``text`` (a file's name) as a markdown code span that shows it exactly as it is.

    Not html-escaped: the page's markdown renderer escapes ``&``, ``<`` and ``>`` inside a code
    span itself, so ``O'Brien & Co.png`` escaped first was shown as ``O&#x27;Brien &amp;
    Co.png``; inside a code span nothing is markup. The fence is one backtick longer than the
    longest run of backticks in ``text``, so that none of them closes the span (CommonMark; the
    page's renderer reads code spans the same way), with a space inside each end when ``text``
    starts or ends with a backtick or starts and ends with a space (the renderer drops one space
    from each end of a span that has both). A control character (a line break in a name) is
    shown as U+FFFD: a blank line would end the span, and the text after it would be markdown."""
    text = _printable(text, "\ufffd")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text[:1] == "`" or text[-1:] == "`" or (text[:1] == " " and text[-1:] == " ") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


_MD_FORMATTING = re.compile(r"([\\`*_\[\]~$])")
"""Characters markdown (and gradio's ``$$`` LaTeX) reads as formatting anywhere in a line."""


def md_text(text: str) -> str:
    """``text`` (plain words from outside the app: an exception's message, what a file holds,
    a name outside a code span) as markdown that shows it as it is, in a line the app wrote:
    ``<``, ``>`` and ``&`` as HTML character references (no tag in it reaches the page),
    ``\\ ` * _ [ ] ~ $`` backslash-escaped, ``://`` and ``www.`` broken so that the renderer
    makes no link of them, a control character (a line break) as a space, and a ``#``, ``+`` or
    ``-`` at its start escaped."""
    text = _MD_FORMATTING.sub(r"\\\1", _printable(text, " "))
    text = text.replace("://", "\\://").replace("www.", "www\\.")
    if text[:1] in ("#", "+", "-"):
        text = "\\" + text
    return html.escape(text, quote=False)


def _named_text(text: str, name: str) -> str:
    """:func:`md_text` of ``text`` in which each ``name`` in a code span (the app's messages,
    :class:`app.inputs.InputRejected`, write a file's name as `` `name` ``) is :func:`md_code`
    of it: the name shown as it is, the rest as text."""
    if not name:
        return md_text(text)
    return md_code(name).join(md_text(part) for part in text.split(f"`{name}`"))


def _plain_words(message: str, name: str) -> str:
    """An app message (`` `name` `` in a code span) as plain text, for the batch's notes and
    CSV: the name as it is, backticks in it included."""
    return message.replace(f"`{name}`", name) if name else message


_HTML_OPENING = re.compile(r"<(?=[A-Za-z/!?])|&(?=#?\w+;)")
"""Where text could open HTML in markdown: a ``<`` before a tag's first character, an ``&``
that starts a character reference (``&amp;``, ``&#39;``)."""


def md_words(text: str) -> str:
    """The app's sentences (warnings, caveats, notes) for the result's markdown: only what
    could open HTML is escaped (:data:`_HTML_OPENING`: ``<b`` -> ``&lt;b``, ``&amp;`` ->
    ``&amp;amp;``), so a file's text quoted in a warning cannot put a tag in the page, while
    apostrophes, quotes and a lone ``&`` or ``<`` stay as they are: the markdown is also what a
    ``gradio_client`` user reads (a trial got ``model&#x27;s`` from ``html.escape``). Image and
    link syntax is broken too (``![`` -> ``!\\[``, ``](`` -> ``\\](``): a bundle's grade name
    ``![t](http://tracker.example/p.png)`` (the names, ``class_names``, go through here wherever
    the page renders them as markdown) would have every browser fetch a remote image."""
    text = text.replace("![", "!\\[").replace("](", "\\](")
    return _HTML_OPENING.sub(lambda m: "&lt;" if m.group() == "<" else "&amp;", text)


RESULT_HEADING = "## Result"
"""The first line of a single-image result (:func:`_result_markdown`): the warnings and the
bundle's caveat come under it, then the grade's own ``### Grade ...`` heading one level below it
(:func:`grade_heading`), so a screen reader's list of headings shows the grade inside the result
(it was a ``##`` sibling of this heading, which then held the warnings alone: a review)."""


def _result_markdown(pred: Prediction, predictor: Predictor) -> str:
    folds = len(predictor.bundle.models)
    views = "4 views (the image and its 3 flipped copies)" if predictor.tta else "1 view (no flip)"
    probs = "Probabilities: " + " · ".join(
        f"{k} {md_words(n)} **{p}**" for k, (n, p) in
        enumerate(zip(predictor.grade_names, percent_texts(pred.probs), strict=True)))
    # a heading over what is said before the grade (warnings, the caveat): a screen reader's
    # list of headings then starts at the result, not at the grade below its warnings (a review)
    lines: list[str] = [RESULT_HEADING, ""]
    chance = predictor.chance_warning  # the model's own caveat: its figures in details["warnings"]
    if chance:
        lines += [f"**⚠ {md_words(chance_plain_words(predictor) or chance)}**", ""]
    caveat = predictor.caveat  # the bundle's own caveat, in the result itself
    uncalibrated = predictor.calibration_warning  # said under the heading, not as a doubt
    model_words = {chance, uncalibrated, caveat}
    doubts = page_doubts(pred.warnings, predictor)
    notes = [w for w in pred.warnings if w not in model_words and is_plain_note(w)]
    if doubts:  # said first: a grade of an image that may not be what the model reads
        heading = (MODALITY_HEADING if predictor.kind == "octa" and any(map(doubts_modality, doubts))
                   else CHECK_HEADING)
        lines += [heading] + [f"- {md_words(w)}" for w in doubts] + [""]
    for w in notes:  # a paragraph each: markdown joins consecutive lines into one
        lines += [f"Note: {md_words(w)}", ""]
    lines += [f"⚠ {md_words(caveat)}", ""]
    borderline = shown_borderline(pred.probs, predictor.grade_names, doubts, bool(uncalibrated))
    unreliable = unreliable_reasons(doubts)
    never = never_found_words(predictor.metadata, predictor.grade_names)
    lines += [
        grade_heading(pred, doubts, bool(chance), **mark_flags(predictor)),
        # a failed calibration: said first under the grade (docs/app.md), before any line that
        # reads the percentages (no borderline then; the decision line without figures)
        *([f"⚠ **{md_words(uncalibrated)}**", ""] if uncalibrated else []),
        # a grade never found out of fold: under every grade, visible (a clinician trial: small print)
        *([f"⚠ **{md_words(never)}**", ""] if never else []),
        *([f"**{md_words(borderline)}**", ""] if borderline else []),
        # an image not reliably gradable: no line that reads its percentages, none of them shown
        # (the widget is empty too, _label_value): a trial read "The single most likely grade is
        # 0 Normal (60%)" under a heading saying there is no grade to read
        *([] if unreliable else [*(_milder_lines(pred, predictor, unreliable)
                                   or _decision_lines(pred, predictor, likely_said=bool(borderline))),
                                 probs, *_referable_lines(pred, predictor)]),
        "",
        model_view_words(predictor),
        "",
        f"Inference **{pred.seconds:.2f} s** on CPU ({folds} fold model{'' if folds == 1 else 's'} × "
        f"{views}"
        f"{' + Grad-CAM' if pred.heatmap is not None and not heatmap_withheld(pred) else ''}); "
        f"image {pred.image.shape[1]} × "
        f"{pred.image.shape[0]} px, {md_code(pred.name)}.",
    ]
    rare = _rare_grades_line(predictor.metadata, predictor.grade_names)
    if rare:
        lines += ["", rare]
    lines += ["", _heatmap_markdown(pred, predictor)]
    return "\n".join(lines)


def shown_borderline(probs: Any, class_names: list[str], warnings: list[str],
                     calibration_failed: bool = False) -> str | None:
    """The borderline line said of an image's result, on the page and in the batch's notes
    column and count (:func:`app.predict.borderline_words` of ``probs`` ``(K,)``), or None: also
    None when ``warnings`` (the image's sentences) make it not reliably gradable
    (:func:`unreliable_reasons`): for an image the model should not grade, a close call between
    two named grades invites reading it (a review: "Not reliably gradable (a colour picture, not
    UW-OCTA)" followed by a bold "Borderline: the model cannot tell 0 Normal from 2 PDR"); and
    None when ``calibration_failed`` (the bundle's, :attr:`app.predict.Predictor.calibration_warning`):
    its percentages, likely to be nearly equal for every grade, would call every image
    borderline against the warning to ignore them (as :attr:`app.predict.Prediction.borderline`)."""
    if unreliable_reasons(warnings) or calibration_failed:
        return None
    return borderline_words(probs, class_names)


def _people_name(pred: Prediction) -> str:
    """The grade of ``pred`` named as the page names it to people
    (:func:`drac_ssl.scale.grade_names_for_people`: ``Severe NPDR``, not the recorded ``Severe``)."""
    names = getattr(pred, "class_names", None)  # a Prediction's; a stand-in may have only grade_name
    return grade_names_for_people(names)[pred.grade] if names else pred.grade_name


def _shown_grade_name(details: dict[str, Any], predictor: Predictor) -> str:
    """The grade of a result's ``details`` as the page names it (:attr:`app.predict.Predictor.grade_names`);
    ``details["grade_name"]`` (the bundle's recorded name) when the grade is not one of them."""
    grade = details.get("grade")
    names = predictor.grade_names
    return names[grade] if isinstance(grade, int) and 0 <= grade < len(names) else str(details.get("grade_name"))


def grade_heading(pred: Prediction, doubts: list[str], chance: bool, untrained: bool = False,
                  phantom: bool = False, trial: bool = False) -> str:
    """The result's heading: ``### Grade 1 — NPDR``; marked `` (⚠ see above)`` when the image has
    a doubt (``doubts``, the warnings said above it) or the model is no better than chance
    (``chance``); and, for an image whose doubts make it not reliably gradable
    (:func:`unreliable_reasons`), ``### Not reliably gradable (unlike the training images) —
    model output: Grade 0 Normal``: the grade kept in the heading, second, without its
    probability (a review: colour photographs of proliferative DR were headed "Grade 0 —
    Normal", P 0.80, like a valid result; a trial: a brick texture headed "... (P 1.00)" read
    as a certainty, so the percentages of such an image are not shown at all). ``untrained``: an untrained demo bundle's
    (:attr:`app.predict.Predictor.untrained`), whose grade is never headed as a grade either
    (a trial user read "## Grade 1 — NPDR" from random weights as a result): ``### Untrained
    demo — model output: Grade 1 NPDR``, and ``### Not reliably gradable (...); untrained demo —
    model output: ...`` for an image not reliably gradable. ``phantom``: a bundle trained on
    phantom images (:attr:`app.predict.Predictor.trained_on_phantoms`), headed the same way as
    :data:`PHANTOM_DEMO` (a trial user: a real DRAC scan read "## Grade 0 — Normal" under the
    phantom caveat); ``untrained`` wins when both hold (:func:`demo_mark`). ``trial``: a trial
    run's bundle (:attr:`app.predict.Predictor.trial_run`), ``### Trial run — model output: Grade 3
    Severe NPDR`` (:data:`TRIAL_RUN_MARK`; a clinician trial: a ``--first-try`` bundle's grade was
    headed like a finished model's); the two demo marks win over it."""
    reasons = unreliable_reasons(doubts)
    name = md_words(_people_name(pred))
    output = f"model output: Grade {pred.grade} {name}"
    mark = grade_mark(untrained, phantom, trial)
    if reasons:
        demo = f"; {mark}" if mark else ""
        return f"### Not reliably gradable ({'; '.join(reasons)}){demo} — {output}"
    see_above = " (⚠ see above)" if doubts or chance else ""
    if mark:
        return f"### {mark[0].upper()}{mark[1:]} — {output}{see_above}"
    return f"### Grade {pred.grade} — {name}{see_above}"


UNTRAINED_DEMO = "untrained demo"
"""How an untrained demo bundle's grade is marked (:attr:`app.predict.Predictor.untrained`):
heading, alt text, the batch's grade cell (:func:`demo_mark`)."""

PHANTOM_DEMO = "phantom-trained demo"
"""How the grade of a bundle trained on phantom images is marked
(:attr:`app.predict.Predictor.trained_on_phantoms`, README command (1)'s bundle): like an
untrained demo's, never as a plain grade, since it says nothing about a real eye (a trial user
read "## Grade 0 — Normal" for a real DRAC scan under a plain-text phantom caveat)."""


TRIAL_RUN_MARK = "trial run"
"""How the grade of a trial run's bundle is marked (:attr:`app.predict.Predictor.trial_run`:
``metadata.json``'s ``trial_run.trial``, e.g. ``--first-try``): like a demo's, never as a plain
grade, since its grades check that the software runs, not how well it grades (a clinician trial:
``### Grade 3 — Severe NPDR`` and a ``submission.csv`` under one warning paragraph)."""


def grade_mark(untrained: bool, phantom: bool = False, trial: bool = False) -> str:
    """The one mark of a grade that is a model's output, not a grading: :data:`UNTRAINED_DEMO`
    before :data:`PHANTOM_DEMO` before :data:`TRIAL_RUN_MARK` (the first that holds says the
    most: random weights, then images that are not eyes, then training cut short); "" for none."""
    return UNTRAINED_DEMO if untrained else PHANTOM_DEMO if phantom else TRIAL_RUN_MARK if trial else ""


def demo_mark(predictor: Predictor) -> str:
    """:data:`UNTRAINED_DEMO`, :data:`PHANTOM_DEMO`, :data:`TRIAL_RUN_MARK` or "" for a bundle
    whose grades are a model's output, not a grading (:func:`grade_mark`'s order: a demo bundle's
    data are none)."""
    return grade_mark(predictor.untrained, getattr(predictor, "trained_on_phantoms", False),
                      bool(getattr(predictor, "trial_run", "")))


def mark_flags(predictor: Predictor) -> dict[str, bool]:
    """:func:`demo_mark` of ``predictor`` as the keyword arguments of :func:`grade_heading`,
    :func:`grade_cell` and :func:`grades_csv_label` (``untrained``, ``phantom``, ``trial``)."""
    mark = demo_mark(predictor)
    return {"untrained": mark == UNTRAINED_DEMO, "phantom": mark == PHANTOM_DEMO, "trial": mark == TRIAL_RUN_MARK}


def model_caveat(predictor: Predictor) -> str:
    """The bundle's caveat of every grade of a batch: said once, in the first row of
    ``grades_with_notes.csv`` (:data:`NOTES_CSV`, :data:`app.batch_csv.ABOUT_ROW`), and at the end
    of each graded row's notes in ``grades_INCOMPLETE.csv``: the "no better than chance" sentence when it applies
    (:attr:`app.predict.Predictor.chance_warning`), the "Probabilities not calibrated" one when
    the bundle's calibration failed (:attr:`app.predict.Predictor.calibration_warning`: the row's
    P columns do not say how likely a grade is), then :attr:`app.predict.Predictor.caveat`
    (e.g. "Trained on phantom images (procedural stand-ins, not patient data): this grade says
    nothing about a real eye. Research software, not a medical device."), after the grades it
    never found out of fold (:func:`never_found_words`)."""
    chance = predictor.chance_warning
    never = never_found_words(predictor.metadata, predictor.grade_names)
    return " ".join(x for x in ((chance.rstrip(".") + ".") if chance else "",
                                predictor.calibration_warning or "", never, predictor.caveat) if x)


def most_likely_grade(probs: Any) -> int:
    """The most likely grade of probabilities ``(K,)``: their argmax (the first of equal
    maxima), ``details["most_likely_grade"]``; the grades tied with it as the page shows the
    probabilities are :func:`drac_ssl.figures.tied_grades` (the notes CSV names every tied grade,
    :func:`app.batch_csv.most_likely_cell`)."""
    return int(np.argmax(np.asarray(probs, dtype=np.float64)))


def milder_than_most_likely(probs: Any, grade: int) -> bool:
    """Whether the ``grade`` shown is milder than the most likely grade of ``probs`` ``(K,)`` at
    the precision shown: milder than every grade tied for the largest there
    (:func:`drac_ssl.figures.tied_grades`, the one tie rule; one grade when none ties), so a tie
    between two more severe grades warns too (ICDR 5 / 5 / 10 / 40 / 40 % with grade 2 shown), a
    grade shown that ties with the largest does not (0.449 / 0.451 / 0.10 with grade 0 shown: both
    45%, "equally likely"). ``details["milder_than_most_likely"]``: the expected grade cut at the
    thresholds tuned for overall agreement (kappa) often falls short of a more severe most likely
    grade, never the other way on the default job (``bench/results/ensemble_grade.json``: the
    bundle's grades of the phantom test set, and the single fold models out of fold, by exact
    argmax). A fact of the probabilities alone: the page's ⚠ line and the batch's count
    (:func:`milder_warned`) also leave out an image not reliably gradable and a bundle whose
    calibration failed or that is untrained."""
    return min(tied_grades(probs)) > int(grade)


def milder_warned(probs: Any, grade: int, reasons: list[str], predictor: Predictor) -> bool:
    """Whether the page warns (⚠) that the ``grade`` shown is milder than the most likely one
    and the batch summary counts the image: :func:`milder_than_most_likely`, unless ``reasons``
    (:func:`unreliable_reasons` of the image's doubts) make it not reliably gradable (its
    heading says there is no grade to read; the Borderline line is hidden for the same reason,
    :func:`shown_borderline`), the bundle's calibration failed (its percentages do not say which
    grade is most likely) or it is an untrained demo bundle (its thresholds were fitted on
    nothing). Where it does not warn, the plain decision line says what the percentages show."""
    return (not reasons and not predictor.calibration_warning and not predictor.untrained
            and milder_than_most_likely(probs, grade))


def referral_rule(predictor: Predictor) -> bool:
    """Whether the grade is a two-grade bundle's referral rule (a classification head, one
    threshold on P(grade 1); or any head whose referral cut decides the grade,
    ``finetune.referral_target``): :func:`drac_ssl.grading.image_notes.decision_words` then names
    that threshold, a sentence the milder-grade warning must not replace."""
    if _deciding_referral(predictor) is not None:
        return True
    return (len(predictor.class_names) == 2 and not predictor.regression
            and len(getattr(predictor.bundle.calibration, "thresholds", ())) == 1)


def _deciding_referral(predictor: Predictor) -> Any:
    """The bundle's referral cut when it decides the grade (two grades and a
    ``finetune.referral_target`` cut: :attr:`drac_ssl.grading.model.Calibration.referral_decides`),
    else None (a bundle built before the setting, or without it, has none)."""
    cal = predictor.bundle.calibration
    return cal.referral if getattr(cal, "referral_decides", False) else None


MILDER_MORE = ("the Model card tab says more: how often such a rule found the most severe grade in "
               "a test")
"""Where the page sends a reader of the milder-grade warning (:func:`milder_words`,
:func:`milder_count_words`): the model card's sentence on it
(:func:`drac_ssl.grading.bundle._milder_card_words`), in the page itself. It named a file of the
repository, "docs/app.md, "Grade shown and most likely grade"", that a clinician using the app
cannot open (an accessibility review)."""


def milder_words(probs: Any, grade: int, names: list[str], folds: int, regression: bool = False) -> str:
    """The warning said under a grade that is milder than the most likely one
    (:func:`milder_than_most_likely`), "" when it is not: the most likely grade and its
    probability (every grade tied for it at the precision shown, named in grade order with
    :func:`drac_ssl.figures.tie_words`: "The model's most likely grades, 3 Severe NPDR and 4 PDR
    (40% each), are more severe than the grade shown, 2 Moderate NPDR (10%)."), the grade shown
    and its, and why they differ. ``probs`` ``(K,)`` the shown
    probabilities, ``names`` the K grade names as printed, ``folds`` the bundle's fold models,
    ``regression`` a regression head (its score, not the expected grade)."""
    if not milder_than_most_likely(probs, grade):
        return ""
    tied, g = tied_grades(probs), int(grade)
    score = "the model's score" if regression else "the model's overall score, which weighs all grades"
    mean = f" (the mean of its {folds} fold models)" if folds > 1 else ""
    outputs = "single fold models' out-of-fold outputs" if folds > 1 else "the out-of-fold outputs"
    why = (f"The grade shown cuts {score}{mean}, at thresholds tuned for the best overall agreement "
           f"with the reference grades on {outputs}; that rule often gives a milder grade than the "
           f"most likely one")
    shown = percent_texts(probs)  # the page's one precision, as its Probabilities line
    graded = [f"{k} {names[k]}" for k in tied]
    if len(tied) > 1:  # tied above the grade shown: name them all, as the Borderline line does
        likely = (f"The model's most likely grades, {', '.join(graded[:-1])} and {graded[-1]} "
                  f"({tie_words(probs, tied)}), are more severe than")
    else:
        likely = f"The model's most likely grade is {graded[0]} ({shown[tied[0]]}), more severe than"
    return (f"⚠ **{likely} the grade shown, {g} {names[g]} ({shown[g]}).** {why} "
            f"({MILDER_MORE}).")


def _milder_lines(pred: Prediction, predictor: Predictor, reasons: list[str]) -> list[str]:
    """:func:`milder_words` of one result and a blank line, in place of the plain decision line
    (:func:`_decision_lines`, which would name the most likely grade a second time); [] where the
    page does not warn (:func:`milder_warned`: not milder than every grade tied for the
    largest, an image not reliably gradable by ``reasons``, a failed calibration, an untrained demo bundle), so
    that the plain line says it. A two-grade bundle's referral rule (:func:`referral_rule`)
    keeps its own sentence, the threshold against P(grade 1), marked ⚠ (a review: the generic
    words replaced "P(referable) 0.600 is below the referral threshold 0.700, so ...")."""
    if not milder_warned(pred.probs, pred.grade, reasons, predictor):
        return []
    if referral_rule(predictor):
        plain = _decision_lines(pred, predictor)
        return [f"⚠ {plain[0]}", *plain[1:]] if plain else []
    words = milder_words(pred.probs, pred.grade, [md_words(n) for n in predictor.grade_names],
                         len(predictor.bundle.models), predictor.regression)
    return [words, ""] if words else []


def milder_count_words(n_milder: int, n_good: int, predictor: Predictor) -> str:
    """The batch summary's count of graded images whose grade is milder than their most likely
    one (:func:`milder_warned`, as under a single result), "" for none; a two-grade bundle's
    referral rule (:func:`referral_rule`) is said as a threshold on P(grade 1)."""
    if not n_milder:
        return ""
    if (cut := _deciding_referral(predictor)) is not None:
        why = (f"the grade is P({predictor.grade_names[1]}) against the referral cut set for {cut.words()} "
               f"on the out-of-fold outputs (finetune.referral_target)")
    elif referral_rule(predictor):
        why = (f"the grade is P({predictor.grade_names[1]}) against the referral threshold tuned on the "
               f"out-of-fold outputs, which need not be 0.5")
    else:
        why = ("the grade is the model's overall score cut at thresholds tuned for the best overall "
               "agreement with the reference grades, which often gives a milder grade than the most "
               "likely one")
    shown = (f"{n_milder} of the {n_good} graded image{'' if n_good == 1 else 's'} "
             + ("is shown milder than its" if n_milder == 1 else "are shown milder than their"))
    return f"⚠ **{shown} most likely grade** (the notes column names it): {why} ({MILDER_MORE})."


def _decision_lines(pred: Prediction, predictor: Predictor, likely_said: bool = False) -> list[str]:
    """A plain sentence under the grade when it is not the single most likely grade
    (:func:`drac_ssl.grading.image_notes.decision_words`, the batch's notes and the export's
    notes file say the same; without percentages when the bundle's calibration failed; the
    grade names as the page's words are, :func:`md_words`), then a blank line; [] when
    the grade shown is the single most likely grade, or the decision is the most probable grade
    (``argmax``). ``likely_said``: the borderline line above has named the close grades, so the
    sentence does not name them again. The rule itself is :func:`decision_rule`, in the details JSON."""
    words = _decision_words(pred.probs, pred.grade, predictor, [md_words(n) for n in predictor.grade_names],
                            likely_said)
    return [words, ""] if words else []


def _decision_words(probs: Any, grade: int, predictor: Predictor,
                    names: list[str] | None = None, likely_said: bool = False) -> str:
    """:func:`drac_ssl.grading.image_notes.decision_words` of one graded image (``probs``
    ``(K,)``, the ``grade`` shown) under ``predictor``'s decision, without percentages when
    its calibration failed (:attr:`app.predict.Predictor.calibration_warning`); ``names``: the
    grade names as printed (default: as they are, for the batch's notes)."""
    cal = predictor.bundle.calibration
    return decision_words(probs, int(grade), names or predictor.grade_names, cal.decision,
                          predictor.regression, getattr(cal, "thresholds", ()),
                          calibrated=predictor.calibration_warning is None, likely_said=likely_said,
                          referral=_deciding_referral(predictor))


def decision_rule(predictor: Predictor) -> str:
    """How the bundle decides the grade, in technical words, for the details JSON
    (``details["decision"]``; the page's result says it in plain words, :func:`_decision_lines`):
    :attr:`app.predict.Predictor.decision_rule`, which each :class:`app.predict.Prediction` also
    carries (``decision``)."""
    return predictor.decision_rule


def _referable_lines(pred: Prediction, predictor: Predictor) -> list[str]:
    """P(referable) beside the grade, when the bundle records a referable cut (its
    cross-validation reported referable DR), with what that figure did out of fold; [] else.
    When it carries no information (:attr:`app.predict.Predictor.referable_informative`: its
    out-of-fold referable AUC's 95% CI does not lie above 0.5, or is not recorded), the figure
    is left out and the line says why. Two grades (the cut is grade 1, the grade itself): P(grade 1)
    against the bundle's referral threshold (the rule the grade shown follows), then the
    out-of-fold AUC and the sensitivity and specificity at the cross-fitted thresholds, with
    their 95% CIs where the bundle records them. More grades: the sum of the referable grades'
    whole percentages as the Probabilities line shows them (0.496 / 0.168 / 0.168 / 0.168 from
    grade 1: 17% + 17% + 17% = 51%, where the probability rounded alone, 0.504, said 50%), never
    contradicting them where equal probabilities make them add up past 100: ``99%``, not ``>99%``,
    beside a milder grade shown 1% or more (:func:`drac_ssl.figures.referable_percent_text`);
    ``details["referable"]["probability"]`` keeps the exact figure.

    With a referral cut (the bundle calibration's ``referral``, ``finetune.referral_target``):
    two grades, the cut is the rule the grade follows, said with the target it was set for and
    the sensitivity and specificity it reached at the cross-fitted cuts; more grades, the line
    adds **Refer** / **Not referred** by the cut, with its target and cross-fitted figures, and
    says so when the grade shown is on the other side of ``r`` (the grades keep their rule)."""
    if pred.referable is None:
        return []
    r = int(pred.referable["from_grade"])
    cv = (predictor.metadata.get("cv_metrics") or {}).get("referable") or {}
    num = figure_text
    two = len(predictor.grade_names) == 2
    what = (f"P(referable: grade 1, {md_words(predictor.grade_names[1])})" if two else
            f"P(referable: grade ≥ {r}, {md_words(predictor.grade_names[r])} or worse)")
    if not pred.referable.get("informative", True):
        why = pred.referable.get("reason") or predictor.referable_reason
        return ["", f"{what}: not shown. {md_words(why)}."]
    referral = cv.get("referral") if isinstance(cv.get("referral"), dict) else None
    cut = getattr(predictor.bundle.calibration, "referral", None)
    if two:
        figure, rule = _referral_rule(pred, predictor)
        by_cut = cut is not None and referral is not None
        where = "at the cross-fitted referral cuts" if by_cut else "at the cross-fitted thresholds"
        return ["", f"{what} **{figure}**{rule} "
                    f"(out of fold: AUC {figure_text(cv.get('auc'))}{ci_words(cv.get('auc_ci95'))} of "
                    f"this probability; {where} "
                    f"{screening_figures_words(referral if by_cut else cv)}"
                    f"{_short_of_target(referral) if by_cut else ''}). "
                    f"Research software: not a referral decision. {REFERABLE_SCOPE_WORDS}"]
    refer = ""
    if cut is not None and pred.referable.get("referred") is not None:  # finetune.referral_target
        side = "at or above" if pred.referable["referred"] else "below"
        p = float(pred.referable["probability"])
        digits = _digits_apart(p, cut.cut)
        reached = (f"; out of fold, at the cross-fitted cuts, {screening_figures_words(referral)}"
                   + _short_of_target(referral) if referral is not None else "")
        refer = (f" **{'Refer' if pred.referable['referred'] else 'Not referred'}**: P(referable) "
                 f"{p:.{digits}f} is {side} the referral cut {cut.cut:.{digits}f}, set for "
                 f"{cut.words()} on the out-of-fold outputs (finetune.referral_target{reached}).")
        if (int(pred.grade) >= r) != bool(pred.referable["referred"]):  # the two rules disagree
            g = int(pred.grade)
            refer += (f" The grade shown, {g} {md_words(predictor.grade_names[g])}, follows the grades' own "
                      f"rule, which {'calls it' if g >= r else 'does not call it'} referable; the referral "
                      f"cut is the screening rule.")
    return ["", f"P(referable: grade ≥ {r}, {md_words(predictor.grade_names[r])} or worse) "
                f"**{referable_percent_text(pred.probs, r)}**, the sum of the "
                f"percentages shown for those grades "
                f"(out of fold: AUC {num(cv.get('auc'))} of this probability; the grades' decision, "
                f"grade ≥ {r}: sensitivity {num(cv.get('sensitivity'))}, specificity "
                f"{num(cv.get('specificity'))}).{refer} Research software: not a referral decision. "
                f"{REFERABLE_SCOPE_WORDS}"]


def _digits_apart(p: float, t: float) -> int:
    """The decimals (3 to 6) at which ``p`` and ``t`` print apart: 3, more where 3 would print
    them equal (0.51195 against 0.512: 5), as
    :func:`drac_ssl.grading.image_notes.decision_words` prints them."""
    digits = 3
    while digits < 6 and f"{p:.{digits}f}" == f"{t:.{digits}f}":
        digits += 1
    return digits


def _short_of_target(referral: dict[str, Any] | None) -> str:
    """``, short of its target (sensitivity >= 0.90) there`` when the cross-fitted referral cuts
    missed their target out of fold (metrics.json's ``referable.referral.target_met_out_of_fold``
    false: a cut chosen on some images need not reach its level on others), else ""."""
    if not isinstance(referral, dict) or referral.get("target_met_out_of_fold") is not False:
        return ""
    return f", **short of its target** ({referral_words(referral)}) there"


def _referral_rule(pred: Prediction, predictor: Predictor) -> tuple[str, str]:
    """A two-grade bundle's P(grade 1) as printed, and the rule that gave the grade shown,
    after the figure: ``, below the referral threshold 0.512, so grade 0`` / ``, at or above
    ...`` (a classification head cut at its one threshold), ``, above 0.5 (the more probable
    grade is given)`` (``argmax``); "" for a regression head (its threshold cuts its score,
    not this probability); a referral cut that decides the grade (``finetune.referral_target``,
    any head): ``, below the referral cut 0.231 set for sensitivity >= 0.90 on the out-of-fold
    outputs (finetune.referral_target), so grade 0``. The figure and the threshold (0.5 under ``argmax``) with the same
    decimals, 3, more where 3 would print them equal (P 0.51195 against 0.512: ``0.51195,
    below the referral threshold 0.51200``, never ``0.512, below ... 0.51200``)."""
    p, grade = float(pred.referable["probability"]), int(pred.grade)
    cal = predictor.bundle.calibration
    if (cut := _deciding_referral(predictor)) is not None:  # finetune.referral_target: the cut decides
        digits = _digits_apart(p, cut.cut)
        side = "at or above" if grade == 1 else "below"
        return f"{p:.{digits}f}", (f", {side} the referral cut {cut.cut:.{digits}f} set for {cut.words()} "
                                   f"on the out-of-fold outputs (finetune.referral_target), so grade {grade}")
    if cal.decision == "argmax":
        digits = _digits_apart(p, 0.5)
        return (f"{p:.{digits}f}", f", {'above' if grade == 1 else 'at or below'} 0.5 (the more "
                                   f"probable grade is given)")
    if predictor.regression or len(cal.thresholds) != 1:
        return f"{p:.3f}", ""
    t = float(cal.thresholds[0])
    digits = _digits_apart(p, t)  # 0.5118 against 0.512: not "0.512, below the threshold 0.512"
    side = "at or above" if grade == 1 else "below"
    return f"{p:.{digits}f}", f", {side} the referral threshold {t:.{digits}f}, so grade {grade}"


def _data_words(meta: dict[str, Any]) -> str:
    """The training data in a few words: its kind, the file or folder it came from, and how
    many labelled images (``medmnist (retinamnist_public.npz), 1200 labelled images``)."""
    data = meta.get("data") or {}
    kind = str(data.get("kind") or "unknown")
    root = str(data.get("root") or "")
    where = f" ({Path(root).name})" if root and kind != "phantom" else ""
    n = data.get("n_train")
    return f"{kind}{where}" + (f", {n} labelled images" if isinstance(n, int) else "")


def _rare_grades_line(meta: dict[str, Any], names: list[str] | None = None) -> str:
    """A line for the result when the model rarely finds some grades out of fold (the model
    card's per-grade table): a grade other than those does not rule them out. ``names``: the
    grade names as the page says them (:attr:`app.predict.Predictor.grade_names`: ICDR's
    ``Severe NPDR``, not the table's recorded ``Severe``); the table's own names without them.
    A grade never found (0 of its images) is not here: :func:`never_found_words` says it, in
    full-size print."""
    from drac_ssl.grading.bundle import rare_grades

    rare = [r for r in rare_grades(meta.get("per_grade") or []) if r.get("found") != 0]
    if not rare:
        return ""
    def said(r: dict[str, Any]) -> str:
        return md_words(grade_said(r, names))

    shown = ", ".join(f"{said(r)} ({r['found']} of {r['images']})" for r in rare)
    return (f"<small>Out of fold this model rarely found {shown}: a grade other than "
            f"{'that one' if len(rare) == 1 else 'these'} does not rule "
            f"{'it' if len(rare) == 1 else 'them'} out (model card).</small>")


def _resize_words(spec: Any) -> str:
    """What is done to an upload before the model reads it, in order: the crop to the fundus
    disc (``data.fundus_crop``), ``resize to 512 px as the training cache``, the Graham filter
    (``data.graham``), ``then to the model's 224 px``; one size when the cached source size
    and the model size are the same (a 28 px RetinaMNIST model)."""
    steps = ["crop to the fundus disc and pad to a square"] if spec.fundus_crop else []
    steps.append(f"resize to {spec.image_size} x {spec.image_size} px" if spec.source_size == spec.image_size
                 else f"resize to {spec.source_size} px as the training cache")
    if spec.graham:
        steps.append("Graham filter (the local mean subtracted"
                     + (", grey outside 90% of the disc" if spec.graham_mask else "") + ")")
    if spec.source_size != spec.image_size:
        steps.append(f"then to the model's {spec.image_size} px")
    return ", ".join(steps)


def _image_caption(predictor: Predictor) -> str:
    """The caption of the page's image: the upload as decoded, in the model's channels (the
    picture is shown at up to :data:`DISPLAY_MAX_SIDE` px, sharper than what the model reads:
    the result says the model's input size, :func:`model_view_words`), and what the
    preprocessing does to it when it crops or filters it (the heatmap beside it is placed on
    this image, 0 outside the part the model read)."""
    spec = predictor.bundle.spec
    depth = f"8-bit {'grey' if predictor.channels == 1 else 'RGB'}"
    done = (["cropped to the fundus disc where it finds one on a dark surround, and padded to a "
             "square"] if spec.fundus_crop else []) + (
        ["Graham-filtered"] if spec.graham else [])
    seen = f"the model sees it at {spec.image_size} x {spec.image_size} px"
    if not done:
        return f"Uploaded image ({depth}, as the model's preprocessing reads it; {seen})"
    return (f"Uploaded image ({depth}; the model reads it {' and '.join(done)}: "
            f"{_resize_words(spec)}; {seen})")


LESION_SIDE = MIN_SIDE
"""Below this model input size (px a side) the result says that individual lesions are not
resolved (:func:`model_view_words`): the size below which the app's UW-OCTA size warning says
the vessels of an upload are not resolved (:data:`app.inputs.MIN_SIDE`)."""


def model_view_words(predictor: Predictor) -> str:
    """One sentence of the result: the size at which the model sees every image, whatever the
    upload's size ("The model sees this image at 64 x 64 px, whatever its size: at this size
    individual lesions are not resolved, only the image's coarse pattern."; the second part for
    an input below :data:`LESION_SIDE` px). A review: the page showed a sharp 768 px picture
    labelled "as the model reads it" where the model read 64 px."""
    size = predictor.bundle.spec.image_size
    text = f"The model sees this image at {size} x {size} px, whatever its size"
    if size < LESION_SIDE:
        return f"{text}: at this size individual lesions are not resolved, only the image's coarse pattern."
    return f"{text}."


def _heatmap_choices(predictor: Predictor) -> list[tuple[str, str]]:
    """The *Heatmap for* choices, (label, value): the shown grade (``"-1"``) and every grade
    (``"0"`` .. ``"K-1"``), or, for a regression head (one output, the same map whatever grade
    is asked for), its score alone (``"-1"``). The values are strings: gradio describes a
    radio to API clients as ``type: string`` whatever its values are, and a client that sent
    ``'-1'`` as shown was refused by a radio of ints (a load test: every request); the
    handler turns them back into grades (:func:`_explain_choice`), and the radio also takes a
    whole number (:func:`_accept_whole_number_choice`), as the API took before."""
    if predictor.regression:
        return [("the predicted grade score (regression head: one map)", "-1")]
    return [("the shown grade", "-1")] + [(f"{k} {n}", str(k)) for k, n in enumerate(predictor.grade_names)]


def _accept_whole_number_choice(radio: gr.Radio) -> None:
    """Let ``radio`` (string values, :func:`_heatmap_choices`) take a whole number too: ``2``
    as ``"2"``, so that a script written for the radio of ints it had before (``-1``) still
    works. Anything else (``True``, ``1.5``, ``"PDR"``) goes to gradio's check as it is."""
    plain = radio.preprocess

    def preprocess(payload: Any) -> Any:
        if isinstance(payload, int | np.integer) and not isinstance(payload, bool):
            payload = str(int(payload))
        return plain(payload)

    radio.preprocess = preprocess  # type: ignore[method-assign]


READ_BOX_WORDS = "The model read only the fundus disc's box, so there is no heat outside it."
"""What the page's heatmap line and the overlay's alt text say of a map over a fundus disc's box
(:func:`_heatmap_markdown`, :func:`image_alt_texts`): the rest of the image is cold because the
model never read it, not because it raised no score. Both decide it by one condition,
:func:`app.gradcam.reads_box_only` of the box read and the map's shape, whether or not a place is
named (an empty map, NaN heat: a review found the page saying it and the alt text not)."""

HEAT_NOT_FINITE_WORDS = "Its heat is not finite (a fault of the model), so no region of it is named."
"""What the page's heatmap line and the overlay's alt text say of a map with NaN or infinite heat
(:func:`app.gradcam.strongest_heat` gives no place for it; the map is not empty either)."""


HEATMAP_WITHHELD = ("this image is not reliably gradable, so a map of where the model looked "
                    "would explain a grade that should not be read")
"""Why an image not reliably gradable gets no heatmap (:func:`heatmap_withheld`): the page's line
(:func:`_heatmap_markdown`) and the details JSON's ``heatmap.none`` (a clinician trial: a map was
drawn and described under the heading "Not reliably gradable")."""


def heatmap_withheld(pred: Prediction) -> bool:
    """Whether the page withholds the heatmap Grad-CAM made (or would have made) of ``pred``: its
    image is not reliably gradable (:attr:`app.predict.Prediction.not_reliably_gradable`), so no
    picture, no description and no region named (:data:`HEATMAP_WITHHELD`). Grad-CAM off: False."""
    return bool(pred.not_reliably_gradable) and (pred.cam_skipped or pred.heatmap is not None or pred.no_location)


def _heatmap_markdown(pred: Prediction, predictor: Predictor) -> str:
    """What the heatmap shows, in plain words: what its colour means (which grade's score,
    relative to this map's maximum), which score it explains when the grade was chosen by
    another (:meth:`app.predict.Predictor.heatmap_score_note`), that it averages the flipped
    copies as the grade does (:attr:`app.predict.Prediction.cam_views`), where it is strongest (a 3 x 3
    region of the image; for a flat map, that no region stands out, and for a hot majority over
    a cooler rest, the share the heat is spread over: :data:`app.gradcam.STANDS_OUT_SHARE`; for
    NaN or infinite heat, :data:`HEAT_NOT_FINITE_WORDS`; over a fundus disc's box,
    :data:`READ_BOX_WORDS`, by the alt text's condition), its resolution ("7 × 7 cells, each about 146 px of this image"; a
    coarse map says what it cannot tell), whether it is empty, and the standing caveat
    (:func:`heatmap_page_caveat`). An untrained demo bundle's map is said to mean nothing, and
    no region of it is named. How it was computed (Grad-CAM, layer, cells, folds) is in the
    details JSON, :func:`heatmap_method` (a review: the page's line was engineering words). At the
    page's normal text size, caveat included (a clinician trial: it was small print). None, with
    the one-line reason :data:`HEATMAP_WITHHELD`, for an image not reliably gradable."""
    if heatmap_withheld(pred):
        return f"Heatmap: none: {HEATMAP_WITHHELD}."
    if pred.no_location:
        return (f"Heatmap: none. Grad-CAM at `{predictor.target_layer}` sees this model's "
                f"{predictor.bundle.spec.image_size} px input as a single 1 × 1 cell, so it cannot "
                f"show where the model looked (any map would be flat). The grade rests on the "
                f"image as a whole.")
    if pred.heatmap is None or pred.explained is None:
        return "Heatmap: off."
    if pred.explains == "score":
        what = "the predicted grade score (regression head: regions that push the grade up)"
        plain = "a higher grade (this model gives one score, not one per grade)"
    else:
        what = plain = f"grade {pred.explained} ({md_words(predictor.grade_names[pred.explained])})"
    if predictor.untrained:  # app.demo_bundle's random weights: nothing to locate
        return (f"Heatmap: this is an untrained demo model (random weights), so the map "
                f"means nothing: no part of it is evidence for {plain} or for anything else "
                f"({pred.resolution}).")
    where = pred.strongest
    located = (f" {strongest_words(where)}" if where is not None
               else f" {HEAT_NOT_FINITE_WORDS}" if not pred.heatmap_empty else "")
    # the alt text's condition (image_alt_texts): the box read, whether or not a place is named
    box = pred.geometry.box if pred.geometry is not None else None
    read = f" {READ_BOX_WORDS}" if reads_box_only(box, pred.heatmap.shape) else ""
    note = predictor.heatmap_score_note(pred.explains)
    flips = (f" Like the grade, it averages the image and its {pred.cam_views - 1} flipped copies (each "
             f"copy's map flipped back)." if pred.cam_views and pred.cam_views > 1 else "")
    resolution = "" if pred.coarse else f" Resolution: {pred.resolution}."
    views = pred.cam_views or len(predictor.map_flips)  # the views this map averaged (the grade's)
    text = (f"Heatmap: the more a part of the image raised the model's score for {plain}, the "
            f"more strongly it is coloured, from dark purple to yellow; uncoloured parts raised it "
            f"little or not at all. A white solid line outlines the part that holds this map's "
            f"maximum, where the heat is within 10% of it, a white dotted line any other part within "
            f"10% of it, a white dashed line the parts at half of it or more. Colours are relative to "
            f"this map's maximum.{' ' + note if note else ''}{flips}"
            f"{located}{read}{resolution} {heatmap_page_caveat(pred.cam_cells, predictor.head, views)} How it is computed: "
            f"details "
            f"(JSON), heatmap.method.")
    if pred.coarse and pred.cam_cells:
        text += (f"\n\n**A coarse map:** {coarse_words(pred.cam_cells, pred.frame)}; it is drawn as "
                 f"its cells. Do not read a coloured cell as a located lesion.")
    if pred.heatmap_empty and pred.heat_only_in_padding:
        text += ("\n\n**The heatmap is empty over the image:** the model's positive evidence lies only "
                 "in the padding the preprocessing added around the fundus disc, not in the image itself.")
    elif pred.heatmap_empty and pred.explains == "score":
        text += ("\n\n**The heatmap is empty:** no region pushes the predicted grade up at this layer: "
                 "every region lowers the score.")
    elif pred.heatmap_empty:
        text += f"\n\n**The heatmap is empty:** no region raises the score of {what}; at this layer "
        if pred.explained == 0:
            text += (f"all evidence counts against it (common for *{md_words(predictor.grade_names[0])}*, whose "
                     f"evidence is the absence of lesions).")
        else:
            text += "all evidence counts against it: the map gives this grade no support to point at."
        text += " Pick another grade under *Heatmap for* to see its evidence."
    return text


def heatmap_method(pred: Prediction, predictor: Predictor) -> str:
    """How the heatmap was computed, in technical words, for the details JSON
    (``details["heatmap"]["method"]``; the page says what the colour means in plain words,
    :func:`_heatmap_markdown`): "Grad-CAM of grade 0 (Normal) at backbone.layer4, 2 × 2 cells for
    the 64 px model input, of the ensemble's mean logit over 5 fold model(s), on the identity
    view and its 3 flipped views, each view's map flipped back onto the image, as the grade averages
    them: the signed maps averaged, then ReLU, then scaled once to [0, 1] by this map's
    maximum (0.031 before scaling), from the prediction's own forward pass (one backward through
    the heads), stretched over the image."; "" without a heatmap."""
    if pred.heatmap is None or pred.explained is None:
        return ""
    cells = f"{pred.cam_cells[0]} × {pred.cam_cells[1]} cells" if pred.cam_cells else "?"
    if pred.explains == "score":
        what = "the predicted grade score (regression head: regions that push the grade up)"
        mean = "mean score"
    else:
        what = f"grade {pred.explained} ({predictor.grade_names[pred.explained]})"
        mean = "mean logit"
    views = (f"on the identity view and its {pred.cam_views - 1} flipped views, each view's map flipped back "
             f"onto the image, as the grade averages them" if pred.cam_views and pred.cam_views > 1
             else "on the identity view (no flip TTA)")
    raw = f" ({pred.cam_raw_max:.2g} before scaling)" if pred.cam_raw_max is not None else ""
    how = (", from the prediction's own forward pass (one backward through the heads)"
           if predictor.one_pass_gradcam else " (one forward and backward per fold model)")
    spec = predictor.bundle.spec
    cropped = spec.fundus_crop and pred.geometry is not None and pred.geometry.cropped
    placed = (", put back over the fundus disc's box of the image (the part the model read; "
              "no heat outside it)" if cropped else
              ", put back over the image (not cropped: no disc found, or no dark surround around "
              "it, as the warning says; the whole image was padded to a square)"
              if spec.fundus_crop else ", stretched over the image")
    drawn = "; drawn as its cells (nearest-neighbour)" if pred.coarse else ""
    return (f"Grad-CAM of {what} at {predictor.target_layer}, {cells} for the {spec.image_size} px "
            f"model input, of the ensemble's {mean} over {len(predictor.bundle.models)} fold "
            f"model(s), {views}: the signed maps averaged, then ReLU, then scaled once to [0, 1] "
            f"by this map's maximum{raw}{how}{placed}{drawn}.")


def image_alt_texts(details: dict[str, Any], predictor: Predictor) -> tuple[str, str]:
    """The alt text of the page's two pictures ``(original, overlay)`` from a result's details
    JSON: the image's name and size and its grade (said as the model's output, after "not reliably
    gradable" and its reasons, for such an image, and after "untrained demo" for an untrained demo
    bundle's grade (``phantom-trained demo`` for a bundle trained on phantom images,
    :func:`demo_mark`), both in :func:`grade_heading`'s order: ``untrained demo; model output: grade 1
    (NPDR)``); what the heatmap explains and where it is
    strongest (:func:`app.gradcam.strongest_words`, or that no region stands out; a coarse map
    says what it cannot tell; a map over the fundus disc's box alone (``image_box`` not the
    whole of ``shape``: :func:`app.gradcam.reads_box_only`, the page's condition), that there is
    no heat outside it, :data:`READ_BOX_WORDS`, as the page says, named place or not), or that
    it is empty, or, for a map with NaN or infinite heat, that no region of it is named
    (:data:`HEAT_NOT_FINITE_WORDS`, as the page says).
    ``""`` for a picture that is not shown (an error, no heatmap)."""
    size = details.get("image_size")
    if "error" in details or not size:
        return "", ""
    reasons = details.get("not_reliably_gradable") or []
    verdicts = [*([f"not reliably gradable ({'; '.join(reasons)})"] if reasons else []),
                *([demo_mark(predictor)] if demo_mark(predictor) else [])]
    original = (f"The uploaded image {details.get('name', '')}, {size[0]} × {size[1]} px, "
                + (f"{'; '.join(verdicts)}; model output: grade " if verdicts else "graded ")
                + f"{details.get('grade')} ({_shown_grade_name(details, predictor)}).")
    heat = details.get("heatmap") or {}
    if "shape" not in heat or heat.get("shape") is None:
        return original, ""
    if heat.get("explains") == "score":
        what = "the predicted grade score"
    else:
        g = int(heat.get("explains_grade", details.get("grade", 0)))
        what = f"grade {g} ({predictor.grade_names[g]})"
    if predictor.untrained:  # as the page says: random weights, no region to name
        return original, (f"Grad-CAM heatmap of {what} from an untrained demo model (random "
                          f"weights): it means nothing.")
    where = heat.get("strongest")
    overlay = (f"Grad-CAM heatmap of {what} over the image, relative to its own maximum. "
               f"{strongest_words(where)}"
               if where else f"Grad-CAM heatmap of {what}: empty, no region of the image raises its score."
               if heat.get("empty", True) is not False
               # not empty, yet no place: NaN or infinite heat (app.gradcam.strongest_heat)
               else f"Grad-CAM heatmap of {what}. {HEAT_NOT_FINITE_WORDS}")
    box = heat.get("image_box")
    if reads_box_only(box, heat["shape"]):
        overlay += f" {READ_BOX_WORDS}"  # as the page says (the same condition): only the disc's box was read
    if where and heat.get("coarse") and heat.get("meaning"):  # as the page says beside the picture
        overlay += f" A coarse map of {heat['meaning']}."
    return original, f"{overlay} {HEATMAP_CAVEAT}"


def _error_markdown(message: str) -> str:
    """``message``: markdown made safe (:func:`_named_text`, :func:`md_text`), as are the next two's.
    Headed ``##``, as the result's ``## Result`` heading is, one level under the page's ``#``
    title (``###`` skipped a level: an accessibility review); so are the next three."""
    return f"## ⛔ Cannot grade this file\n{message}"


def _model_error_markdown(message: str) -> str:
    """A fault of the model or the app on an image that was read fine: not blamed on the file."""
    return f"## ⛔ The model failed on this image\n{message}"


def _choice_error_markdown(message: str) -> str:
    return f"## ⛔ Cannot use this heatmap choice\n{message}"


def _explain_choice(predictor: Predictor, explain: Any) -> int | None:
    """The grade the heatmap explains from the page's (or an API client's) ``explain``, the
    radio's string (``"-1"``, ``"2"``) or a whole number (``-1``, ``2``): None for the shown
    grade (None or -1); raises InputRejected, saying what is accepted, for
    anything else than an offered choice (:func:`_heatmap_choices`)."""
    if explain is None:
        return None
    offered = [int(value) for _, value in _heatmap_choices(predictor)]
    value = None
    if isinstance(explain, int | np.integer) and not isinstance(explain, bool):
        value = int(explain)
    elif isinstance(explain, float) and explain.is_integer():
        value = int(explain)
    elif isinstance(explain, str) and explain in {str(k) for k in offered}:
        value = int(explain)  # the radio's own values (strings)
    if value not in offered:
        accepted = ("-1 (this regression model's heatmap explains its predicted grade score, "
                    "not one grade)" if predictor.regression else
                    f"-1 (the shown grade) or a grade 0..{len(predictor.grade_names) - 1}")
        raise InputRejected(f"explain={explain!r} is not a heatmap choice: send {accepted}.")
    return None if value == -1 else value


def _busy_markdown(message: str) -> str:
    return f"{BUSY_START}: please try again\n{message}"


def _busy_details(exc: ServerBusy, name: str) -> dict[str, Any]:
    """The details JSON of a request refused by the full queue (``busy``: not an error of the
    file; ``retry_after_s``: a suggested wait)."""
    return {"error": str(exc), "busy": True, "retry_after_s": exc.retry_after_s, "name": name}


def bundle_shown_name(path: str | os.PathLike[str]) -> str:
    """The bundle folder as the page names it to every user: its last component only
    (``../srv/drac/bundle`` -> ``bundle``, ``runs/resume7/bundles/wide`` -> ``wide``), as
    :func:`shown_metadata` cuts the metadata's paths: where the server keeps it is not the
    viewer's business. The whole path stays in the server's start-up line. A path without a
    last component of its own (``.``) is named by the folder it resolves to."""
    name = Path(path).name
    if name in ("", ".", ".."):
        name = Path(os.path.abspath(path)).name
    return name or str(path)


def bundle_identity_words(identity: dict[str, Any]) -> str:
    """Which build of the bundle is served, for the banner after the folder's last name (which is
    ``bundle`` for every run's, :func:`bundle_shown_name`): ``built 2025-03-01T10:20:00+00:00,
    metadata.json SHA-256 3f2a9c1d0b7e``, from :attr:`drac_ssl.grading.bundle.Bundle.identity`
    (its ``created_utc`` as recorded, and the first 12 hex digits of ``sha256sum
    metadata.json``), the values every result's ``details["bundle"]`` carries. ``build time not
    recorded`` for a bundle without ``created_utc``; the digest is left out when the file could
    not be read."""
    created = identity.get("created_utc")
    digest = identity.get("metadata_sha256")
    return ", ".join([f"built {created}" if created else "build time not recorded",
                      *([f"metadata.json SHA-256 {digest}"] if digest else [])])


def _banner(predictor: Predictor) -> str:
    meta = predictor.metadata
    cv = meta.get("cv_metrics", {}) or {}
    qwk = cv.get("qwk")
    ci = cv.get("qwk_ci95") or [None, None]
    # the interval in the report's and the model card's words: one of width 0 (every
    # resample gave the same kappa) is "not meaningful", never a certainty
    perf = (f"cross-validated QWK {qwk:.3f} (95% CI {format_ci(ci[0], ci[1], cv.get('qwk_ci95_note'))}), "
            f"n = {cv.get('n')}"
            if isinstance(qwk, int | float) and None not in ci else "no cross-validated metrics")
    model = meta.get("model", {})
    parts = [
        "<div style='padding:8px 12px;border-radius:6px;background:#fff4e5;border:1px solid "
        "#f0b357;color:#5c3b00'><b>Research software — not a medical device.</b> Do not use "
        f"it to diagnose, grade or triage patients. {html.escape(scope_words(meta))}</div>",
    ]
    if meta.get("demo"):
        parts.append("<div style='margin-top:6px;padding:8px 12px;border-radius:6px;"
                     "background:#fdecea;border:1px solid #e57373;color:#7f1d1d'><b>"
                     f"{html.escape(str(meta['demo']))}.</b></div>")
    data_kind = (meta.get("data") or {}).get("kind")
    from drac_ssl.grading.bundle import (
        chance_warning,
        figure_caveats,
        mixed_phantom_words,
        pretraining_phantom_caveat,
    )

    chance = chance_warning(cv)  # the figures: in the technical section below
    plain_chance = chance_plain_words(predictor)
    if plain_chance:
        parts.append("<div style='margin-top:6px;padding:8px 12px;border-radius:6px;"
                     "background:#fdecea;border:1px solid #e57373;color:#7f1d1d'><b>"
                     f"{html.escape(plain_chance)}</b></div>")
    if data_kind == "phantom":
        parts.append("<div style='margin-top:6px;padding:8px 12px;border-radius:6px;"
                     "background:#fdecea;border:1px solid #e57373;color:#7f1d1d'><b>Trained on "
                     "phantom images</b> (procedural stand-ins, not patient data): the grades "
                     "say nothing about real eyes.</div>")
    elif mixed := mixed_phantom_words(meta.get("data") or {}):  # the result's caveat, of its grades
        parts.append("<div style='margin-top:6px;padding:8px 12px;border-radius:6px;"
                     "background:#fdecea;border:1px solid #e57373;color:#7f1d1d'><b>Trained on data "
                     f"with synthetic phantoms mixed in</b>: {html.escape(mixed)}; its grades come from "
                     "a model that learnt from synthetic images too.</div>")
    elif pool := pretraining_phantom_caveat(meta, grade="its grades"):  # labelled images real
        lead, rest = pool.split(": ", 1)
        parts.append("<div style='margin-top:6px;padding:8px 12px;border-radius:6px;"
                     "background:#fff4e5;border:1px solid #f0b357;color:#5c3b00'>"
                     f"<b>{html.escape(lead)}</b>: {html.escape(rest)}</div>")
    uncalibrated = predictor.calibration_warning  # report.md's and the model card's rule
    if uncalibrated:
        parts.append("<div style='margin-top:6px;padding:8px 12px;border-radius:6px;"
                     "background:#fff4e5;border:1px solid #f0b357;color:#5c3b00'>"
                     f"<b>{html.escape(uncalibrated)}</b></div>")
    if predictor.trial_run:  # report.md's "Read this first" line: in the technical section
        parts.append("<div style='margin-top:6px;padding:8px 12px;border-radius:6px;"
                     "background:#fdecea;border:1px solid #e57373;color:#7f1d1d'><b>"
                     f"{html.escape(TRIAL_RUN_PLAIN)}.</b></div>")
    technical = [f"<p style='margin:4px 0 0 0'>{html.escape(said)}.</p>"
                 for said in (chance.rstrip(".") if chance else "", predictor.trial_run) if said]
    technical.append(
        f"<p style='margin:4px 0 0 0'>Bundle <code>{html.escape(bundle_shown_name(predictor.path))}</code> "
        f"({html.escape(bundle_identity_words(predictor.bundle.identity))}): "
        f"{html.escape(str(model.get('arch', '?')))} + {html.escape(str(model.get('head', '?')))} head, "
        f"variant {html.escape(str(meta.get('variant', '?')))}, {len(predictor.bundle.models)} fold "
        f"model(s), {html.escape(perf)}; training data: {html.escape(_data_words(meta))}.</p>")
    # the model card's caveats of those figures: the variant won on them, the epochs chosen on them
    technical += [f"<p style='margin:2px 0 0 0'>{html.escape(said)}</p>" for said in figure_caveats(meta)]
    technical.append(f"<p style='margin:2px 0 0 0'>Every image: {html.escape(predictor.describe())}</p>")
    technical += [f"<p style='margin:2px 0 0 0'>Note: {html.escape(note)}</p>" for note in predictor.bundle_notes]
    parts.append(f"<details style='margin-top:6px;font-size:90%'><summary>{TECHNICAL_SUMMARY}</summary>"
                 + "".join(technical) + "</details>")
    return "\n".join(parts)


TECHNICAL_SUMMARY = "Technical details of this model (for its maintainers)"
"""The summary of the banner's collapsed section that holds the figures and settings behind its
plain lines (:func:`_banner`): the cross-validated kappa and AUC, the trial run's settings, the
bundle's build, head and folds."""

TRIAL_RUN_PLAIN = ("Research build, shortened training: its grades check that the software runs, "
                   "not how well it grades")
"""The banner's plain line for a trial run's bundle (:attr:`app.predict.Predictor.trial_run`,
whose settings, e.g. ``pretrain.epochs=1 set by --first-try``, go to its technical section)."""


def chance_plain_words(predictor: Predictor) -> str | None:
    """The plain line the page says of a bundle with no evidence of grading better than chance
    (:attr:`app.predict.Predictor.chance_warning`: its out-of-fold QWK's 95% CI reaches 0), None
    otherwise: "Not shown to grade better than guessing: do not read its grades or percentages as
    a grading."; when its one-vs-rest AUC's CI lies above 0.5 (the percentages rank images
    better than chance), "Its grades are not shown to be better than guessing (its percentages
    rank images somewhat better than guessing): do not read its grades as a grading." The
    figures (kappa, AUC, intervals) stay in the banner's technical section and every result's
    ``details["warnings"]`` (a clinician trial: the banner read "out-of-fold QWK 0.000, 95% CI
    ..., macro AUC one-vs-rest 0.547")."""
    if not predictor.chance_warning:
        return None
    from drac_ssl.figures import finite_pair

    auc_ci = finite_pair((predictor.metadata.get("cv_metrics") or {}).get("auc_ovr_ci95"))
    if auc_ci is not None and auc_ci[0] > 0.5:
        return ("Its grades are not shown to be better than guessing (its percentages rank images "
                "somewhat better than guessing): do not read its grades as a grading.")
    return "Not shown to grade better than guessing: do not read its grades or percentages as a grading."


# --------------------------------------------------------------------------------------
# Handlers


_DROPPED: dict[str, str] = {}
"""Deleted oversize uploads -> their message, for a second click on the same upload."""


def _drop_oversize_upload(path: str | None, limits: InputLimits, message: str) -> None:
    """Delete an upload above the app's limit from gradio's upload cache (never a file
    elsewhere, e.g. a local path given to a handler in tests); gradio re-creates the file if
    the same content is uploaded again."""
    if not path:
        return
    try:
        p = Path(path).resolve()
        cache = Path(gr.utils.get_upload_folder()).resolve()
        if p.is_relative_to(cache) and p.is_file() and p.stat().st_size > limits.max_bytes:
            p.unlink()
            while len(_DROPPED) >= 256:
                _DROPPED.pop(next(iter(_DROPPED)))
            _DROPPED[str(path)] = message
    except OSError:
        pass


def _load(path: str | None, limits: InputLimits, channels: int = 1, kind: str | None = None,
          grey_trained: tuple[int, int] | None = None) -> Any:
    """:func:`load_upload` in the model's ``channels``, ``kind`` and ``grey_trained``, knowing the oversize
    uploads already deleted."""
    if path and str(path) in _DROPPED and not Path(path).exists():
        raise InputRejected(_DROPPED[str(path)])
    try:
        return load_upload(path, limits, channels=channels, kind=kind, grey_trained=grey_trained)
    except InputRejected as exc:
        _drop_oversize_upload(path, limits, str(exc))
        raise

_BATCH_ROOT: tempfile.TemporaryDirectory[str] | None = None


def _batch_root() -> str:
    """One temporary folder per server process for the batch CSVs (gradio serves them from
    its own cache, or copies of them); removed when the process exits. Each batch writes into a
    folder of its own under it, removed at once when the batch hands the page no CSV (the model
    failed, a CSV could not be written), else by the server's sweep once older than
    :data:`app.retention.KEPT_S` (an hour: :func:`sweep_files`)."""
    global _BATCH_ROOT
    if _BATCH_ROOT is None:
        _BATCH_ROOT = tempfile.TemporaryDirectory(prefix="drac_app_batch_")
    return _BATCH_ROOT.name


def _batch_folder() -> Path:
    """A new folder for one batch's CSVs under :func:`_batch_root`, named by a fresh
    :func:`served_token` (mode 0700): the CSVs in it have fixed names (``submission.csv``,
    ``grades_with_notes.csv`` ...), so the folder's name is what keeps them from another user
    (``tempfile.mkdtemp``'s 8 characters are about 41 bits)."""
    folder = Path(_batch_root()) / served_token()
    folder.mkdir(mode=0o700)
    return folder


def _grade_single(predictor: Predictor, settings: AppSettings, path: str | None,
                  explain: str | int | None = None, queue: ModelQueue | None = None
                  ) -> tuple[str, dict[str, float] | None, str | None, str | None,
                             dict[str, Any]]:
    """Single-image handler: (markdown, label, original, overlay, details). ``explain``: the
    grade the heatmap explains (None or -1: the shown grade). ``queue``: the model queue to
    wait in (reading, grading and drawing all happen inside its slot); when it is full, the
    app's busy message. With a queue, the details JSON says ``waited_s``: seconds the request
    waited in line for the model before its grading began (the queue's clock), 0 when it
    did not wait; the page shows only a spinner meanwhile (a load test: gradio sees the
    request as started, since the waiting is inside the handler)."""
    name = Path(path).name if path else "upload"
    try:
        if queue is None:
            return _grade_single_now(predictor, settings, path, explain, name)
        since = queue.clock()
        with queue.slot():
            waited_s = queue.clock() - since
            result = _grade_single_now(predictor, settings, path, explain, name)
        result[-1]["waited_s"] = round(max(0.0, waited_s), 2)
        return result
    except ServerBusy as exc:
        log.warning("busy: refused an image (%s; %s)", name_tag(name), exc)
        return _busy_markdown(str(exc)), None, None, None, _busy_details(exc, name)


def _grade_single_now(predictor: Predictor, settings: AppSettings, path: str | None,
                      explain: str | int | None, name: str
                      ) -> tuple[str, dict[str, float] | None, str | None, str | None,
                                 dict[str, Any]]:
    try:
        explain = _explain_choice(predictor, explain)
    except InputRejected as exc:
        return (_choice_error_markdown(md_text(str(exc))), None, None, None,
                {"error": str(exc), "name": name})
    try:
        t0 = time.perf_counter()
        loaded = _load(path, settings.limits, predictor.channels, predictor.kind,
                   predictor.grey_trained)
        read_seconds = time.perf_counter() - t0
        # blank or noise: a grade of it would be a grade of nothing (the batch's rule too)
        check_gradable(loaded, predictor.kind, predictor.channels)
    except InputRejected as exc:  # its words name the file in a code span: shown as it is
        return (_error_markdown(_named_text(str(exc), name)), None, None, None,
                {"error": str(exc), "name": name})
    except Exception as exc:  # never let one request take the server down
        log.error("reading an image (%s) failed:\n%s", name_tag(name), _traceback([path]))
        message = f"Internal error while reading `{name}` ({type(exc).__name__}: {exc})."
        return (_error_markdown(_named_text(message, name)), None, None, None,
                {"error": message, "name": name})
    try:
        pred = predictor.predict_loaded(loaded, gradcam=settings.gradcam, explain=explain)
        pred.read_seconds = read_seconds
    except Exception as exc:  # the file was read: a fault of the model (or the app), not of it
        log.error("the model failed on an image (%s):\n%s", name_tag(name), _traceback([path]))
        message = (f"`{name}` was read, but the model failed on it ({type(exc).__name__}: {exc}). "
                   f"This is a fault of the model bundle or the app, not a problem of the file; "
                   f"the server log has the details. Report it to whoever maintains the model.")
        return (_model_error_markdown(_named_text(message, name)), None, None, None,
                {"error": message, "name": name, "model_error": True})
    original = _DISPLAY_FILES.write(_display(pred.image), "image")
    overlay = None
    withheld = heatmap_withheld(pred)  # not reliably gradable: no map of a grade not to be read
    if pred.heatmap is not None and not withheld:
        overlay = _DISPLAY_FILES.write(_display_overlay(pred.image, pred.heatmap), "gradcam")
    details = pred.as_dict()
    # the page names a file by its name only: an upload's path is the server's (gradio's cache)
    details.pop("path", None)
    details["decision"] = decision_rule(predictor)
    details["not_reliably_gradable"] = pred.not_reliably_gradable  # as_dict's; [] for a gradable image
    # an untrained demo bundle's grade (random weights): the heading says it in words, a client
    # reads it here (a review: only the free-text warnings said it)
    details["untrained_demo"] = predictor.untrained
    # a bundle trained on phantom images: its grade is a demonstration's output, as the heading says
    details["phantom_trained_demo"] = demo_mark(predictor) == PHANTOM_DEMO
    # a trial run's bundle (--first-try ...): its grade checks that the software runs, as the heading says
    details["trial_run"] = bool(predictor.trial_run)
    # the grade shown against the most likely grade (the thresholds rule can give a milder one):
    # the argmax, and whether every grade tied for the largest at the precision shown is more severe (a fact of the
    # probabilities, given whatever the page warns: not_reliably_gradable and the calibration
    # warning travel beside it)
    details["most_likely_grade"] = most_likely_grade(pred.probs)
    details["milder_than_most_likely"] = milder_than_most_likely(pred.probs, pred.grade)
    summary = pred.heatmap_summary(predictor.target_layer)
    if withheld:
        details["heatmap"] = {"target_layer": predictor.target_layer, "shape": None, "none": HEATMAP_WITHHELD}
    elif summary is not None:
        method = heatmap_method(pred, predictor)  # the page says it in plain words
        details["heatmap"] = {**summary, **({"method": method} if method else {})}
    return (_result_markdown(pred, predictor), _label_value(pred, predictor.grade_names),
            original, overlay, details)


def download_time_words() -> str:
    """The batch summary's word on its CSV links: the server deletes the CSVs after
    :data:`app.retention.KEPT_S` (its sweep), after which a link answers a bare 403."""
    return (f"The CSVs can be downloaded for {_minutes_words(KEPT_S)}; after that their links no "
            f"longer work: *Grade all* again.")


def _minutes_words(seconds: float) -> str:
    minutes = max(1, round(seconds / 60))
    return "an hour" if minutes == 60 else f"{minutes} minute{'s' if minutes != 1 else ''}"


def missing_upload_words(name: str) -> str:
    """The batch's words for a file gone from the server before the batch started (`` `name` ``
    in a code span, as :class:`app.inputs.InputRejected` says names): an upload that no request
    used within :data:`app.retention.UNCLAIMED_UPLOAD_S` is deleted (or sooner, the oldest
    first, above :data:`app.retention.UNCLAIMED_CAP_BYTES` of them), which a ``gradio_client``
    batch of many files over a slow link meets: it uploads every file before it calls
    ``/grade_batch``."""
    keep = max(1, round(UNCLAIMED_UPLOAD_S / 60))
    return (f"`{name}` could not be found on the server: an upload that no request uses within "
            f"{keep} minute{'s' if keep != 1 else ''} of its upload is deleted (sooner when "
            f"many wait). Upload it again, and send smaller batches, each graded within that "
            f"time.")


def _grade_batch(predictor: Predictor, settings: AppSettings, paths: list[str] | None,
                 queue: ModelQueue | None = None
                 ) -> tuple[str, list[list[Any]], str | None, str | None]:
    """Batch handler: (markdown summary, table rows, CSV path or None, notes CSV path or None).
    The rows are in upload order. ``queue``: the model queue; a full one refuses the batch at
    once (the app's busy message, nothing graded); an admitted batch holds its slot one file
    at a time: between two files it hands the slot to whoever waits in line and waits its
    turn again (:meth:`app.model_queue.Turn.pass_on`; never refused halfway), so a single
    image is not kept waiting for a whole batch. Each graded image is read, prepared and
    graded in its own turn (one image per model pass, as the single-image tab grades it).

    A file is graded under the single-image tab's rule (:func:`app.inputs.refusal`: a blank
    image or random noise is not graded) or not graded at all. Every file graded: the CSV is
    the submission (:func:`drac_ssl.submission.write_submission`, the export command's format),
    named ``submission.csv``, or :data:`FLAGGED_CSV` when an image is not reliably gradable
    (:func:`unreliable_reasons`), or :data:`DEMO_CSV` whenever the bundle is an untrained demo. Some not graded (unreadable, too large, blank, noise, a second file of a name ...): the
    summary starts with the export command's ``INCOMPLETE:`` line naming each and why
    (:func:`drac_ssl.grading.image_notes.incomplete_line`), and the CSV,
    ``grades_INCOMPLETE.csv``, lists them too, first, without a grade, the reason in a notes
    column (:func:`drac_ssl.submission.write_incomplete_grades`): never a file that passes for
    a complete submission. Beside the grades CSV, :func:`drac_ssl.submission.provenance_path`
    (``submission_provenance.json``): the export's grading provenance record
    (:meth:`drac_ssl.grading.bundle.Bundle.grading_provenance` with the TTA used and each graded
    file's SHA-256, written by :func:`drac_ssl.submission.write_grading_provenance`, tied to the
    CSV by its SHA-256; the page offers it as a third download). Nothing graded: no CSV. The notes CSV, ``grades_with_notes.csv``
    (:func:`app.batch_csv.write_grades_for_people`), is always there: every file in
    upload order, ``case,grade,grade_name,most_likely_grade,P_<grade>...,not_reliably_gradable,
    model_output_only,training_image,notes``, the bundle's caveat once in its first row, with
    the table's notes (``NOT GRADED: reason`` for a file not graded), so that the warnings
    travel with what is downloaded; the summary points to its columns for the reasons of a
    FLAGGED image and for the training images. A
    name that repeats in the batch (two folders' ``x.png``): every row, note and INCOMPLETE
    entry of it says which file (``the 1st file named x.png: ...``, ``the 2nd file named x.png
    (graded).``); only the first gradable one is graded."""
    try:
        with queue.slot() if queue is not None else nullcontext() as turn:
            return _grade_batch_now(predictor, settings, paths, turn.pass_on if turn else None)
    except ServerBusy as exc:
        log.warning("busy: refused a batch of %d (%s)", len([x for x in paths or [] if x]), exc)
        return _busy_markdown(str(exc)), [], None, None


def _batch_warning_line(unlike: list[str], sentences: list[list[str]], n_good: int) -> str:
    """The batch summary's count of the graded images that carry a warning, by kind: ``2 of
    the 5 graded images carry a warning (1 unlike the training images, 2 grey images for a
    colour model): see the notes column; their grades may mean nothing.`` ("" for none;
    the nouns in agreement with their counts). ``unlike``:
    per graded image, its out-of-distribution warning ("" for none); ``sentences``: per graded
    image, its warnings about itself (:meth:`app.predict.Predictor.grade_prepared_sentences`;
    plain notes, "Note: ...", are not doubts and not counted). An image with two kinds counts
    once in the total and once under each kind."""
    kinds: Counter[str] = Counter()
    warned = 0
    for odd, said in zip(unlike, sentences, strict=True):
        found = ({UNLIKE_KIND} if odd else set()) | {doubt_kind(w) for w in said if not w.startswith("Note: ")}
        warned += bool(found)
        kinds.update(found)
    if not warned:
        return ""
    order = [UNLIKE_KIND, *(kind for _, kind in DOUBT_KINDS), "other warning"]
    listed = ", ".join(f"{kinds[kind]} {_kind_words(kind, kinds[kind])}" for kind in order if kinds[kind])
    carry = "carries" if warned == 1 else "carry"
    return (f"⚠ **{warned} of the {n_good} graded image{'' if n_good == 1 else 's'} {carry} a "
            f"warning** ({listed}): see the notes column; "
            f"{'its grade' if warned == 1 else 'their grades'} may mean nothing.")


_KIND_PLURALS = {
    "thresholded export or mask": "thresholded exports or masks",
    "colour image": "colour images",
    "grey image for a colour model": "grey images for a colour model",
    "preprocessing finding": "preprocessing findings",
    "finding in the file": "findings in the file",
    "synthetic phantom image": "synthetic phantom images",
    "image of another bit depth": "images of another bit depth",
    "other warning": "other warnings",
}
"""The batch summary's kinds (:data:`DOUBT_KINDS`) that are nouns, in the plural; the others
("unlike the training images", "too small", "not square") say any count."""


def _kind_words(kind: str, n: int) -> str:
    """``kind`` as the batch summary counts ``n`` of it: ``2 grey images for a colour model``."""
    return kind if n == 1 else _KIND_PLURALS.get(kind, kind)


_COUNT_WORDS = {2: "two", 3: "three", 4: "four", 5: "five"}


def close_grades_words(probs: Any, borderlines: list[str | None], num_grades: int) -> str:
    """How many grades the batch's borderline images are torn between, for its summary ("the
    model cannot tell ... apart on them"): ``two grades`` when each is torn between two, ``all
    three grades`` when each between every grade of the scale (a trial: a batch whose grades
    were all equally likely was said to be torn between "two grades"), ``three grades`` for
    three of five, ``two or more grades`` for a mix. ``probs`` ``(n, K)`` and ``borderlines``
    (per image, its borderline line or None) of the graded images
    (:func:`app.predict.borderline_grades`)."""
    sizes = {len(borderline_grades(p)) for p, said in zip(probs, borderlines, strict=True) if said}
    if len(sizes) != 1:
        return "two or more grades"
    n = sizes.pop()
    return f"{'all ' if n == num_grades and n > 2 else ''}{_COUNT_WORDS.get(n, str(n))} grades"


UNRELIABLE_VERDICT = "NOT RELIABLY GRADABLE"
"""How the notes of a graded image that is not reliably gradable start in the batch's table
and CSVs (:func:`batch_notes`): the verdict the single-image page heads the same image with."""


def batch_notes(which: str, unlike: str, sentences: list[str], borderline: str | None,
                reasons: list[str]) -> str:
    """The batch's notes cell of one graded image (the table, ``grades_with_notes.csv`` before
    the bundle's caveat, ``grades_INCOMPLETE.csv``): first ``NOT RELIABLY GRADABLE: unlike the
    training images.`` when ``reasons`` (:func:`flagged_reasons`) is not empty, the verdict the
    single-image page heads the image with (a trial: the batch said it only in a count and a file
    name); then ``which`` (``the 2nd file named x.png``, for a name the batch repeats; "" else)
    with "(graded)."; then the doubts (``unlike``, the out-of-distribution sentence or "", and
    ``sentences`` that are not plain notes), then the plain notes (``Note: ...``), then the
    ``borderline`` line (None for none; :func:`shown_borderline` gives none for an image not
    reliably gradable)."""
    verdict = f"{UNRELIABLE_VERDICT}: {'; '.join(reasons)}." if reasons else ""
    doubts = [w for w in sentences if not w.startswith("Note: ")]
    notes = [w for w in sentences if w.startswith("Note: ")]
    return " ".join(x for x in (verdict, f"{which} (graded)." if which else "", unlike, *doubts,
                                *notes, borderline or "") if x)


def grade_cell(name: str, reasons: list[str], untrained: bool = False, phantom: bool = False,
               trial: bool = False) -> str:
    """The batch table's ``grade`` cell: the grade's name, ``Normal (not reliably gradable)``
    for an image whose ``reasons`` (:func:`flagged_reasons`) are not empty, ``NPDR (untrained
    demo)`` for an untrained demo bundle's grade (``untrained``:
    :attr:`app.predict.Predictor.untrained`; a review: its cells read a plain ``NPDR``, like a
    grading), ``Normal (not reliably gradable; untrained demo)`` for both, in the order
    :func:`grade_heading` says them (the ``class`` cell keeps the grade number, as the
    submission CSV does). ``phantom``: a bundle trained on phantom images, ``NPDR
    (phantom-trained demo)`` (:data:`PHANTOM_DEMO`; ``untrained`` wins when both hold); ``trial``: a
    trial run's bundle, ``Severe NPDR (trial run)`` (:data:`TRIAL_RUN_MARK`, :func:`grade_mark`)."""
    mark = grade_mark(untrained, phantom, trial)
    marks = [*(["not reliably gradable"] if reasons else []), *([mark] if mark else [])]
    return f"{name} ({'; '.join(marks)})" if marks else name


def grades_csv_label(untrained: bool, phantom: bool = False, trial: bool = False) -> str:
    """What the batch's grades CSV download is, said under the downloads (its label, short, is
    "Grades CSV": gradio_client names outputs by their labels): which file it is, and why a name other than
    ``submission.csv`` (``grades_INCOMPLETE.csv``, :data:`FLAGGED_CSV`), as the summary says. An
    untrained demo bundle's (``untrained``) is never a submission: :data:`DEMO_CSV`, or
    ``grades_INCOMPLETE.csv`` when a file was not graded; a bundle trained on phantom images'
    (``phantom``) neither: :data:`PHANTOM_CSV`; nor a trial run's (``trial``): :data:`TRIAL_CSV`."""
    incomplete = ("grades_INCOMPLETE.csv when a file was not graded (not a complete submission: "
                  "its first rows name them, NOT GRADED)")
    if untrained:
        return (f"CSV: {DEMO_CSV}, the grades of this untrained demo model (random weights: they "
                f"mean nothing; no submission); {incomplete}")
    if phantom:
        return (f"CSV: {PHANTOM_CSV}, the grades of this model trained on phantom images (a "
                f"demonstration: they say nothing about a real eye); {incomplete}")
    if trial:
        return (f"CSV: {TRIAL_CSV}, the grades of this trial run's model (shortened training: they "
                f"check that the software runs, not how well it grades; no submission); {incomplete}")
    return (f"CSV: the submission; {incomplete}, {FLAGGED_CSV} when an image is not reliably "
            f"gradable (why: the notes CSV's {UNRELIABLE_COLUMN} column)")


def of_graded(n: int, n_graded: int) -> str:
    """``1 of the 3 graded images is`` / ``2 of the 3 graded images are`` / ``the 1 graded image
    is``: a count of the batch's graded images, its verb in agreement (a trial read "1 of the 3
    graded image(s) are borderline")."""
    if n_graded == 1:
        return "the 1 graded image is"
    return f"{n} of the {n_graded} graded images {'is' if n == 1 else 'are'}"


def ordinal(n: int) -> str:
    """``1st``, ``2nd``, ``3rd``, ``4th``, ``11th``, ``21st`` ..."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _grade_batch_now(predictor: Predictor, settings: AppSettings, paths: list[str] | None,
                     between: Callable[[], object] | None = None
                     ) -> tuple[str, list[list[Any]], str | None, str | None]:
    """:func:`_grade_batch` inside its slot. ``between``: called between two files (the
    turn's :meth:`app.model_queue.Turn.pass_on`, which may wait while others use the model);
    the summary's time leaves that wait out and says it apart."""
    paths = [p for p in (paths or []) if p]
    if not paths:
        return "Upload one or more images first.", [], None, None
    if len(paths) > settings.max_batch_files:
        return (f"⛔ {len(paths)} files: at most {settings.max_batch_files} per batch. Split the "
                f"folder, or grade it with `{python_command('drac_ssl.export')} RUN --images DIR --out "
                f"team.csv`.", [], None, None)
    t0 = time.perf_counter()
    k = len(predictor.grade_names)
    blanks = [None] * k
    rejected_rows: dict[int, list[Any]] = {}  # upload position -> the row of a file not graded
    good_at: list[int] = []  # the upload position of each graded file
    good_names: list[str] = []
    good_sha256: list[str] = []  # per graded file: the SHA-256 of its bytes (the provenance record)
    # per graded file, its grading (Predictor.grade_prepared_sentences of it alone, in its turn)
    graded_parts: list[tuple[np.ndarray, np.ndarray, list[str], list[list[str]]]] = []
    model_s = 0.0  # seconds in the model, all graded files together (the table's mean s/image)
    waited_s = 0.0  # seconds waiting between two files while others used the model
    failed: Exception | None = None  # preprocessing or the model failed: said as such below
    good_warnings: list[list[str]] = []
    # per graded file: one of the model's training images (Predictor.training_match: True for its
    # file's bytes, BY_PIXELS for its decoded pixels alone); None when that cannot be told (a
    # bundle that records no hashes): "unknown" in the notes CSV, not read as "no"
    good_trained: list[bool | str | None] = []
    times_named: dict[str, int] = {}  # how many files of the batch so far had this name
    graded_as: dict[str, int] = {}  # name -> which file of that name was graded (1 = the first)
    good_which: list[str] = []  # per graded file: "the 2nd file named x.png" for a repeated name, else ""
    not_graded: list[tuple[str, str]] = []  # (file name, why) for the INCOMPLETE line, as markdown (md_text) ...
    rejected_notes: list[tuple[str, str]] = []  # ... and the notes column, which says the name too
    # a name that repeats in the batch (d1/x.png, d2/x.png: the folders are gone, gradio keeps
    # the name): every row and reason of it says which file, graded or not, from the first on
    repeated = {n for n, c in Counter(Path(p).name for p in paths).items() if c > 1}
    # the batch's names, and the safe names suggested so far: a suggested name is none of them
    # (=scan.png beside scan.png: rename it scan_2.png, not scan.png)
    taken = [Path(p).name for p in paths]
    uploaded = list(taken)  # a rename fix of a file named otherwise names none of them either
    for at, path in enumerate(paths):
        if at and between is not None:  # let whoever waits for the model go first
            w0 = time.perf_counter()
            between()
            waited_s += time.perf_counter() - w0
        name = Path(path).name
        times_named[name] = nth = times_named.get(name, 0) + 1
        which = f"the {ordinal(nth)} file named {name}" if name in repeated else name
        try:
            if name in graded_as:
                raise InputRejected(
                    f"{which} was not graded: the {ordinal(graded_as[name])} file of that name "
                    f"was (a submission lists each case once; rename it and grade it on its own).")
            if (why := case_name_problem(name)) is not None:  # the export's rule: one rule
                taken.append(safe := safe_case_name(name, taken))
                raise InputRejected(f"`{name}`: its name {why}; rename it, e.g. to "
                                    f"`{safe}`, and grade it again.")
            if not os.path.lexists(path) and str(path) not in _DROPPED:
                raise InputRejected(missing_upload_words(name))
            # a JPEG named .heic, .jfif ...: the export's rule, its words (the single tab grades it)
            if (named := image_name_problem(path, uploaded, taken)) is not None:
                raise InputRejected(f"`{name}`: {named[0]}; {named[1]}, and grade it again.")
            loaded = _load(path, settings.limits, predictor.channels, predictor.kind,
                           predictor.grey_trained)
            # blank or noise: not graded, as on the single-image tab (one rule)
            check_gradable(loaded, predictor.kind, predictor.channels)
        except InputRejected as exc:
            # plain text in the notes: the name as it is (its backticks too), not a code span
            said = _plain_words(str(exc), name)
            why = said.removeprefix(name).lstrip(": ") or said
            if which != name:  # "x.png: why" -> "the 1st file named x.png: why"
                if not said.startswith(which):
                    said = f"{which}: {why}"
                more, _, why = said[len(which):].partition(": ")  # the INCOMPLETE line's "who: why"
                which += more  # "the 2nd file named x.png was not graded"
            rejected_rows[at] = [name, None, "rejected", *blanks, said]
            not_graded.append((md_text(which), md_text(why)))  # said in the markdown summary
            rejected_notes.append((name, said))
            continue
        except Exception as exc:
            log.error("reading an image (%s) of a batch of %d failed:\n%s", name_tag(name),
                      len(paths), _traceback([path]))
            said = f"internal error: {exc}"
            rejected_rows[at] = [name, None, "rejected", *blanks,
                                 said if which == name else f"{which}: {said}"]
            not_graded.append((md_text(which), md_text(said)))
            rejected_notes.append((name, rejected_rows[at][-1]))
            continue
        good_which.append(which if which != name else "")
        graded_as[name] = nth
        good_at.append(at)
        good_names.append(name)
        good_sha256.append(loaded.sha256)
        good_warnings.append(predictor.upload_warnings(loaded))  # a training image: a note
        # a demo bundle was trained on nothing: no (empty), not "unknown"
        good_trained.append(False if predictor.metadata.get("demo") else predictor.training_match(loaded))
        if failed is None:
            try:  # the model input at the bundle's size, graded at once, in this file's turn
                ready = predictor.prepare(loaded.for_channels(predictor.channels))
                t1 = time.perf_counter()
                # the upload's own warnings too: one size warning, as on the single-image tab
                graded_parts.append(predictor.grade_prepared_sentences([ready], [good_warnings[-1]]))
                model_s += time.perf_counter() - t1
            except Exception as exc:  # a fault of the model (or its preprocessing), not of the file
                failed = exc
                log.error("grading a batch of %d failed on an image (%s):\n%s", len(paths),
                          name_tag(name), _traceback(list(paths)))
        # one decoded image at a time (an upload may take up to 240 MB decoded, InputLimits.
        # decoded_limit: 16-bit RGB at 40 megapixels, float32 RGB at 20; its decoding and
        # preprocessing took the server's peak to 1.7-1.8 GiB, bench/app_load.py; a batch may
        # hold 200 of them): only its grading is kept
        del loaded
    csv_path = notes_path = None
    unlike: list[str] = []
    sentences: list[list[str]] = []
    graded_rows: dict[int, list[Any]] = {}
    n_good = len(good_names)
    # the batch's own folder: what the page is handed (its CSVs) stays an hour (the server's
    # sweep, sweep_files), as gradio's cached files do, for the page's download links; any other
    # way out (the model failed, a CSV could not be written) removes it at once
    out_dir = _batch_folder()
    handed = False
    # the end of every graded row's notes in grades_INCOMPLETE.csv; once, in its first row, in the notes CSV
    model_words = model_caveat(predictor)
    try:
        probs, classes = np.zeros((0, k)), np.zeros(0, np.int64)
        graded_notes: list[str] = []
        reasons: list[list[str]] = []  # per graded image: why it is not reliably gradable ([] if it is)
        borderlines: list[str | None] = []  # each graded image's borderline line, if any
        flagged = 0  # graded images not reliably gradable (NOT_RELIABLY_GRADABLE)
        if n_good:
            try:
                if failed is not None:
                    raise failed
                probs = np.concatenate([part[0] for part in graded_parts])
                classes = np.concatenate([part[1] for part in graded_parts])
                unlike = [odd for part in graded_parts for odd in part[2]]
                sentences = [said for part in graded_parts for said in part[3]]
                # the model's time per image: the log's, not the clinician's table
                log.info("graded a batch of %d image(s): %.3f s per image in the model", n_good, model_s / n_good)
                # the borderline line of the single-image result, after the image's own warnings
                # (none for an image not reliably gradable, nor of a failed calibration: shown_borderline)
                not_calibrated = predictor.calibration_warning is not None
                borderlines = [shown_borderline(p, predictor.grade_names, [odd, *said], not_calibrated)
                               for odd, said, p in zip(unlike, sentences, probs, strict=True)]
                # the export's notes file's rule too (flagged_reasons)
                reasons = [flagged_reasons(odd, said) for odd, said in zip(unlike, sentences, strict=True)]
                # and last why the grade is not the most likely one, as under the single result
                # (not for an image not reliably gradable: no sentence reads its percentages)
                graded_notes = [" ".join(x for x in (batch_notes(which, odd, said, close, why),
                                                     "" if why else
                                                     _decision_words(p, c, predictor, None, bool(close))) if x)
                                for which, odd, said, close, why, p, c in zip(
                                    good_which, unlike, sentences, borderlines, reasons, probs, classes,
                                    strict=True)]
                for at, name, p, c, said, why in zip(good_at, good_names, probs, classes, graded_notes,
                                                     reasons, strict=True):
                    graded_rows[at] = [name, int(c), grade_cell(predictor.grade_names[int(c)], why,
                                                                  **mark_flags(predictor)),
                                       # whole percentages, numbers (the page shows 0 and 100 as
                                       # <1 and >99, table_value); none for an image not
                                       # reliably gradable (the page shows none)
                                       *([None] * k if why else percent_cells(p)), said]
                # files not graded: rows without a grade (and a name that says it), never left out
                # silently; a complete batch: the submission itself
                flagged = sum(1 for why in reasons if why)
                # its graded rows' notes end with the bundle's caveat, as grades_with_notes.csv's
                # do (a trial: a demo bundle's rows said only "Borderline ...", like a grading)
                csv_path = str(write_incomplete_grades(out_dir / "grades_INCOMPLETE.csv", good_names,
                                                       probs, classes, rejected_notes, num_grades=k,
                                                       notes=[" ".join(x for x in (said, model_words) if x)
                                                              for said in graded_notes])
                               if not_graded else
                               write_submission(out_dir / (DEMO_CSV if predictor.untrained else
                                                           PHANTOM_CSV if demo_mark(predictor) == PHANTOM_DEMO else
                                                           TRIAL_CSV if demo_mark(predictor) else
                                                           FLAGGED_CSV if flagged else "submission.csv"),
                                                good_names, probs, classes, num_grades=k))
            except Exception as exc:
                if exc is not failed:  # logged when it happened
                    log.error("grading a batch of %d failed:\n%s", len(paths), _traceback(list(paths)))
                return (f"{MODEL_FAILED_START} "
                        f"({md_text(f'{type(exc).__name__}: {exc}')}): a "
                        f"fault of the model bundle or the app, not of the files; the server log has "
                        f"the details.", [rejected_rows[at] for at in sorted(rejected_rows)], None, None)
        rows = [graded_rows[at] if at in graded_rows else rejected_rows[at] for at in range(len(paths))]
        # every file, in upload order, with its notes: the warnings travel with the download
        # (this file is what gets passed on)
        graded_index = {at: i for i, at in enumerate(good_at)}
        # the bundle's caveat once, in its first row (app.batch_csv), not on every row, and
        # which model graded (the export's provenance record's fields: the grades CSV beside
        # keeps DRAC's case,class,P0.. columns and names no model)
        # with the flip TTA used and each graded file's SHA-256 (never a copy of it, nor its
        # name) by its row in the grades CSV (grades_INCOMPLETE.csv lists the files not graded first)
        first_row = 1 + (len(rejected_notes) if not_graded else 0)
        graded_record = predictor.bundle.grading_provenance(
            n_good, None, tta=predictor.tta,
            images=[(first_row + i, digest) for i, digest in enumerate(good_sha256)])
        graded_by = grading_provenance_words(graded_record)
        if csv_path:  # beside the grades CSV, the export's record of it (export --check reads it)
            write_grading_provenance(provenance_path(csv_path), graded_record, csv_path)
        notes_path = str(write_grades_for_people(
            out_dir / NOTES_CSV,
            [(row[0], graded_index.get(at), row[-1] if at in graded_index else f"{NOT_GRADED}{row[-1]}")
             for at, row in enumerate(rows)], probs, classes, predictor.grade_names,
            unreliable=[reasons[graded_index[at]] if at in graded_index else []
                        for at in range(len(rows))],
            trained=[good_trained[graded_index[at]] if at in graded_index else False for at in range(len(rows))],
            about=" ".join(x for x in (model_words, graded_by) if x), mark=demo_mark(predictor)))
        rejected = len(rows) - n_good
        warned = _batch_warning_line(unlike, sentences, n_good) if graded_rows else ""
        n_borderline = sum(1 for close in borderlines if close)
        same = same_grade_words([r[1] for r in rows if r[2] != "rejected"], predictor.grade_names)
        cautions = ""
        if n_good:  # the bundle's own caveat, of the batch's grades (the banner says it too)
            cautions += f"\n\n⚠ {predictor.caveat_for(n_good)}"
        chance = chance_plain_words(predictor)  # the banner's plain words (figures: its technical section)
        if chance and n_good:
            cautions += f"\n\n⚠ **{chance}**"
        uncalibrated = predictor.calibration_warning  # the P columns of the CSVs, the banner's words
        if uncalibrated and n_good:
            cautions += f"\n\n⚠ **{uncalibrated}**"
        never = never_found_words(predictor.metadata, predictor.grade_names)  # as under every grade
        if never and n_good:
            cautions += f"\n\n⚠ **{md_words(never)}**"
        if warned:
            cautions += f"\n\n{warned}"
        # as under a single result: a grade shown tied with the largest, an image not reliably gradable,
        # a failed calibration and an untrained demo are not counted (milder_warned)
        n_milder = sum(1 for p, c, why in zip(probs, classes, reasons, strict=True)
                       if milder_warned(p, c, why, predictor))
        if n_milder:
            cautions += f"\n\n{milder_count_words(n_milder, n_good, predictor)}"
        if n_borderline:
            cautions += (f"\n\n**{of_graded(n_borderline, n_good)} borderline**: the model cannot "
                         f"tell {close_grades_words(probs, borderlines, k)} apart on "
                         f"{'it' if n_borderline == 1 else 'them'} (see the notes column).")
        trained = (training_images_line(sum(1 for t in good_trained if t), n_good,
                                        sum(1 for t in good_trained if t == BY_PIXELS)) if graded_rows else "")
        if trained:  # the export command's words (its NOTE line): a note, not a refusal
            cautions += (f"\n\n**{trained}** (marked in the `{TRAINING_IMAGE_COLUMN}` column of "
                         f"`{NOTES_CSV}`; {'its' if sum(1 for t in good_trained if t) == 1 else 'their'} notes say so too).")
        if same:  # the export command's words too
            cautions += (f"\n\n⚠ **{same}.** " + (
                "An untrained demo model grades from random weights (model card tab)."
                if predictor.metadata.get("demo") else
                "Check that they are the kind of image this model was trained on (model card tab)."))
        header = ",".join(submission_columns(k))
        incomplete = ""
        if not_graded:  # said first, in the export command's words (its --skip-unreadable)
            incomplete = incomplete_line(not_graded, len(paths)) + (
                ". The grades CSV below, `grades_INCOMPLETE.csv`, lists them first, without a grade, "
                "the reason in its notes column: named INCOMPLETE because it is not a complete "
                "submission; mend or replace those files and grade the batch again for a "
                "complete one.\n\n" if csv_path else
                ". Nothing was graded, so there is no grades CSV.\n\n")
        with_notes = (f"`{NOTES_CSV}` (`{','.join(notes_csv_columns(predictor.grade_names))}`: every "
                      f"file in upload order with its grade in words and the notes column of the table; "
                      f"its first row holds what applies to every grade)")
        # where the reasons of each flagged image are (a review: the FLAGGED line named no place)
        reasons_at = (f"the reasons per image are in the `{UNRELIABLE_COLUMN}` column of "
                      f"`{NOTES_CSV}`, and those images' notes (in the table too) start "
                      f"{UNRELIABLE_VERDICT}")
        took = time.perf_counter() - t0 - waited_s
        summary = (incomplete + f"**{n_good} image{'' if n_good == 1 else 's'} graded** in {took:.1f} s"
                   + (f" (and {waited_s:.1f} s waiting between images while other requests used "
                      f"the model)" if waited_s >= 0.05 else "")
                   + (f", **{rejected} rejected** (see the notes column)" if rejected else "")
                   + (f". Download below the grades CSV, `grades_INCOMPLETE.csv` (`{header},notes`: the "
                      f"submission's columns and a notes column: each graded image's notes, and a row "
                      f"without a grade for each file not graded), and {with_notes}."
                      + (f" {of_graded(flagged, n_good)} not reliably gradable: "
                         f"{reasons_at}." if flagged else "")
                      if csv_path and not_graded else
                      f". Download below the grades CSV, `{DEMO_CSV}` (`{header}`, the submission's "
                      f"format: named UNTRAINED_DEMO because an untrained demo model graded it from "
                      f"random weights: its grades mean nothing and it is no submission), and "
                      f"{with_notes}."
                      + (f" {of_graded(flagged, n_good)} not reliably gradable: "
                         f"{reasons_at}." if flagged else "")
                      if csv_path and predictor.untrained else
                      f". Download below the grades CSV, `{PHANTOM_CSV}` (`{header}`, the submission's "
                      f"format: named PHANTOM_DEMO because a model trained on phantom images graded it: "
                      f"its grades say nothing about a real eye), and {with_notes}."
                      + (f" {flagged} of the {n_good} graded image(s) are not reliably gradable: "
                         f"{reasons_at}." if flagged else "")
                      if csv_path and demo_mark(predictor) == PHANTOM_DEMO else
                      f". Download below the grades CSV, `{TRIAL_CSV}` (`{header}`, the submission's "
                      f"format: named TRIAL_RUN because a trial run's model graded it: its training was "
                      f"cut short, so its grades check that the software runs, not how well it grades; "
                      f"it is no submission), and {with_notes}."
                      + (f" {of_graded(flagged, n_good)} not reliably gradable: "
                         f"{reasons_at}." if flagged else "")
                      if csv_path and demo_mark(predictor) else
                      f". Download below the grades CSV, `{FLAGGED_CSV}` (`{header}`, the submission's "
                      f"format: named FLAGGED because {of_graded(flagged, n_good)} not "
                      f"reliably gradable), and {with_notes}: {reasons_at}."
                      if csv_path and flagged else
                      f". Download below the submission CSV, `submission.csv` (`{header}`, the format "
                      f"written by the export command), and {with_notes}." if csv_path else
                      f". {with_notes[0].upper()}{with_notes[1:]} below says why for each file.")
                   + (f" Beside them, `{provenance_path(csv_path).name}`: which model graded the grades "
                      f"CSV ({PROVENANCE_HOLDS}), the export's "
                      f"record; keep it with the CSV (`export --check` compares the CSV's SHA-256)."
                      if csv_path else "")
                   + f" {download_time_words()}" + cautions)
        handed = True
        return summary, rows, csv_path, notes_path
    finally:
        if not handed:
            shutil.rmtree(out_dir, ignore_errors=True)


class BatchSidecars:
    """Each batch's grades CSV -> its provenance record (:func:`drac_ssl.submission.provenance_path`),
    for the page's third download. The page hands the next step gradio's cached copy of the CSV,
    in a folder of its own (not the batch's folder beside the record): the record is found by
    the CSV's SHA-256 (the one it records as ``submission.sha256``). Records whose file is gone
    (the sweep removed the batch's folder) are forgotten at the next batch. Thread-safe."""

    def __init__(self) -> None:
        self._by_sha256: dict[str, Path] = {}
        self._lock = threading.Lock()

    def remember(self, csv_path: str | os.PathLike[str], sidecar: Path) -> None:
        """Record that ``sidecar`` is the provenance record of the CSV at ``csv_path``; a CSV
        that cannot be read is not recorded."""
        try:
            digest = sha256_file(csv_path)
        except OSError:
            return
        with self._lock:
            for key in [k for k, v in self._by_sha256.items() if not v.is_file()]:
                del self._by_sha256[key]
            self._by_sha256[digest] = sidecar

    def of(self, csv_path: str | os.PathLike[str] | None) -> str | None:
        """The path of the provenance record of the CSV at ``csv_path`` (any copy of it), None
        when there is no CSV, it cannot be read, or no batch recorded one for its bytes."""
        if not csv_path:
            return None
        try:
            digest = sha256_file(csv_path)
        except OSError:
            return None
        with self._lock:
            sidecar = self._by_sha256.get(digest)
        return str(sidecar) if sidecar is not None and sidecar.is_file() else None


def _signed_in(request: Any) -> str | None:
    """The signed-in user's name of a gradio request (``--auth-file``), None without logins."""
    name = getattr(request, "username", None)
    return str(name) if name else None


def single_grading_lines(predictor: Predictor, path: str, details: dict[str, Any],
                         user: str | None) -> list[str] | None:
    """The ``--grading-log`` line of a single image's result (:class:`app.grading_log.GradingLog`:
    the SHA-256 of the upload at ``path``, never its name), ``[]`` when it was not graded
    (refused, busy, the model failed: no ``grade`` in ``details``); None when it was graded but
    the upload cannot be read any more to hash it (removed meanwhile): a lost line, which the
    caller says (:meth:`app.grading_log.GradingLog.lose`)."""
    if not isinstance(details, dict) or details.get("grade") is None or "P" not in details:
        return []
    try:
        digest = sha256_file(path)
    except OSError:
        return None
    grade = int(details["grade"])
    return [GradingLog.line(utc=grading_utc_now(), user=user, image_sha256=digest,
                            bundle_sha256=predictor.bundle.metadata_sha256, grade=grade,
                            grade_name=predictor.grade_names[grade], probabilities=details["P"],
                            tta=predictor.tta, via="single")]


def batch_grading_lines(predictor: Predictor, csv_path: str, sidecar: Path,
                        user: str | None) -> list[str] | None:
    """The ``--grading-log`` lines of a batch, one per graded file, from what the batch wrote:
    its provenance record ``sidecar`` (each graded file's SHA-256 by its row in the CSV, the
    time, the TTA) and its grades CSV ``csv_path`` (the grade and P columns of that row); None
    when either cannot be read (missing, unreadable, not UTF-8, no JSON record): lost lines,
    which the caller says (:meth:`app.grading_log.GradingLog.lose`). Never a file name."""
    record = grading_provenance_record(sidecar)
    try:
        with open(csv_path, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, csv.Error, UnicodeDecodeError):
        return None
    if record is None:
        return None
    k = len(predictor.grade_names)
    lines = []
    for image in record.get("images") or []:
        n = image.get("row")
        row = rows[n - 1] if isinstance(n, int) and 1 <= n <= len(rows) else None
        if not row or not str(row.get("class") or "").strip():
            continue
        grade = int(row["class"])
        lines.append(GradingLog.line(
            utc=str(record.get("graded_utc")), user=user, image_sha256=str(image.get("sha256")),
            bundle_sha256=predictor.bundle.metadata_sha256, grade=grade,
            grade_name=predictor.grade_names[grade], probabilities=[float(row[f"P{i}"]) for i in range(k)],
            tta=bool(record.get("tta")), via="batch"))
    return lines


# --------------------------------------------------------------------------------------
# The page


def build_demo(predictor: Predictor, settings: AppSettings = AppSettings()) -> gr.Blocks:
    """The page for ``predictor``: tabs *Single image*, *Batch* and *Model card*.

    API names (for ``gradio_client``): ``/grade`` (one file and optionally the grade to
    explain, -1 = the shown one -> markdown, label, original, overlay, details JSON) and
    ``/grade_batch`` (files -> markdown, table, CSV file, notes CSV file). The CSV's provenance
    record ``<stem>_provenance.json`` (:func:`drac_ssl.submission.provenance_path`) is the page's
    third download, filled by a private step after it (:class:`BatchSidecars`): not a value of
    ``/grade_batch``, whose four values clients unpack.
    """
    card_path = predictor.path / "MODEL_CARD.md"
    card = card_path.read_text(encoding="utf-8") if card_path.is_file() else "No MODEL_CARD.md in this bundle."
    meta_json = json.dumps(shown_metadata(predictor.metadata), indent=1, default=str)
    limits = settings.limits
    queue = ModelQueue(settings.concurrency, settings.queue_size, kept=_kept_words(CACHE_CLEANUP))
    # the uploads a handler was given: kept by gradio's hourly rule; any other upload is deleted
    # after 30 minutes (sooner above 4 GiB of them) by the server's sweep (sweep_files, app.retention)
    claims = UploadClaims()

    def cleared() -> tuple[Any, ...]:
        """No upload: no result (the upload's x, or the heatmap choice changed before one)."""
        return "Upload an image to grade it.", None, None, None, {}

    # --grading-log: one JSON line per graded image (app.grading_log), off by default
    grading_log = (GradingLog(settings.grading_log, mib_bytes(settings.grading_log_max_mb))
                   if settings.grading_log else None)
    sidecars = BatchSidecars()  # each batch's grades CSV -> its provenance record

    def grade(path: str | None, explain: str | int | None = "-1", request: gr.Request | None = None) -> tuple[Any, ...]:
        claims.claim(path)
        result = _grade_single(predictor, settings, path, explain, queue)
        if grading_log is not None and path:
            lines = single_grading_lines(predictor, path, result[-1], _signed_in(request))
            if lines is None:
                grading_log.lose(1, "a graded upload was removed before its SHA-256 could be taken")
            else:
                grading_log.record(lines)
        return result

    def regrade(path: str | None, explain: str | int | None, request: gr.Request | None = None) -> tuple[Any, ...]:
        if not path:
            return cleared()
        return grade(path, explain, request)

    def picture_alt_texts(details: dict[str, Any] | None) -> tuple[Any, ...]:
        """The two pictures' alt text for the result's ``details`` (:func:`image_alt_texts`), run
        in the page after every result; an event of its own, so that ``/grade`` still returns
        the plain files to API clients (not gradio update dicts)."""
        return tuple(gr.update(alt_text=text) for text in image_alt_texts(details or {}, predictor))

    def said_status(details: dict[str, Any] | None) -> str:
        """The result's one sentence for screen readers (:func:`result_status`), run in the page
        after every result, as the alt texts are."""
        return result_status(details or {}, predictor)

    def grading(path: str | None) -> str:
        """The status as a grading of the single image starts (:func:`grading_status`)."""
        return grading_status([path] if path else [])

    def grading_batch(paths: list[str] | None) -> str:
        """The batch's status as its grading starts (:func:`grading_status`)."""
        return grading_status(paths or [], batch=True)

    def failed(path: str | None) -> str:
        """The status when a step of a single image's grading failed inside gradio
        (:func:`failed_status`)."""
        return failed_status([path] if path else [])

    def failed_batch(paths: list[str] | None) -> str:
        """The batch's status when a step of its grading failed inside gradio (:func:`failed_status`)."""
        return failed_status(paths or [], batch=True)

    def said_batch(summary: str | None, table: Any) -> str:
        """The batch's one sentence for screen readers (:func:`batch_status`), run in the page
        after every batch, from its summary and its table as the page holds them (a DataFrame)."""
        rows = table.values.tolist() if hasattr(table, "values") else list(table or [])
        return batch_status(summary or "", rows, predictor)

    def grade_batch(paths: list[str] | None, request: gr.Request | None = None) -> tuple[Any, ...]:
        """:func:`_grade_batch`, its rows as the table's value (:func:`table_value`: numbers, shown
        as the page writes percentages)."""
        claims.claim(paths)
        summary, rows, *files = _grade_batch(predictor, settings, paths, queue)
        # the grades CSV's provenance record, written beside it (provenance_path): the third
        # download, handed to the page by the next step (provenance_of), not by /grade_batch,
        # whose four values API clients unpack
        sidecar = provenance_path(files[0]) if files[0] else None
        if sidecar is not None and sidecar.is_file():
            sidecars.remember(files[0], sidecar)
        if grading_log is not None and sidecar is not None:
            # a batch graded but not recorded (its CSV or record unreadable or gone): said, as
            # the log promises no grading is left out silently
            lines = batch_grading_lines(predictor, files[0], sidecar, _signed_in(request))
            if lines is None:
                n_graded = sum(1 for row in rows if row[1] is not None)
                grading_log.lose(n_graded, "the batch's grades CSV or its provenance record could "
                                           "not be read")
            else:
                grading_log.record(lines)
        return (summary, table_value(rows, len(predictor.grade_names)) if rows else rows, *files)

    def provenance_of(csv_path: str | None) -> str | None:
        """The batch's third download, run in the page after each batch: the provenance record
        of the grades CSV the page holds (:class:`BatchSidecars`), None when there is none."""
        return sidecars.of(csv_path)

    def claim_batch(paths: list[str] | None) -> None:
        """The batch tab's upload: its files wait for *Grade all*, kept as a graded upload is
        (not deleted after 30 minutes as an upload no request used)."""
        claims.claim(paths)

    drac = _is_drac(predictor)
    k = len(predictor.grade_names)
    columns = table_columns(predictor.grade_names)
    csv_header = ",".join(submission_columns(k))
    image_kind = describe_kind(predictor.kind, predictor.channels)
    scale = " · ".join(f"{g} {md_words(n)}" for g, n in enumerate(predictor.grade_names))
    with gr.Blocks(title=f"drac_ssl — {'UW-OCTA ' if drac else ''}DR grading", analytics_enabled=False,
                   delete_cache=CACHE_CLEANUP) as demo:
        if drac:
            gr.Markdown("# Diabetic retinopathy grade from a UW-OCTA image\n"
                        "DRAC 2022 Task 3: **0 Normal · 1 NPDR** (non-proliferative) **· 2 PDR** "
                        f"(proliferative), from one {OCTA_WORDS}.")
        else:
            gr.Markdown(f"# Diabetic retinopathy grade from a {image_kind}\n"
                        f"{k} grades: **{scale}**, from one "
                        + (OCTA_WORDS if predictor.kind == "octa" else
                           f"{'colour ' if predictor.channels == 3 else 'grey '}image") + ".")
        gr.HTML(_banner(predictor))
        with gr.Tabs():
            with gr.Tab("Single image"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=2, min_width=260):
                        # no file_types: gradio would answer a file of another type with its own
                        # "Invalid file type ... ['.png', ...]"; the app's loader says in words
                        # what the file is and what to upload, as on the batch tab
                        upload = gr.File(label=f"{image_kind[0].upper()}{image_kind[1:]} ({FORMAT_WORDS})",
                                         type="filepath", height=140, elem_id=IMAGE_UPLOAD_ID)
                        _no_empty_upload_files(upload)
                        explain = gr.Radio(
                            choices=_heatmap_choices(predictor), elem_id=HEATMAP_FOR_ID,
                            value="-1", label="Heatmap for", visible=settings.gradcam and predictor.heatmap_possible)
                        _accept_whole_number_choice(explain)
                        _quiet_choice_refusal(explain)
                        button = gr.Button("Grade", variant="primary")
                        gr.Markdown(f"<small>Grey or colour. Limits: {limits.max_mb:g} MiB, {limits.max_side} px per "
                                    f"side, {limits.max_pixels / 1e6:g} megapixels. The image is preprocessed exactly as in training "
                                    f"({_resize_words(predictor.bundle.spec)}).</small>")
                    with gr.Column(scale=3, min_width=320):
                        result = gr.Markdown("Upload an image to grade it.", elem_id=RESULT_ID,
                                             label="Result", show_label=False)  # the API's name
                        status = gr.Markdown("", elem_id=STATUS_ID)  # off screen: for screen readers
                        label = grade_probabilities(num_top_classes=k, label="Probabilities", show_heading=False,
                                                    elem_id=PROBABILITY_ID)
                        gr.Markdown(probabilities_note(predictor))
                with gr.Row():
                    # each caption a paragraph above its picture: gradio's label floats over the
                    # picture's top (show_label=False); the label stays the API's name of the output
                    with gr.Column(min_width=160):
                        gr.Markdown(_image_caption(predictor), elem_classes=[CAPTION_CLASS])
                        original = gr.Image(label=IMAGE_LABEL, show_label=False, elem_id=IMAGE_ID,
                                            interactive=False, height=420, buttons=["fullscreen"])
                    with gr.Column(visible=predictor.heatmap_possible, min_width=160):
                        gr.Markdown(HEATMAP_CAPTION, elem_classes=[CAPTION_CLASS])
                        overlay = gr.Image(label=HEATMAP_LABEL, show_label=False, elem_id=HEATMAP_IMAGE_ID,
                                           interactive=False, height=420, buttons=["fullscreen"])
                        gr.HTML(heat_key_html())
                with gr.Accordion("Details (JSON)", open=False):
                    details = gr.JSON(label="Prediction")
                outputs = [result, label, original, overlay, details]
                handler_limit, _ = gradio_limits(settings.concurrency, settings.queue_size)
                model_event = {"concurrency_id": MODEL_GROUP, "concurrency_limit": handler_limit}
                # each grading's first step says "Grading the image." (grading_status), the grading
                # itself a step after it, so that the result's sentence comes after it, always, and
                # is said even when it is the last one's (a live region speaks when its text changes);
                # a step that fails inside gradio (an input refused before the handler runs) runs
                # only its .failure steps, not its .then ones: they say so (failed_status)
                starts = {"inputs": upload, "outputs": status, "api_visibility": "private", "queue": False,
                          "show_progress": "hidden"}
                clicking = button.click(grading, **starts)
                clicked = clicking.then(grade, inputs=[upload, explain], outputs=outputs, api_name="grade",
                                        **model_event)
                uploading = upload.upload(grading, **starts)
                uploaded = uploading.then(grade, inputs=[upload, explain], outputs=outputs,
                                          api_visibility="private", **model_event)
                changing = explain.change(grading, trigger_mode="always_last", **starts)
                changed = changing.then(regrade, inputs=[upload, explain], outputs=outputs,
                                        api_visibility="private", trigger_mode="always_last", **model_event)
                for step in (clicking, clicked, uploading, uploaded, changing, changed):
                    step.failure(failed, **starts)
                # the x: no result beside an empty upload box (a grade still running is dropped)
                gone = upload.clear(cleared, outputs=outputs, api_visibility="private",
                                    cancels=[clicked, uploaded, changed], queue=False)
                for event in (clicked, uploaded, changed, gone):  # every result: the pictures' alt text
                    event.then(picture_alt_texts, inputs=details, outputs=[original, overlay],
                               api_visibility="private", queue=False)
                    event.then(said_status, inputs=details, outputs=status, api_visibility="private",
                               queue=False, show_progress="hidden")
            with gr.Tab("Batch"):
                gr.Markdown(f"Grade many images at once (no heatmaps) and download a "
                            f"{'DRAC ' if drac else ''}submission CSV: `{csv_header}`, one row per "
                            f"image, the case being the file name. Any other file is listed as not graded.")
                # no file_types here: gradio would refuse the whole batch for one stray file
                # (naming none); the loader says which file is not an image, and grades the rest
                files = gr.File(label=f"Images ({', '.join(t.lstrip('.').upper() for t in FILE_TYPES)})",
                                file_count="multiple", type="filepath", height=160, elem_id=BATCH_UPLOAD_ID)
                _no_empty_upload_files(files)
                batch_button = gr.Button("Grade all", variant="primary")
                batch_summary = gr.Markdown(elem_id=BATCH_RESULT_ID, label="Batch summary", show_label=False)
                batch_said = gr.Markdown("", elem_id=BATCH_STATUS_ID)  # off screen: for screen readers
                gr.Markdown(f"<small>In the table: class = the grade number (as in the CSV), "
                            f"grade = its name; "
                            f"{probability_key([md_words(n) for n in predictor.grade_names])}.</small>")
                table = gr.Dataframe(headers=columns, label="Grades", interactive=False,
                                     wrap=True, column_count=len(columns), datatype=table_datatypes(k),
                                     column_widths=table_widths(predictor.grade_names))
                with gr.Row():
                    # short labels (gradio_client names the outputs by them), the words under them
                    csv_file, notes_file, provenance_file = (gr.File(label=box, interactive=False)
                                                             for box in DOWNLOAD_LABELS)
                said_downloads = (grades_csv_label(**mark_flags(predictor)),
                                  f"CSV with the notes: {NOTES_CSV} (every file, in upload order; "
                                  f"{UNRELIABLE_COLUMN} and {TRAINING_IMAGE_COLUMN} columns to filter on)",
                                  PROVENANCE_LABEL)
                gr.Markdown("<small>\n\n" + "".join(f"- **{box}**: {words}\n" for box, words in zip(
                    DOWNLOAD_LABELS, said_downloads, strict=True)) + "\n</small>")
                # as on the single-image tab: "Grading 5 files.", the grading, then its sentence
                # and as there, a step that fails inside gradio says so (failed_status)
                batch_starts = {"inputs": files, "outputs": batch_said, "api_visibility": "private",
                              "queue": False, "show_progress": "hidden"}
                batch_starting = batch_button.click(grading_batch, **batch_starts)
                batch_graded = batch_starting.then(
                    grade_batch, inputs=files, outputs=[batch_summary, table, csv_file, notes_file],
                    api_name="grade_batch", **model_event)
                # the grades CSV's provenance record: a step of its own, so that /grade_batch keeps
                # its four values (gradio_client hands a client every output of the event)
                batch_graded.then(provenance_of, inputs=csv_file, outputs=provenance_file,
                                  api_visibility="private", queue=False, show_progress="hidden")
                batch_graded.then(said_batch, inputs=[batch_summary, table], outputs=batch_said,
                                  api_visibility="private", queue=False, show_progress="hidden")
                for step in (batch_starting, batch_graded):
                    step.failure(failed_batch, **batch_starts)
                files.upload(claim_batch, inputs=files, outputs=None, api_visibility="private",
                             queue=False)
            with gr.Tab("Model card"):
                model_card_view(card)
                with gr.Accordion("Bundle metadata (metadata.json)", open=False):
                    gr.Code(meta_json, language="json", interactive=False, label="metadata.json")
        demo.load(None, js=PAGE_JS)  # live regions, names, focus: what gradio has no option for
    demo.model_queue = queue  # type: ignore[attr-defined]  # for tests and the log
    demo.upload_claims = claims  # type: ignore[attr-defined]  # for the sweep (sweep_files)
    return demo


ABSOLUTE_PATH = re.compile(r"(?<![\w.:/\\])(?:[A-Za-z]:[\\/]|/)(?:[^\s/\\'\"]+[\\/])*([^\s/\\'\",;]*)")
"""An absolute POSIX (``/srv/a/b``) or Windows (``C:\\a\\b``) path inside a text, its last
component in group 1; ``1/2`` or ``and/or`` (a word character before the slash) are not paths."""


def shown_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """``metadata.json`` as the *Model card* tab shows it to every user: without its
    ``comparison`` entry, its ``training_images`` and ``pretraining_images`` hash lists as
    counts (``"test_sha256_prefixes": "386 hashes, not shown"``: up to a megabyte of hex on
    every page, and a hash tells whether a given image was in a private ``data.unlabelled``
    pool; :mod:`drac_ssl.grading.training_images`), and with every absolute
    path in its texts cut to its last component
    (``"data": {"root": "/home/dr.x/study 7/photos"}`` -> ``"photos"``; ``"ingest at
    /srv/runs/r1/data"`` -> ``"ingest at data"``), as the model card names the data folder
    (:func:`drac_ssl.grading.bundle.data_folder_name`): the folders above name the machine's
    layout, a user's home, sometimes a study or a patient (docs/deploying.md). The bundle's
    own ``metadata.json`` keeps the whole paths. Pure: ``metadata`` is not changed."""
    def cut(value: Any) -> Any:
        if isinstance(value, str):
            if re.match(r"(?:[A-Za-z]:[\\/]|/)\S", value) and "\n" not in value:
                return data_folder_name(value)  # a whole path (spaces and all): data.root
            return ABSOLUTE_PATH.sub(lambda m: m.group(1), value)
        if isinstance(value, dict):
            return {k: cut(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [cut(v) for v in value]
        return value
    def counted(record: Any) -> Any:  # a record's hash lists as counts
        if not isinstance(record, dict):
            return record
        return {k: f"{len(v.split())} hash{'' if len(v.split()) == 1 else 'es'}, not shown"
                if k.endswith("sha256_prefixes") and isinstance(v, str) else v for k, v in record.items()}
    return cut({k: counted(v) if k in ("training_images", "pretraining_images") else v
                for k, v in metadata.items() if k != "comparison"})


def safe_card_html(card: str) -> str:
    """``MODEL_CARD.md``'s text rendered to HTML that fetches nothing and links nowhere: parsed
    server-side by markdown-it-py (CommonMark with GFM tables and strikethrough, no linkify),
    every image rendered as its alt text and every link (inline, reference, autolink) as its
    text, raw HTML dropped (a block of it, comments included, replaced by
    :data:`CARD_HTML_OMITTED`, a tag within a line left out), everything else escaped by the
    renderer; headings,
    tables, emphasis, lists and code render as written. A bundle may come from a third party: a
    card that embedded ``![x](http://...)`` or ``<img src=...>`` would make every browser
    opening the tab fetch it, telling an outside host who opened the app and when (a security
    review). A regex filter before it was bypassed by nested brackets (``![a[b]](http://...)``,
    ``![a\\]](...)``, a code span in the alt text; review F3): the parser's own reading decides
    now, and the HTML it writes goes to the page as it is (:func:`model_card_view`), not through
    a second Markdown parser that could read it otherwise. The package's own cards hold no
    image, link or HTML. Its headings are shifted one level down (``#`` is ``<h2>``, ``######``
    stays ``<h6>``): the page's title is its one ``<h1>`` (an accessibility review found a second
    one in the tab)."""
    from markdown_it import MarkdownIt  # installed with gradio (typer -> rich -> markdown-it-py)
    from markdown_it.common.utils import escapeHtml

    md = MarkdownIt("commonmark", {"html": True, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])

    def alt_text(renderer: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        return escapeHtml(renderer.renderInlineAsText(tokens[idx].children or [], options, env))

    def nothing(*_: Any) -> str:
        return ""

    def omitted(*_: Any) -> str:  # a sign where the card's own HTML was (it may hold words)
        return f"<p><em>{CARD_HTML_OMITTED}</em></p>\n"

    md.add_render_rule("image", alt_text)
    for rule in ("link_open", "link_close", "html_inline"):
        md.add_render_rule(rule, nothing)
    md.add_render_rule("html_block", omitted)
    env: dict[str, Any] = {}
    tokens = md.parse(card, env)
    for token in tokens:  # one level down: the page's own title is the one <h1>
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(6, int(token.tag[1:]) + 1)}"
    return md.renderer.render(tokens, md.options, env)


CARD_HTML_OMITTED = "[HTML of the model card, not shown here: read MODEL_CARD.md in the bundle]"
"""What :func:`safe_card_html` shows where the card holds a block of raw HTML (a comment
included): dropping it silently could hide the words inside or beside it (``<!-- c --> caveat``
on one line is one HTML block) without a sign (a final read of the security change)."""


def model_card_view(card: str) -> gr.HTML:
    """The *Model card* tab's view of the bundle's ``MODEL_CARD.md`` (``card``, its text):
    :func:`safe_card_html`'s HTML (no image, link or HTML of the card reaches the page) in
    gradio's HTML component with its default template (the value inserted as it is, not read as
    Markdown again) and gradio's prose style. A review found the card shown as plain source
    (a code box with line numbers, tables as pipes, warnings with their asterisks) hard for a
    clinician to read."""
    return gr.HTML(safe_card_html(card), label="Model card", padding=True)


def sweep_files(demo: gr.Blocks, now: float | None = None) -> dict[str, int]:
    """One sweep of the files the server holds (:mod:`app.retention`): the uploads that no
    handler of ``demo`` (:func:`build_demo`'s, which records them in ``demo.upload_claims``) was
    given, once older than :data:`app.retention.UNCLAIMED_UPLOAD_S`; the page's pictures and the
    batch folders, once older than :data:`app.retention.KEPT_S`. ``now``: the time to age
    against (default: now). Run every :data:`app.retention.SWEEP_EVERY_S` while the server runs
    (:func:`serve`); also what unfinished uploads leave and empty upload folders
    (:func:`app.retention.sweep_upload_leftovers`). The log gets the counts, never a name;
    returns them: ``{"uploads": n, "leftovers": n, "pictures": n, "batches": n}``."""
    claims = getattr(demo, "upload_claims", None)
    uploads = getattr(demo, "upload_file_set", None)  # every path gradio's upload route stored
    dropped: list[Path] = []
    if isinstance(claims, UploadClaims) and uploads is not None:  # else nothing says what was used
        dropped = sweep_unclaimed_uploads(uploads, claims, gr.utils.get_upload_folder(),
                                          older_than=UNCLAIMED_UPLOAD_S, now=now)
        claims.forget_missing()
    leftovers = sweep_upload_leftovers(gr.utils.get_upload_folder(), UNCLAIMED_UPLOAD_S, now)
    pictures = _DISPLAY_FILES.expire(KEPT_S, now)
    batches = sweep_old_entries(_BATCH_ROOT.name if _BATCH_ROOT is not None else None, KEPT_S, now)
    counts = {"uploads": len(dropped), "leftovers": len(leftovers), "pictures": len(pictures),
              "batches": len(batches)}
    if any(counts.values()):
        log.info("removed %d upload(s) no request used, %d unfinished upload(s) or empty upload "
                 "folder(s), %d picture(s) and %d batch folder(s) older than an hour",
                 counts["uploads"], counts["leftovers"], counts["pictures"], counts["batches"])
    return counts


def sweeping(demo: gr.Blocks, every: float | None = None) -> Any:
    """A FastAPI lifespan for gradio's app (``launch(app_kwargs={"lifespan": ...})``): while the
    server runs, :func:`sweep_files` of ``demo`` every ``every`` seconds (None:
    :data:`app.retention.SWEEP_EVERY_S`, read when the server starts), in a worker thread;
    stopped with the server. A failed sweep is logged by its exception's type (its message may
    name an upload) and the next one runs."""
    import asyncio
    import contextlib

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> Any:
        pause = SWEEP_EVERY_S if every is None else every

        async def loop() -> None:
            while True:
                await asyncio.sleep(pause)
                try:
                    await asyncio.to_thread(sweep_files, demo)
                except Exception as exc:  # never stop the server for it
                    log.error("the sweep of old files failed (%s); the next one is in %g s",
                              type(exc).__name__, pause)

        task = asyncio.create_task(loop())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return lifespan


class OwnAddressUnreachable(RuntimeError):
    """gradio's ``launch`` could not reach the app's own address as it started (its check of
    ``/gradio_api/startup-events`` with ``httpx.get``, then of the page with
    ``gradio.networking.url_ok``): the message says the address, the error, the proxy variables
    set (names only) and what to do (:func:`own_address_words`)."""


GRADIO_OWN_ADDRESS_FAILURES = ((Exception, "Couldn't start the app because "),
                               (ValueError, "When localhost is not accessible"))
"""What gradio 6's ``Blocks.launch`` raises when its own address answered but not as it
wanted, as ``(exact type, start of the message)``: a bare ``Exception`` when
``startup-events`` answers an error status (a proxy's 403 or 502), a ``ValueError`` when
``url_ok`` gets no 200/3xx/401 for the page. (A request that gets no answer at all raises
``httpx.TransportError``.)"""


def is_own_address_failure(error: BaseException) -> bool:
    """Whether ``error``, raised by gradio's ``launch``, says the app could not reach its own
    address: an ``httpx.TransportError`` or one of :data:`GRADIO_OWN_ADDRESS_FAILURES`, never
    another error of the same type."""
    import httpx

    return isinstance(error, httpx.TransportError) or any(
        type(error) is kind and str(error).startswith(start) for kind, start in GRADIO_OWN_ADDRESS_FAILURES)


def own_address_words(url: str, error: BaseException, proxies: Sequence[str]) -> str:
    """The message of :class:`OwnAddressUnreachable`: ``url`` (the address gradio asked),
    ``error`` (httpx's or gradio's, by type and message) and ``proxies`` (:func:`app.loopback.proxy_variables`:
    their names, never their values, which may hold a password), with a fix for each case."""
    said = f"{type(error).__name__}: {error}"
    if proxies:
        names = ", ".join(proxies)
        unset = " ".join(f"-u {name}" for name in proxies)
        return (f"the app could not reach its own address {url} as it started ({said}). The proxy "
                f"variable(s) {names} are set; the app added its own addresses to NO_PROXY and "
                f"no_proxy, but the request still failed (a proxy set elsewhere, or a firewall, "
                f"between this process and {url}).\n  fix: start the app without the proxy "
                f"variables (env {unset} python -m app ...), or make {url} reachable on this machine")
    return (f"the app could not reach its own address {url} as it started ({said}).\n  fix: check "
            f"that nothing on this machine (a firewall, a proxy) stands between this process and {url}")


def serve(predictor: Predictor, settings: AppSettings = AppSettings(), *,
          block: bool = True, quiet: bool = False,
          auth: LoginGuard | Sequence[tuple[str, str]] | None = None,
          insecure_no_auth: bool = False) -> gr.Blocks:
    """Queue and launch the app on ``settings.host:settings.port``.

    ``block=False`` returns once the server is bound and answers (gradio's launch waits for
    its own start-up request), the server running in a background thread (call
    ``demo.close()`` to stop it). ``quiet``: gradio prints none of its start-up lines (its
    local URL, the hint to ``share=True``: this never shares; ``python -m app`` passes it);
    its errors are raised either way. ``auth``: the logins gradio asks for before it serves the
    page or its API, a :class:`app.login_guard.LoginGuard` (``python -m app --auth-file``: the
    login file's hashes, the throttle and the record of attempts) or ``(user, password)`` pairs
    (made into a guard with the throttle and no record); gradio's ``launch`` is given the
    guard's :meth:`~app.login_guard.LoginGuard.gradio_auth`, a callable it runs for every login
    (never the list of passwords). None: no login. Off the loopback interface
    (:func:`app.auth.is_loopback_host`) a server without ``auth`` is refused with a ValueError saying how to start it
    (:func:`app.auth.open_host_refusal`), unless ``insecure_no_auth`` (``--insecure-no-auth``:
    an authenticating reverse proxy in front); the log then warns, and says that gradio serves
    plain HTTP (TLS needs a reverse proxy in front). ``settings.root_path`` (``--root-path``):
    the path at which a reverse proxy that strips it serves the app, given to gradio's
    ``launch(root_path=...)``, which puts it into every address it makes (the page's
    configuration, file links, the login form's); the page then works through the proxy only.

    While it runs, :func:`sweep_files` deletes the uploads no request used after 30 minutes (the
    oldest first above 4 GiB of them) and
    the app's pictures and batch CSVs after an hour (:mod:`app.retention`), beside gradio's own
    hourly ``delete_cache``.

    gradio's ``launch`` asks its own address once with ``httpx.get``, which takes the proxy
    variables of the environment: before it, :func:`app.loopback.bypass_proxy` adds the loopback
    names and ``settings.host`` to ``NO_PROXY`` and ``no_proxy`` (keeping what was there). If
    that request still fails or gets an error status (:func:`is_own_address_failure`), the
    server is closed and :class:`OwnAddressUnreachable` raised, naming the proxy variables set.
    """
    from app.auth import bind_name, is_loopback_host, open_host_refusal
    from app.loopback import bypass_proxy, proxy_variables

    login = auth if isinstance(auth, LoginGuard) or not auth else LoginGuard(auth)
    open_host = not is_loopback_host(settings.host)
    if open_host and not login and not insecure_no_auth:
        raise ValueError(open_host_refusal(settings.host))  # before anything is built or bound
    demo = build_demo(predictor, settings)
    for note in predictor.bundle_notes:  # a file of the bundle loaded unverified: the log says it
        log.warning("bundle %s: %s", predictor.path, note)
    handler_limit, guard = gradio_limits(settings.concurrency, settings.queue_size)
    demo.queue(default_concurrency_limit=settings.concurrency, max_size=guard, api_open=False)
    if open_host and not login:
        log.warning("serving on %s: reachable from other machines, with no authentication "
                    "(--insecure-no-auth): anyone who reaches it can use the app unless a reverse "
                    "proxy in front asks for a login. Put a TLS reverse proxy in front (gradio "
                    "serves plain HTTP)", settings.host)
    elif open_host:
        log.warning("serving on %s with a login (%d user(s)) over plain HTTP: passwords and "
                    "images cross the network unencrypted unless a TLS reverse proxy is in front",
                    settings.host, login.users)
    proxies = proxy_variables()
    no_proxy = bypass_proxy(settings.host)  # gradio's check of its own address: never via a proxy
    if proxies:
        log.info("proxy variable(s) %s set: NO_PROXY and no_proxy are now %s for this process (the "
                 "app's own addresses; other requests keep the proxy)", ", ".join(proxies), no_proxy)
    # gradio's own upload limit is a guard at twice ours: a file a little too large reaches
    # the app and gets its explanatory message; a larger one is not stored (transport_limit)
    try:
        demo.launch(server_name=bind_name(settings.host), server_port=settings.port, share=False,
                    auth=login.gradio_auth if login else None,  # run for every login: throttle, record
                    inbrowser=False, prevent_thread_lock=not block, quiet=quiet, show_error=False,
                    max_file_size=transport_limit(settings.limits), ssr_mode=False, pwa=False, mcp_server=False,
                    enable_monitoring=False, footer_links=["api", "settings"], theme=THEME,
                    # gradio's run history would keep every /grade and /grade_batch call (upload
                    # path with the patient's file name, result, batch table) in the browser's
                    # localStorage with no expiry, and offer a Hugging Face bucket: off, and
                    # /gradio_api/runs answers 404 (docs/app.md, "What the browser keeps")
                    run_history=False,
                    max_threads=max(40, handler_limit + 8),  # every admitted request has a thread
                    root_path=settings.root_path,  # None: gradio reads GRADIO_ROOT_PATH
                    css=PAGE_CSS,  # the widget's own rounded figure hidden; the status off screen
                    app_kwargs={"lifespan": sweeping(demo)})
    except Exception as exc:  # httpx's ConnectError, ProxyError, a timeout (not an OSError), gradio's own
        if not is_own_address_failure(exc):
            raise
        url = getattr(demo, "local_url", None) or f"http://{bind_name(settings.host)}:{settings.port}/"
        demo.close(verbose=False)  # launch had started the server before its check
        raise OwnAddressUnreachable(own_address_words(url, exc, proxies)) from exc
    return demo
