"""Every sentence the app says about an image, from the function that makes it, read by the
two tables of openings (:mod:`drac_ssl.grading.image_notes`, beside the producers; re-exported
by ``app.server``): :data:`~drac_ssl.grading.image_notes.NOT_RELIABLY_GRADABLE` (the heading
"Not reliably gradable", :attr:`app.predict.Prediction.not_reliably_gradable`, the details'
reasons, ``grades_FLAGGED.csv``) and :data:`~drac_ssl.grading.image_notes.DOUBT_KINDS` (the
batch summary's count by kind).

The tables match the start of sentences made in other modules; rewording one of them would
silently drop an image from "not reliably gradable" or count it as "other warning". Each row
here makes its sentence with the producer's own function, composed as the page says it
(:meth:`app.predict.Predictor.image_warnings` capitalises the export's words and adds a full
stop), so that a rewording fails here.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace as NS

import numpy as np
import pytest

from app.inputs import NOT_SQUARE, sanity_warnings, too_small_warning
from app.predict import Predictor
from drac_ssl.grading.image_notes import (
    DOUBT_KINDS,
    NOT_RELIABLY_GRADABLE,
    colour_for_grey_model,
    doubt_kind,
    few_levels_warning,
    file_finding,
    grey_for_colour_model,
    is_plain_note,
    other_depth_warning,
    phantom_image_warning,
    starts_a_warning,
    unreliable_reasons,
)
from drac_ssl.grading.ood import InputProfile
from drac_ssl.grading.predict import preprocessing_warning, small_image_warning, squeeze_finding

MODEL_SIDE = 64  # the model's input size (the default job's)
METADATA = {"input": {"channels": 1, "source_size": 96, "size": MODEL_SIDE, "recipe": "octa",
                      "normalization": {"mean": [0.5], "std": [0.25]}}}
CONVERTED = "RGB image (converted to grayscale: luminance of the colour channels)"


def _as_page_says(shape: tuple[int, int], small: list[str] = (), upload: list[str] = (),  # type: ignore[assignment]
                  found: list[str] = ()) -> list[str]:  # type: ignore[assignment]
    """The page's sentences about an image of ``shape`` (H, W) for a UW-OCTA model reading
    :data:`MODEL_SIDE` px: the real composition, on a stand-in for the Predictor."""
    stand_in = NS(bundle=NS(spec=NS(image_size=MODEL_SIDE)))
    return Predictor.image_warnings(stand_in, shape, list(small), list(upload), list(found))  # type: ignore[arg-type]


def _mostly_transparent_words() -> str:
    """What the decoder says of a grey PNG whose alpha is 0 on 3 of its 4 rows."""
    import io

    from PIL import Image

    from data_prep.decode import decode

    alpha = np.zeros((4, 4), np.uint8)
    alpha[3] = 255
    buf = io.BytesIO()
    Image.fromarray(np.dstack([np.full((4, 4), 128, np.uint8), alpha]), "LA").save(buf, "PNG")
    (said,) = [p.what for p in decode(buf.getvalue(), "x.png").problems if p.kind == "alpha"]
    return said


def _one(sentences: list[str], start: str) -> str:
    found = [s for s in sentences if s.startswith(start)]
    assert len(found) == 1, sentences
    return found[0]


# (what, the sentence as the page says it, the reasons it is not reliably gradable, its kind)
CASES: list[tuple[str, Callable[[], str], list[str], str | None]] = [
    ("unlike the training images (the input check)",
     lambda: InputProfile.warning(NS(n_images=40), "UW-OCTA images"),  # type: ignore[arg-type]
     ["unlike the training images"], None),  # counted apart in the batch summary (UNLIKE_KIND)
    ("a colour picture to a grey UW-OCTA model",
     lambda: colour_for_grey_model(CONVERTED, octa=True),
     ["a colour picture, not UW-OCTA"], "colour image"),
    ("a grey scan with a coloured scale bar to a grey UW-OCTA model (a doubt only, an OCTA review F1)",
     lambda: colour_for_grey_model(CONVERTED, octa=True, overlay_share=0.005), [], "colour image"),
    ("a colour picture to a grey fundus model (converted as its training ingest did)",
     lambda: colour_for_grey_model(CONVERTED, octa=False), [], "colour image"),
    ("a grey picture to a colour model",
     lambda: grey_for_colour_model(""), ["a grey picture for a colour model"], "grey image for a colour model"),
    ("a grey picture saved as an RGB file, to a colour model",
     lambda: grey_for_colour_model("RGB"), ["a grey picture for a colour model"], "grey image for a colour model"),
    ("a grey picture to a colour model that saw 1 grey image among 30 in training",
     lambda: grey_for_colour_model("", (1, 30)), ["a grey picture for a colour model"],
     "grey image for a colour model"),
    ("a grey picture to a colour model that saw enough grey images (a doubt only)",
     lambda: grey_for_colour_model("RGB", (60, 400)), [], "grey image for a colour model"),
    ("a 1-bit mask",
     lambda: few_levels_warning([[0, 255]], mode="1"), ["a thresholded export or mask"], "thresholded export or mask"),
    ("a colour image of few levels per channel, to a colour fundus model",
     lambda: few_levels_warning([[0, 255], [0, 128], [0, 255]], mode="RGB", kind="fundus", channels=3),
     ["a thresholded export or mask"], "thresholded export or mask"),
    ("far below the model's input (the export's words)",
     lambda: _as_page_says((20, 20), small=[small_image_warning((20, 20), METADATA)])[0],
     ["far smaller than the model's input"], "too small"),
    ("far below the model's input, said with the UW-OCTA size detail",
     lambda: _as_page_says((20, 20), small=[small_image_warning((20, 20), METADATA)],
                           upload=[too_small_warning(20, 20)])[0],
     ["far smaller than the model's input"], "too small"),
    ("smaller than the model's input but above half of it",
     lambda: _as_page_says((40, 40), upload=[too_small_warning(40, 40)])[0], [], "too small"),
    ("a UW-OCTA upload before the model is known (the loader's words)",
     lambda: too_small_warning(200, 200), [], "too small"),
    ("not square",
     lambda: _one(sanity_warnings(np.random.default_rng(0).integers(0, 256, (300, 700), dtype=np.uint8)),
                  NOT_SQUARE), [], "not square"),
    ("a preprocessing finding (the export's words)",
     lambda: _as_page_says((300, 400), found=[preprocessing_warning(squeeze_finding(400, 300, "octa"))])[0],
     [], "preprocessing finding"),
    ("a finding in the file that is not a plain note",
     lambda: file_finding("something this app has not decided is plain"), [], "finding in the file"),
    ("a multi-page TIFF of which the first page is graded (an OCTA review, F4)",
     lambda: file_finding("multi-page TIFF with 3 pages: only the first is used (pages: 64x64, 64x64, 32x32 px)"),
     ["one page or frame of several graded"], "finding in the file"),
    ("a mostly transparent file, in the decoder's words (a QA test, F1)",
     lambda: file_finding(_mostly_transparent_words()), ["mostly transparent"], "finding in the file"),
    ("a phantom-marked upload, to a model not trained on phantoms",
     lambda: phantom_image_warning(trained_on_phantoms=False), [], "synthetic phantom image"),
    ("a 16-bit file, to a model trained on 8-bit files (a doubt only)",
     lambda: other_depth_warning(("16-bit", 16), (("8-bit", 8, 30),)), [], "image of another bit depth"),
]


@pytest.mark.parametrize(("what", "make", "reasons", "kind"), CASES, ids=[c[0] for c in CASES])
def test_each_producer_s_sentence_is_read_as_its_kind(what: str, make: Callable[[], str], reasons: list[str],
                                                      kind: str | None) -> None:
    sentence = make()
    assert sentence and not is_plain_note(sentence), sentence
    assert unreliable_reasons([sentence]) == reasons, sentence
    if kind is not None:
        assert doubt_kind(sentence) == kind, sentence
    # grade_images tells a plain "NAME: WORDS" line's name by the openings: the page's words and
    # the export's (first letter lower case, no full stop)
    assert starts_a_warning(sentence) and starts_a_warning(sentence[:1].lower() + sentence[1:-1]), sentence


def test_every_row_of_both_tables_is_reached_by_some_producer() -> None:
    """A row no producer's sentence reaches is dead (its producer was reworded or removed)."""
    sentences = [make() for _, make, _, _ in CASES]
    for _, reason in NOT_RELIABLY_GRADABLE:
        assert any(reason in unreliable_reasons([s]) for s in sentences), reason
    for _, kind in DOUBT_KINDS:
        assert any(doubt_kind(s) == kind for s in sentences), kind


def test_plain_notes_are_neither_doubts_nor_reasons() -> None:
    """The notes the page says as "Note: ..." (the model reads a small UW-OCTA upload at its own
    size; a grey picture saved as RGB read by a grey model) make no reason."""
    smaller = _as_page_says((100, 100), upload=[too_small_warning(100, 100)])[0]
    encoded = colour_for_grey_model("RGB image (channels identical: read as grey)", octa=True)
    phantom = phantom_image_warning(trained_on_phantoms=True)  # the demonstration's own kind
    for note in (smaller, encoded, phantom):
        assert is_plain_note(note) and unreliable_reasons([note]) == [], note
        assert starts_a_warning(note), note


def test_the_verdict_needs_neither_gradio_nor_torch() -> None:
    """The tables and their functions live beside the sentences' producers, in a module of
    pure string functions: a library user (:class:`app.predict.Predictor`, a notebook) gets
    the verdict without the Gradio server (a review: it was only in ``app.server``, which
    imports gradio), and ``app.server`` names the same objects (nothing that imported them
    from there breaks)."""
    import app.server as server
    import drac_ssl.grading.image_notes as notes

    for name in ("NOT_RELIABLY_GRADABLE", "unreliable_reasons", "DOUBT_KINDS", "doubt_kind", "UNLIKE_KIND"):
        assert getattr(server, name) is getattr(notes, name), name
        assert name in notes.__all__, name
    code = ("import sys\n"
            "from drac_ssl.grading.image_notes import unreliable_reasons, doubt_kind\n"
            "assert unreliable_reasons(['Only 2 grey levels (0 and 255).']) == ['a thresholded export or mask']\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('gradio', 'torch', 'numpy', 'app')))\n")
    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True,
                          timeout=120, env={"PYTHONPATH": str(repo), "PATH": ""})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]", proc.stdout


def test_grey_words_come_from_the_grey_images_the_model_saw() -> None:
    """A colour model trained with some grey pictures says how many it saw, and the rule that
    keeps a grey picture *not reliably gradable* (a trial found the ingest training on a grey
    image that the bundle then flagged, and the card saying it saw colour alone)."""
    from drac_ssl.grading.image_notes import (
        GREY_TRAINED_MIN,
        GREY_TRAINED_RULE,
        grey_trained,
        grey_trained_enough,
    )

    few = grey_for_colour_model("L", (1, 30))
    assert "the model saw 1 grey image among 30 in training" in few and GREY_TRAINED_RULE in few
    assert "trained on colour photographs" not in few
    assert "saw 0 grey images among 30" in grey_for_colour_model("L", (0, 30))
    assert "trained on colour photographs" in grey_for_colour_model("L", None)  # not recorded
    # the rule: at least GREY_TRAINED_MIN grey images, and a share of them
    assert not grey_trained_enough((GREY_TRAINED_MIN - 1, GREY_TRAINED_MIN))
    assert grey_trained_enough((GREY_TRAINED_MIN, GREY_TRAINED_MIN * 10))
    assert not grey_trained_enough((GREY_TRAINED_MIN, GREY_TRAINED_MIN * 100))  # 1 %: too few
    assert not grey_trained_enough(None)
    assert grey_trained({"data": {"n_grey_train": 3, "n_train": 30}}) == (3, 30)
    assert grey_trained({"data": {"n_train": 30}}) is None and grey_trained({}) is None


def test_the_batch_summary_counts_in_agreement() -> None:
    """A trial read '(1 unlike the training images, 2 grey image for a colour model)': each
    noun agrees with its count, and so does the verb of one warned image."""
    from app.server import _batch_warning_line

    grey = grey_for_colour_model("L", (0, 30))
    line = _batch_warning_line(["Unlike the training images.", "", ""], [[], [grey], [grey]], 3)
    assert "3 of the 3 graded images carry a warning** (1 unlike the training images, " \
           "2 grey images for a colour model)" in line, line
    depth = other_depth_warning(("16-bit", 12), (("16-bit", 16, 30),))
    two = _batch_warning_line(["", ""], [[depth], [depth]], 2)
    assert "(2 images of another bit depth)" in two, two
    one = _batch_warning_line(["", ""], [[grey], []], 2)
    assert "1 of the 2 graded images carries a warning** (1 grey image for a colour model)" in one, one
    assert "its grade may mean nothing" in one
