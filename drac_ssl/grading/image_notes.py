"""What the app and the export command both say about an input image and a batch: one
function per sentence, so that the page, the batch CSV and the command line never drift
apart. Pure string functions (no torch), cheap to import from the app's upload checks.

* :func:`image_kind`: what a bundle's model grades (``octa``, ``fundus`` or ``image``),
  which decides whether a colour file is doubted as UW-OCTA.
* :func:`colour_for_grey_model`: a colour file read by a grey (1-channel) model; for a
  UW-OCTA model a doubt ("a colour picture may not be OCTA"), otherwise the ingest's
  conversion.
* :func:`grey_for_colour_model`: a grey picture read by a colour (3-channel) model.
* :func:`few_levels_warning`: an image of at most a few grey levels (a thresholded export, a
  vessel mask, a 1-bit file), doubted; :func:`describe_kind` names the model's kind of image.
* :func:`phantom_image_warning`: an upload that carries drac_ssl's phantom marker (a
  synthetic image, not a patient's): a doubt, or a plain note for a model trained on phantoms.
* :func:`depth_note` / :data:`DEPTH_NOTE` / :func:`is_plain_note`: a 16-bit (or 32-bit)
  file converted to 8-bit by the training ingest's rule: a plain note, not a doubt.
* :func:`other_depth_warning` / :data:`OTHER_DEPTH`: a file of another bit depth than every
  labelled training image (:func:`training_bit_depths`, a bundle's ``data.train_bit_depths``):
  a doubt, not a refusal; :func:`bit_depth_words` says the training images' depths,
  :func:`depth_words` one file's (the ingest's words too).
* :func:`file_finding`: any other finding of the decoder (transparency composited over
  black, CMYK converted without colour management, float samples scaled, an ICC profile not
  applied ...), ``Image file: `` and the ingest's own words; each one the decoder makes is a
  fact about the file, a plain note (:data:`PLAIN_FINDINGS`, :func:`is_plain_note`).
* :func:`fundus_crop_advice` / :data:`FUNDUS_CROP_DOES`: when to give the crop to the fundus
  disc (``data.fundus_crop=true``, ``--fundus-crop``) and what it does, the one wording of the
  README's first try and full run, docs/own_fundus_folder.md, configs/fundus.yaml and the
  squeezed photograph's warning.
* :func:`same_grade_words`: every image of a batch of at least :data:`SAME_GRADE_MIN`
  got one grade.
* :func:`decision_words`: why the grade shown is not the single most likely grade (the
  thresholds on the expected grade), the app's result and batch notes and the export's notes
  file.
* :func:`incomplete_line`: the ``INCOMPLETE:`` line of a batch some of whose files were
  not graded (the export's ``--skip-unreadable``, the app's batch tab).
* :func:`other_format` / :func:`not_an_image`: why a file is not graded, after its name
  (``x.webp: is a WEBP file``, ``notes.txt: is not an image (...; it holds plain text)``),
  in the app's upload checks, the export command and its submission check; :func:`holds_words`:
  what such a file holds, a text file's words never quoted;
  :func:`unread_image_format`: the ingest's words for an image file of a format it does not
  read (``.webp``), with :data:`CONVERT_FIX`.
* :func:`unreliable_reasons` / :data:`NOT_RELIABLY_GRADABLE`: which of an image's sentences
  make its grade *not reliably gradable* (the app's heading, the details JSON,
  :attr:`app.predict.Prediction.not_reliably_gradable`); :func:`doubt_kind` /
  :data:`DOUBT_KINDS`: the batch summary's name of each kind of doubt. Both match the openings
  of the sentences made here and by the other producers, from the producers' own constants
  (:data:`UNLIKE_TRAINING`, :data:`COLOUR_IMAGE`, :data:`TOO_SMALL`, :data:`NOT_SQUARE` ...);
  :func:`starts_a_warning` / :data:`WARNING_OPENINGS`: whether words start as any of them (or
  as a plain note), which tells a plain ``NAME: WORDS`` line's name from its words.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from drac_ssl.figures import percent_texts, tie_words, tied_grades

__all__ = [
    "COLOUR_ENCODED",
    "COLOUR_FILE_MODES",
    "COLOUR_IMAGE",
    "COLOUR_NOT_OCTA",
    "CONVERT_FIX",
    "DEPTH_CONVERTED",
    "DEPTH_NOTE",
    "DEPTH_NOTES",
    "DICOM_CONVERT_FIX",
    "DICOM_FIX",
    "DICOM_SUFFIXES",
    "DOUBT_KINDS",
    "MODALITY_DOUBTS",
    "MOSTLY_TRANSPARENT_FINDING",
    "FAR_BELOW",
    "FEW_LEVELS_OPENING",
    "FILE_FINDING",
    "FUNDUS_CROP_DOES",
    "GREY_ENOUGH",
    "GREY_NOT_GIVEN",
    "GREY_TRAINED_NOT_GIVEN",
    "GREY_IMAGE",
    "GREY_TRAINED_MIN",
    "GREY_TRAINED_RULE",
    "GREY_TRAINED_SHARE",
    "IMAGE_SUFFIXES",
    "NAMED_FORMATS",
    "NOT_RELIABLY_GRADABLE",
    "NOT_SQUARE",
    "NO_KNOWN_FORMAT",
    "NO_COLOUR",
    "OTHER_DEPTH",
    "OVERLAID_GREY",
    "OTHER_IMAGE_SUFFIXES",
    "PHANTOM_IMAGE",
    "PHANTOM_LIKE_TRAINING",
    "PHANTOM_WORDS",
    "PLAIN_FINDINGS",
    "PLAIN_TEXT",
    "PREPROCESSING_FINDING",
    "READ_FORMATS",
    "SMALLER_THAN_EXPORT",
    "TOO_SMALL",
    "TRAINING_IMAGE",
    "UNLIKE_KIND",
    "UNLIKE_TRAINING",
    "WARNING_OPENINGS",
    "as_sentence",
    "bit_depth_words",
    "colour_for_grey_model",
    "decision_words",
    "depth_note",
    "depth_words",
    "describe_kind",
    "doubt_kind",
    "few_levels_warning",
    "file_finding",
    "flagged_reasons",
    "fundus_crop_advice",
    "grey_for_colour_model",
    "grey_trained",
    "grey_trained_enough",
    "grey_training_words",
    "holds_words",
    "image_kind",
    "incomplete_line",
    "is_plain_note",
    "named_otherwise",
    "not_an_image",
    "other_depth_warning",
    "other_format",
    "overlaid_for_colour_model",
    "phantom_image_warning",
    "same_grade_words",
    "starts_a_warning",
    "training_bit_depths",
    "unread_image_format",
    "unreliable_reasons",
]

COLOUR_FILE_MODES = ("RGB", "RGBA", "CMYK", "YCbCr")
"""PIL pixel formats of a colour file: a grey picture in one (its channels identical) was
saved as colour, not a grey file (:func:`grey_for_colour_model`)."""

DEPTH_CONVERTED = ("image converted to 8-bit by the training ingest's rule (its bit depth judged from "
                   "this file alone)")
"""The words after the depth in the note on a deep file's conversion (:func:`depth_note`). The
rule is the ingest's (:func:`data_prep.decode.to_uint8`), but a dim 16-bit scan may be read at
another depth than the training images were (12 bits where they were 16: shifted by 4 where
they were by 8), so the words claim the rule, not the same result. Whether the result is the
training images' is said apart, where the bundle records their depths
(:func:`other_depth_warning`, a doubt); a bundle that does not says nothing of it."""

DEPTH_NOTE = f"16-bit {DEPTH_CONVERTED}"
"""How the note on a 16-bit file's conversion starts (:func:`depth_note`); a 32-bit file's
starts "32-bit" (:data:`DEPTH_NOTES`)."""

COLOUR_ENCODED = "Colour-encoded file"
"""How the note on an RGB file of a grey picture (three identical channels) read by a grey
model starts (:func:`colour_for_grey_model`): nothing is lost, so a plain note."""

TRAINING_IMAGE = "Training image"
"""How the app's note on an upload the model was trained on starts
(:data:`drac_ssl.grading.training_images.TRAINING_IMAGE_NOTE`): a fact about the file, not a
doubt about the image, so a plain note (:func:`is_plain_note`)."""

SMALLER_THAN_EXPORT = "Smaller than a UW-OCTA export"
"""How the app's note on a UW-OCTA upload below 256 px that is still at least the model's input
size starts (:func:`app.inputs.too_small_warning`): the model reads every image at its own
size, so the upload's size changes little of what it sees; a plain note, not a doubt."""

DEPTH_PREFIXES = ("16-bit", "32-bit")
"""How the decoder's findings on a deep file start (:func:`data_prep.validate.inspect_image`)."""

DEPTH_NOTES = tuple(f"{depth} {DEPTH_CONVERTED}" for depth in (*DEPTH_PREFIXES, "16- or 32-bit"))
"""How the note on a deep file's conversion starts, by the file's depth (:func:`depth_note`)."""

SAME_GRADE_MIN = 5
"""A batch of at least this many images all given one grade is said (:func:`same_grade_words`):
fewer may well share a grade."""

READ_FORMATS = "PNG, JPEG, TIFF or BMP"
"""The image formats the package reads (the app, the export command and the ingest)."""
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
"""File name suffixes (lower case; names are compared lower-cased) of :data:`READ_FORMATS`:
what the ingest takes as an image file, the export command as a case and the app's upload
widgets offer; the one list, so a format added here reaches all three."""

CONVERT_FIX = "convert it to PNG (lossless; JPEG, TIFF and BMP are read too)"
"""What to do with an image file of another format (:func:`other_format`,
:func:`unread_image_format`)."""

FUNDUS_CROP_DOES = "crops each photograph to its fundus disc and pads it to a square"
"""What the crop to the fundus disc (``data.fundus_crop=true``, the ingest's ``--fundus-crop``:
:func:`data_prep.fundus.crop_to_disc`) does, in the words of :func:`fundus_crop_advice` and of
the squeezed photograph's warning (:func:`drac_ssl.grading.predict.squeeze_finding`)."""


def fundus_crop_advice(option: str = "data.fundus_crop=true") -> str:
    """When to give the crop to the fundus disc and what it does, one sentence: ``option``
    (``data.fundus_crop=true`` for ``python -m drac_ssl.train``, ``--fundus-crop`` for
    ``python -m data_prep ingest``), :data:`FUNDUS_CROP_DOES`, for photographs with a black
    surround (most are not square: without it the ingest squeezes a non-square one square and
    warns, ``data_prep.cache``), not for photographs already cropped square (the crop finds no
    dark surround there and the ingest warns). The
    one wording of the advice: the README's first try and its full run (their comments),
    docs/own_fundus_folder.md and configs/fundus.yaml say it as it is
    (``tests/drac_ssl/test_fundus_crop_advice.py`` reads them)."""
    return (f"{option} {FUNDUS_CROP_DOES}, for photographs with a black surround around the disc "
            f"(most camera images: not square, and without it squeezed square); leave it out for "
            f"photographs already cropped square to the disc")


OTHER_IMAGE_SUFFIXES = {
    ".webp": "WEBP", ".gif": "GIF", ".heic": "HEIC", ".heif": "HEIF", ".avif": "AVIF",
    ".jp2": "JPEG 2000", ".j2k": "JPEG 2000", ".jpx": "JPEG 2000", ".jxl": "JPEG XL",
    ".ppm": "PPM", ".pgm": "PGM", ".pbm": "PBM", ".psd": "Photoshop", ".svg": "SVG",
    ".ico": "ICO", ".dng": "DNG (camera raw)", ".raw": "raw",
}
"""File name suffixes of image formats the package does not read, and the format's name: the
ingest says such a file is an image it cannot read (:func:`unread_image_format`), not "not an
image file"."""

UNLIKE_TRAINING = "Unlike the training images"
"""How the out-of-distribution check's sentence starts
(:meth:`drac_ssl.grading.ood.InputProfile.warning`)."""

OTHER_DEPTH = "Another bit depth than the training images"
"""How :func:`other_depth_warning`'s doubt starts: a file whose bit depth (and the bits its
8-bit copy came from) is none of the labelled training images'."""

COLOUR_IMAGE = "Colour image"
"""How :func:`colour_for_grey_model`'s words on a colour picture read by a grey model start."""

COLOUR_NOT_OCTA = ("UW-OCTA is grey; a colour picture may not be OCTA, and this model grades "
                   "UW-OCTA scans only: fundus photographs need a model trained on graded fundus "
                   "photographs (whoever runs this software can train one: the guide \"Your own "
                   "fundus photographs\" in its documentation)")
"""What :func:`colour_for_grey_model` adds for a UW-OCTA model: the doubt itself, and where to
go for fundus photographs, named in words, not as a file path (a clinician trial: the page read
"docs/own_fundus_folder.md", which is that guide's file) (a new-user trial graded her fundus photographs with the demonstration
model of README command (1), trained on grey UW-OCTA phantoms)."""

GREY_IMAGE = "Grey image"
"""How :func:`grey_for_colour_model`'s words on a grey file read by a colour model start (a
colour file of a grey picture: :data:`NO_COLOUR`)."""

TOO_SMALL = "Too small"
"""How the app's UW-OCTA size doubt starts (:func:`app.inputs.too_small_warning`)."""

FAR_BELOW = "px, far below"
"""What follows ``WxH`` in the model's own small-image warning
(:func:`drac_ssl.grading.predict.small_image_warning`: ``20x20 px, far below the 64 px ...``)."""

NOT_SQUARE = "Not square"
"""How the UW-OCTA non-square warning starts (:func:`app.inputs.sanity_warnings`); it says the
squeeze too, so the page leaves out the preprocessing's own line on it
(:meth:`app.predict.Predictor.image_warnings`)."""

PHANTOM_IMAGE = "Phantom image"
"""How :func:`phantom_image_warning`'s doubt starts: an upload that carries drac_ssl's phantom
marker, given to a model not trained on phantoms."""

PHANTOM_LIKE_TRAINING = "Phantom image, like this model's training images"
"""How :func:`phantom_image_warning`'s plain note starts (:func:`is_plain_note`): a marked
upload given to a model trained on phantom images, the kind it was trained on."""

PHANTOM_WORDS = "a synthetic phantom image drawn by drac_ssl, not a patient's"
"""What an image that carries drac_ssl's phantom marker is, in the app's words."""

PREPROCESSING_FINDING = "preprocessing as in training"
"""How the export's words on what the replayed preprocessing found start
(:func:`drac_ssl.grading.predict.preprocessing_warning`); the app says them capitalised."""

INCOMPLETE_SHOWN = 10
""":func:`incomplete_line` names at most this many files, then a count."""


def image_kind(recipe: str | None, channels: int, modality: str | None = None) -> str:
    """What a model grades: ``octa`` (UW-OCTA en-face images), ``fundus`` (fundus photographs)
    or ``image`` (anything else, e.g. a CIFAR-10 demonstration model).

    ``modality``: what the ingest recorded the training images to be (a bundle's
    ``data.modality``), which decides when present. Otherwise the augmentation ``recipe`` (a
    bundle's ``input.recipe``): ``fundus``; ``octa`` for a grey model (the default recipe:
    a colour model trained with it graded colour photographs, so ``fundus``); another recipe
    ``image``. Without either (an older bundle): ``octa`` for a grey model, ``fundus`` for a
    colour one."""
    if modality in ("octa", "fundus"):
        return modality
    if recipe == "fundus" or (recipe == "octa" and channels == 3):
        return "fundus"
    if recipe and recipe != "octa":
        return "image"
    return "octa" if channels == 1 else "fundus"


def phantom_image_warning(trained_on_phantoms: bool) -> str:
    """The app's sentence on an upload that carries drac_ssl's phantom marker
    (:func:`data_prep.decode.phantom_marked`: a PNG drawn by :mod:`data_prep.phantom`,
    :attr:`app.inputs.LoadedImage.phantom`), in its result, the API's ``warnings`` and the batch's
    notes column: for a model not trained on phantoms a doubt (:data:`PHANTOM_IMAGE`, counted by
    the batch summary as a synthetic phantom image: :data:`DOUBT_KINDS`); for a model trained on
    them (a bundle's ``data.kind`` ``phantom``) a plain note (:data:`PHANTOM_LIKE_TRAINING`:
    the demonstration's own kind of image). Neither makes the grade *not reliably gradable*: the
    model reads the picture as any other; what its grade says of an eye is nothing."""
    if trained_on_phantoms:
        return (f"{PHANTOM_LIKE_TRAINING}: {PHANTOM_WORDS} (the file carries drac_ssl's phantom "
                f"marker), graded as a demonstration.")
    return (f"{PHANTOM_IMAGE}: {PHANTOM_WORDS} (the file carries drac_ssl's phantom marker): its "
            f"grade says nothing about a real eye.")


COLOUR_OVERLAY = "a grey scan with a coloured overlay"
"""What :func:`colour_for_grey_model` calls a colour file read by a UW-OCTA model whose channels
differ in under :data:`data_prep.decode.OVERLAY_SHARE` of its pixels (a scale bar, text, a
logo): read as grey, as the training ingest reads one, and not doubted as a colour picture."""


def colour_for_grey_model(detail: str, octa: bool, overlay_share: float | None = None) -> str:
    """The sentence for a colour file read by a grey (1-channel) model, the same words in
    the app (:func:`app.inputs.sanity_warnings`) and the export command (after ``NAME: ``,
    :func:`drac_ssl.grading.predict.conform_channels`).

    ``detail``: what the conversion did, the decoder's words
    (:func:`data_prep.validate.convert_channels`: "RGB image (converted to grayscale:
    luminance of the colour channels)"). ``octa``: the model grades UW-OCTA images (:func:`image_kind`),
    which are grey: a colour picture may not be one, a doubt (the app says it under "This may
    not be a UW-OCTA en-face image"). Otherwise (a fundus set ingested as grey) the ingest
    converted the training images the same way. A file whose three channels are identical
    ("channels identical" in ``detail``) lost nothing: said as a colour-encoded file.
    ``overlay_share``: the share of pixels in colour (0..1) of a grey scan with a coloured
    overlay (the caller's test, :data:`data_prep.decode.OVERLAY_SHARE`; None: a colour
    picture): for a UW-OCTA model said as :data:`COLOUR_OVERLAY`, a doubt but not *not
    reliably gradable*, as the ingest reads such a file as a grey scan."""
    if "channels identical" in detail:
        return f"{COLOUR_ENCODED}: {detail}."
    if octa and overlay_share is not None:
        return (f"{COLOUR_IMAGE}: {detail}; colour in only {overlay_share:.1%} of the pixels: "
                f"{COLOUR_OVERLAY} (a scale bar, text or a logo), read as grey as the training "
                "ingest reads one; the overlay is graded with the scan as grey pixels: export the "
                "scan without it if you can.")
    if octa:
        return f"{COLOUR_IMAGE}: {detail}. {COLOUR_NOT_OCTA}."
    return f"{COLOUR_IMAGE}: {detail}, as the training ingest converted this grey model's images."


OVERLAID_GREY = "Grey picture with a coloured overlay"
"""How :func:`overlaid_for_colour_model`'s words start: a colour file read by a colour model whose
channels differ in under :data:`data_prep.decode.OVERLAY_SHARE` of its pixels (a grey scan with
a scale bar, text or a logo), a doubt (:data:`DOUBT_KINDS`: a grey image for a colour model)."""


def overlaid_for_colour_model(share: float) -> str:
    """The doubt about a grey picture with a coloured overlay (colour in ``share`` (0..1) of its
    pixels, under :data:`data_prep.decode.OVERLAY_SHARE`) given to a colour (3-channel) model: the
    ingest reads such a file as a grey scan, the colour model reads it in colour as it is."""
    return (f"{OVERLAID_GREY}: colour in only {share:.1%} of the pixels (a scale bar, text or a "
            "logo on a grey picture), read in colour as it is; if this is a grey scan (UW-OCTA, a "
            "red-free photograph), its grade is outside what this colour model saw and may mean "
            "nothing.")


NO_COLOUR = "No colour: the file's three channels are identical"
"""How :func:`grey_for_colour_model`'s words on a colour file of a grey picture start: read as
they are, not converted (the export's summary counts such files apart)."""


GREY_TRAINED_MIN = 20
"""A colour model grades a grey picture as reliably as a colour one only when at least this
many of its labelled training images were grey (:func:`grey_trained_enough`), and ..."""

GREY_TRAINED_SHARE = 0.05
"""... at least this share of them: a handful of grey pictures among thousands of colour ones
teach a model little about grey ones (a grey picture is then *not reliably gradable*,
:data:`NOT_RELIABLY_GRADABLE`)."""

GREY_TRAINED_RULE = (f"a grey picture counts as reliably gradable only when at least "
                     f"{GREY_TRAINED_MIN} of the model's labelled training images, and "
                     f"{GREY_TRAINED_SHARE:.0%} of them, were grey")
"""The rule of :func:`grey_trained_enough` in words: the ingest's warning on grey images, the
grading caveat and the model card say it."""

class _GreyTrainedNotGiven:
    """The type of :data:`GREY_TRAINED_NOT_GIVEN` (one instance)."""

    def __repr__(self) -> str:
        return "GREY_TRAINED_NOT_GIVEN"


GREY_TRAINED_NOT_GIVEN: Any = _GreyTrainedNotGiven()
"""The default ``grey_trained`` of :func:`drac_ssl.grading.predict.read_image` and
:func:`~drac_ssl.grading.predict.conform_channels`: the caller did not say how many grey images
the model saw (pass ``bundle.grey_trained``), apart from None, a bundle that does not record it.
:func:`grey_for_colour_model` then says so (:data:`GREY_NOT_GIVEN`) instead of wording the
warning for a model trained on colour photographs alone."""

GREY_NOT_GIVEN = "how many grey images the model saw in training was not given"
"""What :func:`grey_for_colour_model` says when the caller gave no ``grey_trained``
(:data:`GREY_TRAINED_NOT_GIVEN`): the verdict is left to the rule, not *not reliably gradable*
on a guess (:data:`NOT_RELIABLY_GRADABLE` leaves such a warning out, as it leaves out
:data:`GREY_ENOUGH`)."""

GREY_ENOUGH = "enough grey images to grade one"
"""What :func:`grey_for_colour_model` says of a model that saw enough grey images
(:func:`grey_trained_enough`): its warning then stays a doubt, not *not reliably gradable*."""


def grey_trained(metadata: dict[str, Any] | None) -> tuple[int, int] | None:
    """``(grey, total)``: how many of a bundle's labelled training images were grey pictures
    and how many there were (``metadata["data"]``'s ``n_grey_train`` and ``n_train``, from the
    ingest's ``ingest_summary.json`` ``channels.grey_train``); None when the bundle does not
    record it (built before it was recorded, or not from an ingest)."""
    data = (metadata or {}).get("data") or {}
    grey, total = data.get("n_grey_train"), data.get("n_train")
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (grey, total)):
        return None
    return int(grey), int(total)


def grey_trained_enough(trained: tuple[int, int] | None) -> bool:
    """Whether a colour model that saw ``trained`` = ``(grey, total)`` grey images among its
    labelled training images saw enough to grade a grey picture: at least
    :data:`GREY_TRAINED_MIN` and :data:`GREY_TRAINED_SHARE` of them. False for None (not
    recorded)."""
    if trained is None:
        return False
    grey, total = trained
    return grey >= GREY_TRAINED_MIN and grey >= GREY_TRAINED_SHARE * total


def grey_training_words(trained: tuple[int, int] | None) -> str:
    """``trained`` (:func:`grey_trained`) in words: ``the model saw 1 grey image among 30 in
    training``; for None ``the model was trained on colour photographs`` (a bundle that does
    not record its grey images)."""
    if trained is None:
        return "the model was trained on colour photographs"
    grey, total = trained
    return f"the model saw {grey} grey image{'' if grey == 1 else 's'} among {total} in training"


def grey_for_colour_model(mode: str = "", trained: tuple[int, int] | None | _GreyTrainedNotGiven = None) -> str:
    """The warning for a grey picture given to a colour (3-channel) model, the same words in
    the export command (after ``NAME: ``) and the app. ``mode``: the file's PIL pixel format;
    one of :data:`COLOUR_FILE_MODES` means a colour file whose three channels are identical
    (read as they are), anything else ("" for an array) a grey file replicated into three
    channels, as the ingest replicates grey files of a colour data set. ``trained``: how many
    grey images the model saw among its labelled training images (:func:`grey_trained`; None:
    not recorded; :data:`GREY_TRAINED_NOT_GIVEN`: not given by the caller, said so, and the
    warning is no verdict). With enough of them (:func:`grey_trained_enough`) the warning says
    :data:`GREY_ENOUGH` and is a doubt only; otherwise the picture is *not reliably gradable*
    (:data:`NOT_RELIABLY_GRADABLE`) and the warning says the rule (:data:`GREY_TRAINED_RULE`)."""
    first = (f"{NO_COLOUR} (a grey picture saved as colour), read as they are"
             if mode in COLOUR_FILE_MODES else
             f"{GREY_IMAGE}: replicated to 3 identical channels for this colour model, as the "
             "ingest does for grey files of a colour data set")
    other = ("if this is another kind of image (an OCTA scan, a red-free photograph), its grade "
             "is outside what the model saw and may mean nothing")
    if isinstance(trained, _GreyTrainedNotGiven):  # a library caller that did not say
        return (f"{first}; {GREY_NOT_GIVEN} (pass grey_trained="
                f"bundle.grey_trained, as the app and the export do): {GREY_TRAINED_RULE}; {other}.")
    if trained is None:
        return f"{first}. The model was trained on colour photographs: {other}."
    seen = grey_training_words(trained)
    if grey_trained_enough(trained):
        return (f"{first}. A grey picture: {seen}, {GREY_ENOUGH}; still, {other}.")
    return (f"{first}. A grey picture: {seen}, too few to grade one reliably ({GREY_TRAINED_RULE}): "
            f"{other}.")


def describe_kind(kind: str, channels: int) -> str:
    """``kind`` (:func:`image_kind`) in the words of the page, e.g. "grey fundus photograph"."""
    colour = "colour" if channels == 3 else "grey"
    if kind == "octa":
        return "UW-OCTA image"
    return f"{colour} fundus photograph" if kind == "fundus" else f"{colour} image"


def few_levels_warning(levels: list[list[int]] | None, mode: str = "L", kind: str = "octa",
                       channels: int = 1) -> str:
    """The warning for an image of at most :data:`data_prep.validate.FEW_LEVELS` distinct values
    per channel (``levels``: :func:`data_prep.validate.few_levels`' values, one list per channel;
    None or [] for an image with more: ""): ``Only 2 grey levels (0 and 255; a 1-bit file): a
    thresholded export or a vessel mask, not a UW-OCTA en-face image; grade the original
    image.`` A colour image whose channels differ says ``levels per colour channel``.
    ``mode``: the file's PIL mode (``1``: a 1-bit file, said); ``kind`` and ``channels``: the
    model's (:func:`describe_kind`), for what the image is not. A doubt, not a refusal: a
    mask still shows where the vessels are, and the blank and noise refusals are for images
    with nothing to grade (a review found a thresholded DRAC scan graded PDR at P 0.996 without
    a word)."""
    if not levels:
        return ""
    n = max(len(values) for values in levels)

    def words(values: list[int]) -> str:
        shown = [str(v) for v in values]
        return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} and {shown[-1]}"

    one_bit = "; a 1-bit file" if mode == "1" else ""
    plural = "s" if n != 1 else ""
    if len(levels) == 1 or all(values == levels[0] for values in levels):
        found = f"{n} grey level{plural}" if len(levels) == 1 else f"{n} level{plural} per colour channel"
        found += f" ({words(levels[0])}{one_bit})"
    else:
        found = (f"{n} level{plural} per colour channel ("
                 + ", ".join(f"{name} {words(values)}" for name, values
                             in zip(("red", "green", "blue"), levels, strict=False)) + f"{one_bit})")
    what = ("a UW-OCTA en-face image" if kind == "octa" else
            f"a {describe_kind(kind, channels)}" if kind == "fundus" else
            "the kind of image the model was trained on")
    return (f"Only {found}: a thresholded export or a vessel mask, not {what}; grade the original "
            f"image.")


def dithered_words(levels: list[list[int]]) -> str:
    """What a picture of few levels (``levels``: :func:`data_prep.validate.few_levels`' values,
    one list per channel) whose neighbouring pixels are unrelated is: ``a 1-bit (dithered)
    black-and-white export`` for at most 2 levels in each channel, else ``a dithered export of
    N levels``. The one wording of the app's refusal (:func:`app.inputs.refusal`) and the
    export's ``--skip-unreadable`` (:func:`drac_ssl.grading.batch.nothing_to_grade_problem`),
    on a grey or a colour model alike (reviewer F5)."""
    n = max((len(values) for values in levels), default=0)
    return ("a 1-bit (dithered) black-and-white export" if n <= 2 else
            f"a dithered export of {n} levels")


FEW_LEVELS_OPENING = r"Only \d+ (?:grey )?levels?"
"""How :func:`few_levels_warning` starts, a regular expression (the tables below read it; the
export command counts these warnings apart)."""


def depth_note(mode: str, findings: Sequence[str]) -> tuple[str, list[str]]:
    """``(note, said)``: the plain note (``16-bit`` or ``32-bit`` as the file is, then
    :data:`DEPTH_CONVERTED` ": detail.") on a 16-bit or 32-bit file converted to 8-bit, "" for
    another file; and the decoder's ``findings`` it says (those starting "16-bit" /
    "32-bit"), which the caller then leaves out of its own list.

    ``mode``: the file's PIL pixel format (``I;16``, ``I``: deep even when the decoder said
    nothing); ``findings``: the decoder's words (:func:`data_prep.validate.inspect_image`'s
    problems' ``what``)."""
    said = [n for n in findings if n.startswith(DEPTH_PREFIXES)]
    if not said and not (mode.startswith("I;16") or mode == "I"):
        return "", []
    detail = said[0] if said else "converted by the training ingest's rule (its bit depth judged from this file alone)"
    # the depth the decoder found; without its words, the file's mode (I: 32-bit integers,
    # or 16-bit samples an older Pillow opens as I)
    depth = (said[0].split(" ", 1)[0] if said else "16-bit" if mode.startswith("I;16") else "16- or 32-bit")
    return f"{depth} {DEPTH_CONVERTED}: {detail}.", said


def training_bit_depths(metadata: dict[str, Any] | None) -> tuple[tuple[str, int, int], ...] | None:
    """``((file, bits_used, n_train), ...)``: how a bundle's labelled training images became
    8-bit, one group per line (``metadata["data"]["train_bit_depths"]``, from the ingest's
    ``ingest_summary.json`` ``bit_depths``: ``("16-bit", 12, 41)`` 41 images of 16-bit samples
    whose top 12 bits were used); groups of one depth in several pixel formats are merged.
    None when the bundle does not record them (built before they were, or not from an
    ingest) or the record is malformed: nothing is compared then (:func:`other_depth_warning`)."""
    groups = ((metadata or {}).get("data") or {}).get("train_bit_depths")
    if not isinstance(groups, list) or not groups:
        return None
    merged: dict[tuple[str, int], int] = {}
    for group in groups:
        file, used, n = ((group.get("file"), group.get("bits_used"), group.get("n_train"))
                         if isinstance(group, dict) else (None, None, None))
        if not (isinstance(file, str) and all(isinstance(v, int) and not isinstance(v, bool)
                                              for v in (used, n))):
            return None
        merged[(file, int(used))] = merged.get((file, int(used)), 0) + int(n)
    return tuple((file, used, n) for (file, used), n in merged.items())


def depth_words(file: str, used: int, encoding: str = "") -> str:
    """``16-bit``, ``16-bit read as 12-bit data``, ``8-bit``, ``1-bit``, ``float``: how a file's
    samples became 8-bit (a :attr:`data_prep.decode.SampleDepth.scaling`: its samples ``file``,
    the bits ``used``) in words; ``encoding`` (``grey``, ``RGB``), when given, after the samples
    (``16-bit grey read as 12-bit data``). The one wording of grading's doubt
    (:func:`other_depth_warning`), the model card's (:func:`bit_depth_words`) and the ingest's
    groups of files converted alike (:func:`data_prep.ingest.group_depth_words`)."""
    as_is = file in ("8-bit", "1-bit") or file == f"{used}-bit" or (file == "float" and used == 8)
    samples = f"{file} {encoding}" if encoding else file
    return samples if as_is else f"{samples} read as {used}-bit data"


def bit_depth_words(trained: Sequence[tuple[str, int, int]]) -> str:
    """``8-bit (611 images)`` or ``16-bit (40 images), 16-bit read as 12-bit data (1 image)``:
    the training images' depths (:func:`training_bit_depths`), for :func:`other_depth_warning`
    and the model card."""
    return ", ".join(f"{depth_words(file, used)} ({n} image{'' if n == 1 else 's'})"
                     for file, used, n in trained)


def other_depth_warning(depth: tuple[str, int], trained: Sequence[tuple[str, int, int]] | None) -> str:
    """The doubt on a file whose values are on another scale than every labelled training
    image's, "" when one group's are on its scale, for a 1-bit file, or when ``trained`` is None
    (a bundle that does not record them: unknown, nothing said). ``depth``: the file's
    :attr:`data_prep.decode.SampleDepth.scaling` (``("16-bit", 12)``: 16-bit samples, the top
    12 bits used), read by the ingest's rule (:func:`data_prep.decode.sample_depth`);
    ``trained``: :func:`training_bit_depths`.

    The scale is the bits used, whose top 8 became the 8-bit copy (``value >> (used - 8)``):
    files with the same bits used are read alike whatever their container (a 16-bit file
    holding 8-bit values, or an 8-bit picture saved as ``value * 257``, which the decoder reads
    as 8-bit data, :data:`data_prep.decode.X257_WORDS`, is read as an 8-bit file is). Files
    whose bits used differ were rescaled otherwise: a 16-bit scan among 8-bit training images
    (``>> 8`` where they were used as they are), or a dim 16-bit scan read as 12-bit data
    where the training scans were read at 16 bits (brightened 16 times more), so its
    brightness may be off. A 1-bit file is not compared: its two levels become 0 and 255, the
    ends of an 8-bit range, and :func:`few_levels_warning` says what matters about it (a mask).
    A doubt, not a refusal and not *not reliably gradable* (:data:`NOT_RELIABLY_GRADABLE`):
    the picture is of the kind the model grades; the input check (:data:`UNLIKE_TRAINING`)
    judges whether its brightness left what the model saw. The app
    (:meth:`app.predict.Predictor.upload_warnings`) and the export command (after ``NAME: ``,
    :func:`drac_ssl.grading.predict.read_image`) say the same sentence."""
    file, used = depth
    if not trained or file == "1-bit" or any(used == trained_used for _, trained_used, _ in trained):
        return ""
    return (f"{OTHER_DEPTH}: this file is {depth_words(*depth)}, the model's labelled training "
            f"images were {bit_depth_words(trained)}: its pixel values may not be scaled to 8 bits "
            f"as theirs were, so its brightness, and its grade, may be off; export it as the "
            f"training images were, if you can.")


SEVERAL_FRAMES = r"(?:animated PNG|animated GIF|multi-page TIFF|\w+ file) with \d+ (?:frames|pages): only the first is used"
"""The decoder's words (:func:`data_prep.decode.decode`) for a file of several frames or
pages of which the first is read (a multi-page TIFF, an animation; not an MPO's primary
picture): a warning at the ingest (fatal with ``--strict``), and in the app and the export a
finding that makes the image *not reliably gradable* (:data:`NOT_RELIABLY_GRADABLE`): which
page is the scan to grade is not known (a stack of scan areas, a thumbnail first)."""

MOSTLY_TRANSPARENT_FINDING = "mostly transparent: "
"""The decoder's words (:data:`data_prep.decode.MOSTLY_TRANSPARENT`) for a file whose alpha
channel hides more than :data:`data_prep.decode.MOSTLY_TRANSPARENT_SHARE` of the picture: in
the app and the export a finding that makes the image *not reliably gradable*
(:data:`NOT_RELIABLY_GRADABLE`), as a 1-bit mask or a multi-page TIFF does; a smaller
transparent part stays a plain note (:data:`PLAIN_FINDINGS`)."""

FILE_FINDING = "Image file: "
"""How a decoder finding starts in the app and the export (:func:`file_finding`)."""


def file_finding(what: str) -> str:
    """``Image file: WHAT.``: a finding of the decoder (:func:`data_prep.validate.inspect_image`'s
    problems' ``what``, the words the ingest prints) other than the 16-bit note
    (:func:`depth_note`) and the conversion to the model's channels, in the app's words
    (:func:`app.inputs.sanity_warnings`, :func:`app.inputs.colour_model_warnings`) and the
    export command's (after ``NAME: ``, :func:`drac_ssl.grading.predict.read_image`): e.g.
    ``Image file: 50.0% of the pixels are (partly) transparent: composited over black ...``."""
    return f"{FILE_FINDING}{what}."


PLAIN_FINDINGS: tuple[tuple[str, str], ...] = (
    (r"(?:Exif|TIFF) Orientation \d: shown ",
     "an orientation applied: the image is turned upright as a viewer shows it"),
    (r"Exif Orientation .* is not a valid value|the Exif block cannot be read",
     "an orientation tag that cannot be used: the pixels are used as stored, as a viewer that "
     "ignores the tag shows them; the models train on flipped and 90-degree-rotated images, "
     "and the page shows the image the model read"),
    (r"multi-picture JPEG \(MPO\) with \d+ pictures: the primary",
     "the primary picture of an MPO used (its others are a camera's previews or the other eye "
     "of a stereo pair): it is the image graded and shown"),
    (r"multi-page TIFF with \d+ pages: the first is used, the others being a preview",
     "the first page of a TIFF used whose other pages are a declared preview (NewSubfileType "
     "bit 0) or copies of it (:func:`data_prep.decode.decode`): it is the image graded and shown"),
    (r"embedded ICC colour profile .* not applied|PNG gAMA .* not applied"
     r"|PNG cHRM chromaticities other than sRGB's not applied",
     "a colour profile, gamma or chromaticities not applied: the pixel values are used as "
     "stored, as the training ingest read its images (and public DR models read theirs)"),
    (r"(?:CMYK|CIELAB|HSV)\b.* image converted to RGB without colour management",
     "CMYK, Lab or HSV converted to RGB: approximate colours of the same picture (a colour "
     "picture on a grey UW-OCTA model is doubted on its own, :func:`colour_for_grey_model`)"),
    (r"[\d.]+% of the pixels are \(partly\) transparent: composited over black",
     "transparency composited over black, as the training ingest composites it; the page "
     "shows the composited image that was graded"),
    (r"the alpha channel holds one value everywhere",
     "an alpha channel of one value in every pixel (no mask) ignored, as the training ingest "
     "ignores it (:data:`data_prep.decode.CONSTANT_ALPHA`): the colour values are used as stored"),
    (r"float image",
     "float samples scaled to 8 bits, as the training ingest scales them (the 16-bit "
     "conversion's counterpart, :data:`DEPTH_NOTES`)"),
    (r"non-square pixels \(.*\) not corrected",
     "a resolution tag of non-square pixels not applied: the image is used on its pixel grid, "
     "as the training ingest uses it (an image whose grid is not square is doubted on its own)"),
    (r"\d+ byte\(s\) (?:after|before) the |the PNG has no complete IEND end chunk"
     r"|the PNG's end chunk IEND fails its CRC check",
     "bytes after a complete image ignored, or a missing or damaged end chunk (IEND carries no "
     "data): the image is complete"),
    (r"Pillow cannot open this file; decoded by OpenCV",
     "decoded by OpenCV, as the ingest and the export decode it"),
    (r"an? (?:PNG|JPEG|TIFF|BMP) file, though named \.",
     "a file whose name's suffix names another format it reads (a JPEG named .png), read by its "
     "content as in training (:func:`drac_ssl.grading.image_file.misnamed_finding`): the grade "
     "is the content's; the note says to rename it"),
    (r"damaged PNG metadata left out: ",
     "a metadata chunk failing its CRC check left out, as the PNG specification has a decoder "
     "ignore an ancillary chunk it cannot use: the image data pass their own CRC checks, so "
     "the pixels are those written (a damaged image-data chunk is refused)"),
)
"""The decoder's findings (:func:`data_prep.decode.decode`, said as :func:`file_finding`) that
are facts about the file, not doubts about what the picture is, each a pattern of the
decoder's words (matched at their start) and why it is plain. Every finding the decoder makes
is here (``tests/app/test_file_findings.py`` makes each from a real scan); a finding not
listed is a doubt until it is decided. The doubts about a picture come from its content, not
its file: colour on a grey UW-OCTA model, grey on a colour model, too small, not square,
blank, noise, unlike the training images."""

_PLAIN_FINDING = re.compile("|".join(f"(?:{pattern})" for pattern, _ in PLAIN_FINDINGS))


def is_plain_note(warning: str) -> bool:
    """True for a sentence about an image that is information, not a doubt about the image:
    the 16-bit conversion (:data:`DEPTH_NOTE`), which the training ingest and the export
    command do the same way, a grey picture saved as an RGB file read by a grey model
    (:data:`COLOUR_ENCODED`: nothing is lost; the export says nothing of it), a UW-OCTA upload
    smaller than an export but at least the model's input size (:data:`SMALLER_THAN_EXPORT`: the
    model reads it at its own size anyway; the app's words only), a file the model was trained on
    (:data:`TRAINING_IMAGE`: its grade is no test, but no less a grade), a phantom image given to
    a model trained on phantoms (:data:`PHANTOM_LIKE_TRAINING`), and a finding of
    the decoder about the file (``Image file: ...``, :func:`file_finding`) listed in
    :data:`PLAIN_FINDINGS`: an Exif orientation applied, an MPO's primary picture used, an
    ICC profile not applied, transparency composited ... The page says such lines as
    notes ("Note: ..."), not under its "may not be a UW-OCTA en-face image" / "check this
    image" heading, and the grade is not marked "see above" for them
    (:func:`app.server._result_markdown`); the batch's notes column starts them "Note:"
    (:meth:`app.predict.Predictor.grade_prepared`). The export command prints the 16-bit note
    as ``note:``, and the decoder's findings as the page says them (its notes and the plain
    findings ``note:``, its other warnings ``warning:``, :func:`drac_ssl.grading.predict.read_image`)."""
    if warning.startswith((*DEPTH_NOTES, COLOUR_ENCODED, SMALLER_THAN_EXPORT, TRAINING_IMAGE,
                           PHANTOM_LIKE_TRAINING)):
        return True
    return warning.startswith(FILE_FINDING) and _PLAIN_FINDING.match(warning, len(FILE_FINDING)) is not None


UNLIKE_KIND = "unlike the training images"
"""The reason (:data:`NOT_RELIABLY_GRADABLE`) and the batch summary's kind (counted apart from
:data:`DOUBT_KINDS`, ``app.server._batch_warning_line``) of the out-of-distribution warning
(:data:`UNLIKE_TRAINING`)."""

NOT_RELIABLY_GRADABLE: tuple[tuple[str, str], ...] = (
    (re.escape(UNLIKE_TRAINING), UNLIKE_KIND),
    (f"{re.escape(COLOUR_IMAGE)}: .*{re.escape(COLOUR_NOT_OCTA)}", "a colour picture, not UW-OCTA"),
    (f"(?:{re.escape(GREY_IMAGE)}|{re.escape(NO_COLOUR)})"
     f"(?!.*(?:{re.escape(GREY_ENOUGH)}|{re.escape(GREY_NOT_GIVEN)}))",
     "a grey picture for a colour model"),
    (FEW_LEVELS_OPENING, "a thresholded export or mask"),
    (rf"\d+x\d+ {re.escape(FAR_BELOW)}", "far smaller than the model's input"),
    (rf"{re.escape(FILE_FINDING)}{SEVERAL_FRAMES}", "one page or frame of several graded"),
    (re.escape(FILE_FINDING + MOSTLY_TRANSPARENT_FINDING), "mostly transparent"),
)
"""The warnings about an image that make its result *not reliably gradable*: the app's page
then heads it so ("### Not reliably gradable (unlike the training images) — model output: Grade
0 Normal (P 0.80)", :func:`app.server.grade_heading`), the details JSON lists the reasons
(``not_reliably_gradable``, :attr:`app.predict.Prediction.not_reliably_gradable`), and a batch
with such an image names its grades CSV ``grades_FLAGGED.csv`` (:data:`app.server.FLAGGED_CSV`).
Each is a regular expression matched at the start of a warning as the app's page says it
(:meth:`app.predict.Predictor.image_warnings`: the export's own words capitalised, with a full
stop; the export's ``NAME: `` lines are not read by it) -> the reason in a few words. The rule: a warning that says the picture is not the kind
of image the model grades, or that the grade is unreliable: the input check's "unlike the
training images" (:mod:`drac_ssl.grading.ood`), a colour picture given to a grey UW-OCTA model
(not the colour conversion of a grey fundus model, whose training ingest converted its images
the same way), a grey picture given to a colour model that saw too few grey images in training
(:data:`GREY_TRAINED_RULE`; one that saw enough keeps the plain "see above" heading), at most 4 levels
(:func:`few_levels_warning`: a thresholded export or a vessel mask), an image far smaller
than the model's input (below half of it: upscaled, "the grade is unreliable"), and a file of
several pages or frames of which only the first is graded (:data:`SEVERAL_FRAMES`, a warning
at the ingest too), and a file whose alpha channel hides most of the picture
(:data:`MOSTLY_TRANSPARENT_FINDING`: what is graded is largely black the scan was not). Other doubts
(not square, smaller than the model's input but above half of it, a preprocessing finding, a
finding in the file not known to be plain) and the model's "no better than chance" caveat keep
the plain heading marked "(⚠ see above)"; plain notes (an Exif orientation applied, a 16-bit
file converted, a file smaller than a UW-OCTA export that the model reads at its own size
anyway: :func:`is_plain_note`) change nothing."""


def unreliable_reasons(warnings: Sequence[str]) -> list[str]:
    """The reasons (:data:`NOT_RELIABLY_GRADABLE`, in its order, each once) that ``warnings``
    (an image's sentences; a plain note starting "Note:" never matches) make its grade not
    reliably gradable; [] for none."""
    found = {reason for w in warnings for pattern, reason in NOT_RELIABLY_GRADABLE if re.match(pattern, w)}
    return [reason for _, reason in NOT_RELIABLY_GRADABLE if reason in found]


def as_sentence(words: str) -> str:
    """A warning in the export's words (``"grey image: ..."``, ``"preprocessing as in
    training: ..."``: the ``NAME: `` prefix of its stderr line removed) as the app's page says
    it: its first letter capitalised and a full stop at the end (:meth:`app.predict.Predictor.image_warnings`);
    "" stays ""."""
    return f"{words[0].upper()}{words[1:]}." if words else words


def flagged_reasons(unlike: bool | str, warnings: Sequence[str]) -> list[str]:
    """The reasons (:func:`unreliable_reasons`) one graded image is *not reliably gradable*,
    the one rule of the app's batch (its ``grades_FLAGGED.csv``) and the export's notes file
    (``<stem>_notes.csv``): ``unlike`` its out-of-distribution result (the app: the warning
    sentence, "" for none; the export: the flag of
    :attr:`drac_ssl.grading.predict.GradedImages.unlike`, which says it as :data:`UNLIKE_TRAINING`),
    ``warnings`` what else was said of the image, in the page's sentences or the export's
    words without the ``NAME: `` prefix (capitalised here as the page says them); plain notes
    ("Note: ...") never count. [] for an image graded without a doubt of those kinds."""
    said = [UNLIKE_TRAINING] if unlike is True else [unlike] if isinstance(unlike, str) and unlike else []
    return unreliable_reasons([*said, *(w[:1].upper() + w[1:] for w in warnings)])


DOUBT_KINDS: tuple[tuple[str, str], ...] = (
    (rf"{re.escape(TOO_SMALL)}|\d+x\d+ {re.escape(FAR_BELOW)}", "too small"),
    (FEW_LEVELS_OPENING, "thresholded export or mask"),
    (re.escape(COLOUR_IMAGE), "colour image"),
    (f"{re.escape(GREY_IMAGE)}|{re.escape(NO_COLOUR)}|{re.escape(OVERLAID_GREY)}", "grey image for a colour model"),
    (re.escape(NOT_SQUARE), "not square"),
    (f"{re.escape(PHANTOM_IMAGE)}:", "synthetic phantom image"),
    (re.escape(OTHER_DEPTH), "image of another bit depth"),
    (re.escape(PREPROCESSING_FINDING[0].upper() + PREPROCESSING_FINDING[1:]), "preprocessing finding"),
    (re.escape(FILE_FINDING), "finding in the file"),
)
"""How the app's batch summary names each kind of doubt about a graded image
(:func:`doubt_kind`): a regular expression matched at the start of the warning as the page
says it (:meth:`app.predict.Predictor.image_warnings`) -> a few words."""


MODALITY_DOUBTS: tuple[str, ...] = ("thresholded export or mask", "colour image", "synthetic phantom image")
"""The kinds of :data:`DOUBT_KINDS` that doubt what an image is (a thresholded export or mask, a
colour picture, a phantom), not its file (a size, a bit depth, a shape, a finding of the
decoder): with :data:`UNLIKE_TRAINING` (:data:`UNLIKE_KIND`, counted apart) the doubts that head
a UW-OCTA model's warnings "This may not be a UW-OCTA en-face image"
(``app.server.doubts_modality``)."""


def doubt_kind(warning: str) -> str:
    """The kind of a doubt about an image (one of its warnings that is not a plain "Note:"), in
    the batch summary's words (:data:`DOUBT_KINDS`); ``other warning`` for one not listed."""
    for pattern, kind in DOUBT_KINDS:
        if re.match(pattern, warning):
            return kind
    return "other warning"


WARNING_OPENINGS: tuple[str, ...] = (
    *(pattern for pattern, _ in NOT_RELIABLY_GRADABLE),
    *(pattern for pattern, _ in DOUBT_KINDS),
    *(re.escape(opening) for opening in (*DEPTH_NOTES, COLOUR_ENCODED, SMALLER_THAN_EXPORT,
                                         TRAINING_IMAGE, PHANTOM_LIKE_TRAINING)),
)
"""How every sentence said of an image starts, the producers' openings (regular expressions
matched at the start of the words, the first letter as the page capitalises it): the doubts
(:data:`NOT_RELIABLY_GRADABLE`, :data:`DOUBT_KINDS`, :data:`FILE_FINDING` among them) and the
plain notes (:data:`DEPTH_NOTES`, :data:`COLOUR_ENCODED` ...: :func:`is_plain_note`). For
:func:`starts_a_warning`."""

_WARNING_OPENING = re.compile("|".join(f"(?:{pattern})" for pattern in WARNING_OPENINGS))


def starts_a_warning(words: str) -> bool:
    """Whether ``words`` start as one of the sentences said of an image (:data:`WARNING_OPENINGS`),
    in the page's words or the export's (``too small ...``, ``preprocessing as in training:
    ...``: its first letter lower case). :func:`drac_ssl.grading.predict.grade_images` tells a
    plain ``NAME: WORDS`` line's name from its words by it when no paths are given."""
    return _WARNING_OPENING.match(words[:1].upper() + words[1:]) is not None


def same_grade_words(grades: Sequence[int], grade_names: Sequence[str]) -> str | None:
    """``All 10 images got the same grade (1 Mild)`` when a batch of at least
    :data:`SAME_GRADE_MIN` images was given one grade, else None: the words of the app's batch
    summary and of the export command, each of which adds where to check the kind of image the
    model was trained on (a model that grades everything alike, or images unlike its
    training images). ``grades``: the graded images' grades 0..K-1."""
    given = {int(g) for g in grades}
    if len(grades) < SAME_GRADE_MIN or len(given) != 1:
        return None
    g = given.pop()
    name = f"{g} {grade_names[g]}" if 0 <= g < len(grade_names) else f"grade {g}"
    return f"All {len(grades)} images got the same grade ({name})"


def decision_words(probs: Sequence[float], grade: int, grade_names: Sequence[str], decision: str,
                   regression: bool = False, thresholds: Sequence[float] = (),
                   calibrated: bool = True, likely_said: bool = False, referral: Any = None) -> str:
    """Why the grade shown is not the single most likely grade, in a clinician's words, or ""
    when it is: the one sentence of the app's single-image result (under the grade), of each
    such row of its batch's notes, and of the export's notes file (``grade_note``).

    The thresholds on the expected grade (``decision`` ``thresholds``: Σ k·P_k cut at the
    kappa-tuned thresholds), or a regression head's score (``regression``), can give another
    grade than the largest probability: "The single most likely grade is 1 NPDR (54%); the
    model's overall score, which weighs all grades, falls in the 0 Normal range, the grade
    shown." The probabilities are whole percentages, the K rounded together
    (:func:`drac_ssl.figures.percent_texts`: the page's one precision). When another grade ties
    with the largest at that precision (:func:`drac_ssl.figures.tied_grades`, the one tie rule:
    equal whole percentages rounded alone or together; 0.333 / 0.334 / 0.333 is a tie), no grade
    is called the single most likely: the tied grades are named, in grade order ("0 Normal and 2
    PDR are equally likely (45% each); ...", ``46% each`` for 0.455 / 0.09 / 0.455, shown 46 /
    9 / 46, the figure of the cells; ``about 33% each`` for 0.333 / 0.334 / 0.333, shown 33 / 34
    / 33: :func:`drac_ssl.figures.tie_words`),
    whichever grade is shown; with ``likely_said`` (the page's borderline line above it has
    named them already, :func:`app.predict.borderline_words`) the sentence leaves that out:
    "The model's overall score, which weighs all grades, falls in the 2 PDR range, the grade
    shown." (a trial: a 5-grade result said the grades were close twice, in two lines). ``probs``
    ``(K,)`` the calibrated probabilities, ``grade`` the grade shown (0..K-1), ``grade_names``
    the K names as they are to be printed (the app escapes them for its page). "" for the
    most probable grade's rule (``decision`` ``argmax``).

    Two grades with a classification head and the threshold given (``thresholds``, the
    bundle's one cut of P1): the expected grade is P1, so the sentence says P(grade 1) against
    that threshold, the referral rule of a two-grade bundle: "P(referable) 0.509 is below the
    referral threshold 0.512, so the grade shown is 0 non-referable (...)" or "... is at or
    above ..., so the grade shown is 1 referable (...)"; both figures with 3 decimals, more
    where those would print them equal. (It said "the single most likely grade is 1 referable
    (51%); the model's overall score, which weighs all grades, falls in the 0
    non-referable range", which names no threshold.)

    ``calibrated`` False (the bundle's calibration failed,
    :func:`drac_ssl.grading.bundle.calibration_failed`: the percentages are likely to be flat, or
    0 and 100): the same condition, said without a percentage or a most likely grade, which
    those percentages cannot tell: "The grade shown is 1 NPDR: the model's overall score, which
    weighs all grades, falls in its range; the percentages cannot say which grade is most
    likely, as they are not calibrated." (a review: a flat 0.33 / 0.33 / 0.33
    result said "0 Normal, 1 NPDR and 2 PDR are equally likely (P 0.33 each)" under a warning
    to ignore those figures). A two-grade bundle's says the referral threshold without figures.

    ``referral``: a two-grade bundle's referral cut that decides its grade
    (:class:`drac_ssl.grading.model.ReferralCut`, ``finetune.referral_target``; whatever
    ``decision``, ``regression`` and ``thresholds`` say): P(grade 1) against that cut, naming the
    target it was set for ("... is below the referral cut 0.231, set for sensitivity >= 0.90 on
    the out-of-fold outputs, so the grade shown is 0 ...")."""
    if referral is not None and len(probs) == 2:
        p1, g = float(probs[1]), int(grade)
        pair = [float(p) for p in probs]
        if len(tied_grades(pair)) < 2 and max(range(2), key=pair.__getitem__) == g:
            return ""  # the grade shown is the single most likely one: nothing to explain
        if not calibrated:
            side = "below" if g == 0 else "at or above"
            return (f"The grade shown is {g} {grade_names[g]}: the model's output for {grade_names[1]} is "
                    f"{side} the referral cut set for {referral.words()} on the out-of-fold outputs; the "
                    f"percentages cannot say which grade is most likely, as they are not calibrated.")
        return _threshold_words(p1, float(referral.cut), g, grade_names, referral.words())
    if decision == "argmax":
        return ""
    values = [float(p) for p in probs]
    shown = percent_texts(values)  # the precision the page shows, the K rounded together
    tied = tied_grades(values)  # the one tie rule (the Borderline line's, the milder-grade warning's)
    top = max(range(len(values)), key=values.__getitem__)  # the first of equal maxima
    if len(tied) < 2 and top == int(grade):
        return ""
    if not calibrated:
        g = int(grade)
        if len(values) == 2 and not regression and len(thresholds) == 1:
            side = "below" if g == 0 else "at or above"
            why = (f"the model's output for {grade_names[1]} is {side} the referral threshold "
                   f"tuned on the out-of-fold outputs")
        else:
            why = (f"the model's {'score' if regression else 'overall score, which weighs all grades,'} "
                   f"falls in its range")
        return (f"The grade shown is {g} {grade_names[g]}: {why}; the percentages cannot say which "
                f"grade is most likely, as they are not calibrated.")
    if len(values) == 2 and not regression and len(thresholds) == 1:
        return _threshold_words(values[1], float(thresholds[0]), int(grade), grade_names)
    graded = [f"{k} {grade_names[k]}" for k in tied]
    if len(tied) > 1:
        who = ", ".join(graded[:-1]) + f" and {graded[-1]}"
        likely = f"{who} are equally likely ({tie_words(values, tied)})"
    else:
        likely = f"The single most likely grade is {graded[0]} ({shown[top]})"
    score = "the model's score" if regression else "the model's overall score, which weighs all grades,"
    where = f"{score} falls in the {int(grade)} {grade_names[int(grade)]} range, the grade shown."
    if likely_said and len(tied) > 1:
        return where[0].upper() + where[1:]
    return f"{likely}; {where}"


def _threshold_words(p1: float, threshold: float, grade: int, grade_names: Sequence[str],
                     target: str = "") -> str:
    """:func:`decision_words` of a two-grade bundle: P(grade 1) ``p1`` against its referral
    ``threshold`` (grade 1 when ``p1 >= threshold``), the ``grade`` shown; ``target``: the
    screening target a referral cut was set for (``sensitivity >= 0.90``,
    ``finetune.referral_target``), "" for the kappa-tuned threshold."""
    digits = 3
    while digits < 6 and f"{p1:.{digits}f}" == f"{threshold:.{digits}f}":
        digits += 1  # 0.5118 against 0.512: not "0.512 is below 0.512"
    side = "is below" if grade == 0 else "is at or above"
    if target:
        return (f"P({grade_names[1]}) {p1:.{digits}f} {side} the referral cut {threshold:.{digits}f}, set "
                f"for {target} on the out-of-fold outputs, so the grade shown is {grade} "
                f"{grade_names[grade]}.")
    return (f"P({grade_names[1]}) {p1:.{digits}f} {side} the referral threshold {threshold:.{digits}f}, "
            f"so the grade shown is {grade} {grade_names[grade]} (the threshold was tuned on the "
            f"out-of-fold outputs and need not be 0.5).")


def incomplete_line(not_graded: Sequence[tuple[str, str]], n_files: int) -> str:
    """``INCOMPLETE: <k> of the <n> files not graded: a.png: why; b.png: why`` (at most
    :data:`INCOMPLETE_SHOWN` named, then "and <m> more"), the first words of the export
    command's last line with ``--skip-unreadable`` and of the app's batch summary; each
    caller adds what its output holds for them. ``not_graded``: ``(file name, reason)``
    pairs, the reason without the file name (``truncated PNG (...)``). Raises ValueError for
    an empty ``not_graded`` (a complete batch has no such line)."""
    if not not_graded:
        raise ValueError("incomplete_line: no file was left ungraded; a complete batch has no "
                         "INCOMPLETE line")
    shown = [f"{name}: {why}" for name, why in not_graded[:INCOMPLETE_SHOWN]]
    more = len(not_graded) - len(shown)
    listed = "; ".join(s.rstrip(". ") for s in shown) + (f"; and {more} more" if more else "")
    files = "file" if n_files == 1 else "files"
    return f"INCOMPLETE: {len(not_graded)} of the {n_files} {files} not graded: {listed}"


def other_format(file_format: str) -> str:
    """``is a WEBP file``: why an image of a format the package does not read (the format as
    the decoder names it, PIL's ``format``; "" unknown) is not graded, after the file's name.
    The export command adds :data:`CONVERT_FIX`, the app the same and ``, and upload that``
    (a QA test, F5: the app said only "upload a PNG, JPEG, TIFF or BMP image", not how)."""
    return f"is a {file_format or 'unknown'} file"


def not_an_image(holds: str) -> str:
    """``is not an image (PNG, JPEG, TIFF or BMP expected; it holds plain text)``: why a file
    that no decoder opens is not graded, after the file's name. ``holds``: what it seems to
    hold (:func:`holds_words`, the app's and the export command's words)."""
    return f"is not an image ({READ_FORMATS} expected; it holds {holds})"


PLAIN_TEXT = "plain text"
"""What the app and the export command say a text file holds (:func:`holds_words`), without
quoting it."""

NO_KNOWN_FORMAT = "data in no format it knows"
"""What the app and the export command say a file holds when its first bytes name no format
and are not text (:func:`holds_words`; the ingest's :data:`data_prep.decode.UNKNOWN_BINARY_WORDS`
and :data:`data_prep.decode.UNKNOWN_CONTENT_WORDS`): never the bytes themselves, which could be
letters (a review: ``50 61 74 69 eb 6e 74 3a``, "Patiënt:")."""


def holds_words(data: bytes) -> str:
    """What a file that is not an image seems to hold (``data``: its first bytes, 48 or more),
    as the app and the export command say it: the ingest's words
    (:func:`data_prep.decode.content_words`: ``a PDF document``, ``a DICOM file ...``) except
    for text, which is :data:`PLAIN_TEXT`, never quoted, and the first bytes of a file of no
    known format (:data:`NO_KNOWN_FORMAT`: a UTF-16 or Latin-1 text file's bytes are its
    letters). A review uploaded a clinical note saved as ``notes.png`` ("Patient: Jane Doe
    ...") and found its first words on the page and in both batch CSVs, the files that get
    passed on; a new-user trial found the export command's stderr quoting "Patient: John
    Smith, DOB..." of a text file in the image folder, a log that gets pasted. The file's name
    already tells the user which file it was. The ingest says the same words (it quoted the
    text until security review F3 found a patient's name copied into a run's console.log)."""
    from data_prep.decode import (  # Pillow: not for every importer
        UNKNOWN_BINARY_WORDS,
        content_words,
    )

    words = content_words(data)  # text: never quoted, its kind said (an HTML page, ...)
    if words.startswith(PLAIN_TEXT):
        return words
    if words.startswith(UNKNOWN_BINARY_WORDS):  # no known format; never its bytes
        return NO_KNOWN_FORMAT
    return words


DICOM_SUFFIXES = (".dcm", ".dicom")
"""File name suffixes (lower case) of DICOM files, an image the package does not read: named so,
whatever its content, the ingest calls it a DICOM file (:func:`named_otherwise` tells one by
its content, the ``DICM`` tag) and the export command never a night without images."""

NAMED_FORMATS = {"PNG": "PNG", "JPEG": "JPEG", "MPO": "JPEG", "TIFF": "TIFF", "BMP": "BMP"}
"""PIL format name -> the format of :data:`READ_FORMATS` it is (a JPEG with EXIF thumbnails
opens as ``MPO``)."""

DICOM_WORDS = f"is a DICOM file (an image format this package does not read; {READ_FORMATS} expected)"
"""Why a DICOM file is not graded, after its name: the export command's and the app's words
(:func:`drac_ssl.submission.read_folder`, :func:`app.inputs.load_bytes`)."""

DICOM_FIX = "export the image as PNG or TIFF from the viewer"
"""What to do with a DICOM file given as an image (the words of
:func:`data_prep.decode.content_words` too)."""

DICOM_CONVERT = (f"{DICOM_FIX}, 16-bit for a 12- or 16-bit image so that no grey level is lost "
                 "(in Python: Image.fromarray(pydicom.dcmread('scan.dcm').pixel_array)"
                 ".save('scan.png') writes a grey image's 16 bits or a colour image's 8)")
"""How to convert a DICOM file to an image the package reads: the app's refusal of an uploaded
DICOM file (:func:`app.inputs.load_bytes`) and, with the folder's words, :data:`DICOM_CONVERT_FIX`."""

DICOM_CONVERT_FIX = f"{DICOM_CONVERT}, or move it out of the folder"
"""The fix of a DICOM file in a folder of images to grade (the export command, the app's batch
tab: :func:`drac_ssl.submission.read_folder`): an image the package cannot read, like a
``.webp``, said how to convert (Pillow writes a 2-D ``uint16`` array as a 16-bit PNG)."""


def named_otherwise(path: Any, taken: Collection[str] | None = None,
                    suggested: list[str] | None = None) -> tuple[str, str, str]:
    """What a file whose name does not end in an image suffix (:data:`IMAGE_SUFFIXES`) holds,
    told by its content, as the export command, the app's batch and the ingest say it:
    ``(kind, why, fix)``, ``why`` to follow the file's name.

    * ``image``: a PNG, JPEG, TIFF or BMP under another name (``scan_00``, ``scan.dat``):
      ``is a JPEG image whose name does not end in an image suffix (.png, ...)``, fix ``rename it
      scan_00.jpg``. A PNG whose text metadata is over Pillow's default limit counts
      (:func:`data_prep.decode.text_metadata_too_large`), without being read whole.
    * ``dicom``: a DICOM file (the ``DICM`` tag at byte 128, or at 0 without the preamble),
      whatever its name: ``holds a DICOM file (export the image as PNG or TIFF from the
      viewer)``, fix :data:`DICOM_FIX`.
    * ``other``: an image of a format the package does not read (Pillow opens it: ``is a WEBP
      file``, :func:`other_format`), fix :data:`CONVERT_FIX`.
    * ``none``: no image: ``why`` is what it holds (:func:`holds_words`: ``plain text``, never
      its words), for the caller's own sentence (the export's :func:`not_an_image`); fix ''.
    * ``unreadable``: it cannot be opened: ``cannot be opened (Permission denied)``.

    ``path``: a :class:`pathlib.Path`. Reads its first 256 bytes and, unless DICOM, opens it
    with Pillow lazily (a large non-image file is not read whole). The rename fix never names a
    file that is there (:func:`_rename_fix`): ``taken`` the names already used beside it (the
    folder's files, the batch's uploads; default: the files of its folder), ``suggested`` the
    names suggested so far (the name suggested is added to it, so the next file is not told
    the same)."""
    import warnings

    from PIL import Image, UnidentifiedImageError

    from data_prep.decode import content_words, text_metadata_too_large

    try:
        with open(path, "rb") as fh:
            head = fh.read(256)
    except OSError as err:
        return ("unreadable", f"cannot be opened ({err.strerror or err})",
                "check that the file is readable (permissions, a network drive)")
    words = content_words(head)
    if words.startswith("a DICOM file"):
        return "dicom", f"holds {words}", DICOM_FIX
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:  # lazily: a large non-image file is not read whole
                file_format = str(im.format or "")
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError,
            Image.DecompressionBombError) as exc:
        if not text_metadata_too_large(exc):
            return "none", holds_words(head), ""
        file_format = "PNG"  # only Pillow's PNG plugin has the text limit; not read whole
    if file_format in NAMED_FORMATS:
        named = NAMED_FORMATS[file_format]
        suffix = "." + named.lower().replace("jpeg", "jpg")
        return ("image", f"is a {named} image whose name does not end in an image suffix "
                         f"({', '.join(IMAGE_SUFFIXES)})", _rename_fix(path, _image_name(path, suffix), taken, suggested))
    return "other", other_format(file_format), CONVERT_FIX


def _rename_fix(path: Any, name: str, taken: Collection[str] | None,
                suggested: list[str] | None) -> str:
    """``rename it NAME`` for ``path`` (a :class:`pathlib.Path`), ``name`` its image name
    (:func:`_image_name`), unless that would overwrite another file (a reader: ``x.heic`` and
    ``x.png.bak`` beside ``x.jpg`` were both told "rename it x.jpg"): ``x.jpg exists: keep one,
    or rename it x_2.jpg`` when ``taken`` (default: the names in its folder) holds it, ``rename
    it x_2.jpg`` when an earlier file was told ``x.jpg`` (``suggested``). Letter case ignored (a
    Windows or macOS folder). The name suggested is appended to ``suggested``."""
    if taken is None:
        try:
            taken = os.listdir(path.parent)
        except OSError:
            taken = ()
    there = {t.lower() for t in taken if t != path.name}
    used = there | {t.lower() for t in (suggested or ())}
    free, n = name, 1
    stem, suffix = Path(name).stem, Path(name).suffix
    while free.lower() in used:
        n += 1
        free = f"{stem}_{n}{suffix}"
    if suggested is not None:
        suggested.append(free)
    if name.lower() in there:
        return f"{name} exists: keep one, or rename it {free}"
    return f"rename it {free}"


def _image_name(path: Any, suffix: str) -> str:
    """The name to rename ``path`` (a :class:`pathlib.Path` not ending in an image suffix) to,
    holding an image whose format's suffix is ``suffix`` (``.png``, ``.jpg``, ``.tiff``,
    ``.bmp``): a backup copy's name already holds it before its last suffix, ``e.jpg.bak`` ->
    ``e.jpg`` (``e.JPEG.orig`` -> ``e.JPEG``; ``e.png.bak`` holding a JPEG -> ``e.jpg``), where
    adding it gave ``e.jpg.jpg`` (reviewer F4); else the suffix is added, ``scan_00`` ->
    ``scan_00.jpg``, ``x.heic`` -> ``x.jpg``."""
    stem = Path(path.stem)
    inner = stem.suffix.lower()
    if inner not in IMAGE_SUFFIXES:
        return f"{path.stem}{suffix}"
    same = {".jpeg": ".jpg", ".tif": ".tiff"}
    return path.stem if same.get(inner, inner) == same.get(suffix, suffix) else f"{stem.stem}{suffix}"


def unread_image_format(suffix: str) -> str | None:
    """The ingest's words for a file named as an image of a format it does not read (a
    :data:`OTHER_IMAGE_SUFFIXES` suffix, any case): ``a WEBP image, a format this package
    does not read (it reads PNG, JPEG, TIFF or BMP)``; None for another suffix (then "not an
    image file"). The fix is :data:`CONVERT_FIX`."""
    name = OTHER_IMAGE_SUFFIXES.get(suffix.lower())
    if name is None:
        return None
    article = "an" if name[0] in "AEIOU" else "a"
    return f"{article} {name} image, a format this package does not read (it reads {READ_FORMATS})"
