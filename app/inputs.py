"""Reading an uploaded file safely, and the sanity checks shown beside a prediction.

:func:`load_upload` turns whatever the browser sent into a uint8 grey image, or raises
:class:`InputRejected` whose message is shown in the page (never a traceback):

* no file, an empty file, a file above the size limit (bytes, checked before reading it),
* not an image / not PNG, JPEG, TIFF or BMP (format read from the content, not the name; a
  TIFF Pillow cannot open, e.g. 32-bit float RGB, is decoded by OpenCV as in the ingest and
  the export, its size read from the TIFF header first: :func:`data_prep.decode.tiff_size`),
* an image above the side limit or the decoded-pixels limit (read from the header, before
  decoding: a 0.4 MB PNG can declare 8192 x 8192 16-bit RGB pixels, 400 MB decoded; one above
  Pillow's own limit too, its size read by :func:`data_prep.decode.declared_size`), each
  refusal with the size to downscale to (:func:`drac_ssl.grading.image_file.downscale_fix`),
* a truncated or corrupt image (a PNG whose text metadata is above Pillow's default limit is
  not: the header is read as the decoder reads it, :func:`data_prep.decode.image_header`).

Decoding and the colour / 16-bit conversion are :func:`data_prep.validate.inspect_image`,
the very function behind :func:`drac_ssl.grading.predict.read_image_any` and the ingest, so the app
sees the pixels the export command and training see; it is called directly (instead of
``read_image_any``) to keep its findings for the page: what the decoder did (an Exif
orientation applied, a 12-bit range detected in a 16-bit file, bytes after the end of a
JPEG ignored, the first frame of several used) and what it cannot honour (an ICC profile,
non-square pixels, transparency composited over black, CMYK converted without colour
management) are shown beside the grade, ``Image file: `` and the ingest's words
(:func:`drac_ssl.grading.image_notes.file_finding`; the export command says the same per file):
as plain notes when they cast no doubt on what the image is
(:data:`drac_ssl.grading.image_notes.PLAIN_FINDINGS`), as warnings otherwise.

:func:`refusal` is the one rule of what is not graded even though it decodes (the page's two
tabs and :meth:`app.predict.Predictor.predict_file`): a blank or near-constant image, and
random noise (:func:`neighbour_correlation`, adjacent pixels unrelated, on the 2 x 2 and 4 x 4
block means too: :func:`data_prep.validate.structure_correlations`, so a dithered palette file
is not noise; they and :data:`NOISE_CORRELATION` live in :mod:`data_prep.validate` beside
:func:`is_blank`, shared with the export command, which grades noise but names it in a
warning). :func:`sanity_warnings`
flags images that do not look like a UW-OCTA en-face scan: too small, blank (then refused),
at most 4 grey levels (:func:`few_levels_warning`: a thresholded export or a vessel mask, e.g. a
1-bit file; per colour channel on a colour model), strongly non-square, converted from colour;
the others are graded anyway. A 16-bit file
converted to 8-bit is said too, as a plain note (:func:`is_plain_note`): by the training ingest's rule, its bit depth
judged from this file alone; a file of another bit depth than the training images is doubted
by the predictor, which knows them (:meth:`app.predict.Predictor.upload_warnings`). The sentences the export command says too (a colour file on a grey
model, a grey file on a colour model, the 16-bit note) come from
:mod:`drac_ssl.grading.image_notes` (:data:`DEPTH_NOTE`, :func:`is_plain_note` and
:func:`image_kind` are re-exported here).
These checks are for an OCTA model (:func:`image_kind`: the bundle's ``octa`` recipe). For a
colour model (3 channels) the OCTA size and shape checks do not apply; a grey upload is
replicated into three channels and said so (:func:`colour_model_warnings`), as the ingest
and :func:`drac_ssl.grading.predict.conform_channels` do. A grey model of another kind (a
fundus set ingested as grey, ``data.channels=1``) gets the checks that hold for any image:
blank, converted from colour or 16-bit, the decoder's findings (``sanity_warnings(...,
octa=False)``).
"""

from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from data_prep.colour_rule import is_overlay
from data_prep.decode import ONE_BIT_NOTE, damaged_image, damaged_image_format
from data_prep.validate import (  # noqa: F401 - the structure check is re-exported here
    NOISE_CORRELATION,
    NOISE_MEASURED,
    STRUCTURE_SCALES,
    few_levels,
    inspect_image,
    is_blank,
    looks_like_noise,
    neighbour_correlation,
    structure_correlations,
)
from drac_ssl.grading.image_file import (
    ACCEPTED_FORMATS,
    DEFAULT_LIMITS,
    InputLimits,
    bytes_refusal,
    content_refusal,  # the one rule of what is read (read_image's too)
    misnamed_finding,
    path_refusal,
)
from drac_ssl.grading.image_notes import (
    COLOUR_FILE_MODES,
    DEPTH_NOTE,
    DICOM_CONVERT,
    DICOM_WORDS,
    GREY_TRAINED_NOT_GIVEN,
    IMAGE_SUFFIXES,
    NO_KNOWN_FORMAT,
    NOT_SQUARE,
    PLAIN_TEXT,
    READ_FORMATS,
    SMALLER_THAN_EXPORT,
    TOO_SMALL,
    colour_for_grey_model,
    depth_note,
    describe_kind,
    dithered_words,
    few_levels_warning,
    file_finding,
    grey_for_colour_model,
    holds_words,
    image_kind,
    is_plain_note,
    not_an_image,
    overlaid_for_colour_model,
)

__all__ = [
    "ACCEPTED_FORMATS",
    "FILE_TYPES",
    "FORMAT_WORDS",
    "DEPTH_NOTE",
    "colour_model_warnings",
    "describe_kind",
    "few_levels_warning",
    "holds_words",
    "is_plain_note",
    "image_kind",
    "InputLimits",
    "InputRejected",
    "LoadedImage",
    "NOISE_CORRELATION",
    "NO_KNOWN_FORMAT",
    "PLAIN_TEXT",
    "check_gradable",
    "load_bytes",
    "load_upload",
    "neighbour_correlation",
    "refusal",
    "sanity_warnings",
    "too_small_warning",
]

# ACCEPTED_FORMATS and InputLimits live in drac_ssl.grading.image_file (read_image checks a file
# by the same rule), imported above: still app.inputs.ACCEPTED_FORMATS / app.inputs.InputLimits
FILE_TYPES = list(IMAGE_SUFFIXES)
"""Extensions offered by the upload widgets (the content decides, not the name)."""
FORMAT_WORDS = READ_FORMATS
"""The accepted formats (:data:`ACCEPTED_FORMATS`) in words, for labels and messages."""
MIN_SIDE = 256
"""Below this many pixels on the short side an image is flagged as too small."""
OCTA_SIZE_DETAIL = (f"UW-OCTA en-face exports are 1024 x 1024; below {MIN_SIDE} px the vessels are "
                    f"not resolved")
"""What the UW-OCTA size warning adds to the model's own small-image warning."""
MAX_ASPECT = 1.25
"""Long side / short side above which an image is flagged as non-square (UW-OCTA en-face
exports are square)."""
# NOT_SQUARE ("Not square"), how the non-square warning starts, lives beside the tables that
# read it (drac_ssl.grading.image_notes.DOUBT_KINDS); imported above, still app.inputs.NOT_SQUARE
class InputRejected(ValueError):
    """The file cannot be graded; ``str(exc)`` is the message: for the page (an upload), or for
    a script (:meth:`app.predict.Predictor.predict_file`, in words without uploads). The
    message names the file by its base name (``IMG0001.jpg``); ``path`` is the path as given
    (``str``: ``p1/IMG0001.jpg``, which tells it from ``p2/IMG0001.jpg``) when a file was read
    (:func:`load_upload`, :meth:`app.predict.Predictor.predict_file`), None otherwise (bytes,
    an array, no file given). The app never shows ``path`` (its uploads' paths are the
    server's): its page and CSVs say the name."""

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:  # pickle (a process pool's worker): path kept
        return type(self), (str(self), self.path)


@dataclass
class LoadedImage:
    """A decoded upload: ``gray`` uint8 ``(H, W)``, ``pixels`` as decoded (grey ``(H, W)`` or
    RGB ``(H, W, 3)``; None: ``gray``), and what was noticed on the way."""

    name: str
    gray: np.ndarray
    width: int
    height: int
    mode: str
    file_format: str
    n_bytes: int
    notes: list[str] = field(default_factory=list)  # what the decoder did or could not honour
    warnings: list[str] = field(default_factory=list)  # sanity warnings (filled by load_*)
    pixels: np.ndarray | None = None  # as decoded: grey (H, W) or RGB (H, W, 3)
    colour: bool = False  # the file's content has colour
    grey_conversion: str = ""  # a 3-channel file read as grey: the decoder's words, else ""
    # the SHA-256 (hex) of the file's bytes as read (load_bytes); "" when not known: the app
    # tells by it an upload the model was trained on (app.predict.Predictor.training_image)
    sha256: str = ""
    # the file carries drac_ssl's phantom marker (data_prep.decode.phantom_marked): a synthetic
    # image drawn by data_prep.phantom, said by app.predict.Predictor.upload_warnings
    phantom: bool = False
    # read for the app's page (True: its refusals say "Upload ..."), or for a script
    # (app.predict.Predictor.predict_file: the same refusals without uploads)
    uploaded: bool = True
    # the share (0..1) of the decoded pixels in colour, as the decoder measured it
    # (data_prep.validate.DecodedImage.colour_share); None: not measured (an image built by hand)
    colour_share: float | None = None

    @property
    def blank(self) -> bool:
        """True for a blank or near-constant image (:func:`is_blank`): nothing to grade."""
        return is_blank(self.gray)

    @functools.cached_property
    def structure(self) -> float:
        """:func:`neighbour_correlation` of :attr:`gray` (NaN when undefined): the first of
        :attr:`structures`."""
        return self.structures[0]

    @functools.cached_property
    def structures(self) -> tuple[float, ...]:
        """:func:`data_prep.validate.structure_correlations` of :attr:`gray`: the neighbour
        correlation at each scale of :data:`data_prep.validate.STRUCTURE_SCALES` (NaN where
        undefined or too few blocks), what :func:`refusal` judges noise by."""
        return structure_correlations(self.gray)

    def for_channels(self, channels: int) -> np.ndarray:
        """The image as a model with ``channels`` reads it: ``gray`` for 1, RGB ``(H, W, 3)``
        for 3 (a grey image replicated into three channels; :func:`load_bytes` with that
        ``channels`` put the warning into :attr:`warnings`)."""
        if channels == 1:
            return self.gray
        from drac_ssl.grading.predict import conform_channels

        # the decoder's share of colour in pixels: measured once per file, not once per call
        share = self.colour_share if self.pixels is not None and self.pixels.ndim == 3 else None
        return conform_channels(self.pixels if self.pixels is not None else self.gray, channels,
                                self.name, colour=self.colour, share=share)[0]


def _range_words(gray: np.ndarray, pixels: np.ndarray | None = None, mode: str = "L",
                 colour: bool = False) -> str:
    """The values an image holds, for the blank-image words: ``grey levels a..b`` of ``gray``
    (uint8 ``(H, W)``) for a grey file; for a colour file (``mode`` one of
    :data:`drac_ssl.grading.image_notes.COLOUR_FILE_MODES`) ``pixel values a..b``, or per channel
    when its channels differ (``pixels`` RGB ``(H, W, 3)``, as a colour model reads it:
    ``pixel values: red 200..200, green 0..0, blue 0..0``); a colour file read in grey by a grey
    model (``colour``: its channels differ) ``grey levels a..b, its luminance``."""
    if pixels is not None and pixels.ndim == 3:
        flat = pixels.reshape(-1, pixels.shape[-1])
        lows, highs = flat.min(axis=0), flat.max(axis=0)
        if len(set(lows.tolist())) > 1 or len(set(highs.tolist())) > 1:
            return "pixel values: " + ", ".join(f"{name} {int(lo)}..{int(hi)}" for name, lo, hi in
                                                zip(("red", "green", "blue"), lows, highs, strict=False))
    span = f"{int(gray.min())}..{int(gray.max())}"
    if mode not in COLOUR_FILE_MODES:
        return f"grey levels {span}"
    return f"grey levels {span}, its luminance" if colour else f"pixel values {span}"


def _blank_words(gray: np.ndarray, pixels: np.ndarray | None = None, mode: str = "L",
                 colour: bool = False) -> str:
    """"Blank or near-constant image (grey levels a..b, std s)" when :func:`is_blank`
    (:func:`data_prep.validate.is_blank`, the export command's test too), else ""; a colour
    file's values as :func:`_range_words` says them."""
    if not is_blank(gray):
        return ""
    return (f"Blank or near-constant image ({_range_words(gray, pixels, mode, colour)}, std "
            f"{float(gray.std()):.1f})")


def refusal(image: LoadedImage, kind: str = "octa", channels: int = 1) -> str:
    """Why the app does not grade the decoded upload ``image``, "" when it grades it: the one
    rule of the single-image tab, the batch tab and :meth:`app.predict.Predictor.predict_file`
    (:func:`check_gradable`). A blank or near-constant image (:attr:`LoadedImage.blank`), and an
    image whose neighbouring pixels are unrelated (:func:`neighbour_correlation` at or below
    :data:`NOISE_CORRELATION` at every scale of :attr:`LoadedImage.structures`: random noise, or
    a file whose bytes were scrambled): either has
    nothing to grade, and a grade of it would still look like a grade. Noise of at most
    :data:`data_prep.validate.FEW_LEVELS` levels (a 1-bit file, a dithered export) is said in
    :func:`few_levels_warning`'s words, not as damage ("export or copy it again" cannot mend a
    dithered export: the original image is needed). ``kind`` and
    ``channels``: the model's, for the words. The decoder's findings on the file
    (:attr:`LoadedImage.notes` but the conversion to grey) follow as ``Image file: ...``: they
    may be why (a review found a multi-page TIFF whose blank first page was refused without
    "only the first is used"). The fix says "Upload ..." for an upload, "Grade ..." for a file a
    script read (:attr:`LoadedImage.uploaded`)."""
    name = image.name
    findings = "".join(f" {file_finding(n)}" for n in image.notes if n != image.grey_conversion)
    give = "Upload" if image.uploaded else "Grade"  # a script's file (Predictor.predict_file): no upload
    if image.blank:
        return (f"`{name}` is blank or near-constant "
                f"({_range_words(image.gray, image.pixels, image.mode, image.colour)}): "
                f"there is nothing to grade. {give} the image itself, not an empty export or a "
                f"mask.{findings}")
    if looks_like_noise(image.structures):
        what = describe_kind(kind, channels)
        # a 1-bit (or few-level) file first: a dithered export looks like noise, and is no damage
        # (a QA test, F3: a dithered colour photo was told "it is damaged: export or copy it again")
        few = few_levels(image.pixels if image.colour and image.pixels is not None else image.gray)
        if few:
            levels = few_levels_warning(few, image.mode, kind, channels).split(":", 1)[0]
            return (f"`{name}` has only {levels.removeprefix('Only ')} and its neighbouring pixels "
                    f"are unrelated (adjacent-pixel correlation {_structure_words(image.structures)}): "
                    f"{dithered_words(few)}, not a {what}. There is nothing to grade. "
                    f"{give} the original {what}, not a black-and-white copy.{findings}")
        return (f"`{name}` looks like random noise, not a {what}: its neighbouring pixels are "
                f"unrelated (adjacent-pixel correlation {_structure_words(image.structures)}; "
                f"{NOISE_MEASURED}). "
                f"There is nothing to grade. "
                f"{give} the original {what}; if this file is one, it is damaged: export or copy "
                f"it again.{findings}")
    return ""


def _structure_words(found: tuple[float, ...]) -> str:
    """``0.01``, then ``, at most 0.05 on 2 x 2 and 4 x 4 block means`` for the coarser scales of
    :data:`data_prep.validate.STRUCTURE_SCALES` that were measured (a large enough image)."""
    coarse = [(k, c) for k, c in zip(STRUCTURE_SCALES[1:], found[1:], strict=False) if not np.isnan(c)]
    if not coarse:
        return f"{found[0]:.2f}"
    blocks = " and ".join(f"{k} x {k}" for k, _ in coarse)
    return f"{found[0]:.2f}, at most {max(c for _, c in coarse):.2f} on {blocks} block means"


def check_gradable(image: LoadedImage, kind: str = "octa", channels: int = 1) -> None:
    """Raise :class:`InputRejected` with :func:`refusal`'s words when ``image`` is not graded."""
    why = refusal(image, kind, channels)
    if why:
        raise InputRejected(why)


def _resolve(kind: str | None, channels: int) -> str:
    return kind if kind is not None else image_kind(None, channels)


def load_bytes(data: bytes, name: str, limits: InputLimits = DEFAULT_LIMITS,
               channels: int = 1, kind: str | None = None,
               grey_trained: Any = GREY_TRAINED_NOT_GIVEN, upload: bool = True) -> LoadedImage:
    """Decode an uploaded file's bytes; see the module docstring for what is rejected (the size,
    format and pixel limits: :mod:`drac_ssl.grading.image_file`, the rule
    :func:`drac_ssl.grading.predict.read_image` reads files by too).

    ``channels``: the model's (1 grey: colour is converted to grey like the ingest; 3 colour:
    the file's colour is kept, a grey file is replicated with a warning). ``kind``: what the
    model grades (:func:`image_kind`; default: ``octa`` for 1 channel, ``fundus`` for 3); only
    an ``octa`` model gets the UW-OCTA size and shape warnings. ``grey_trained``: the grey
    pictures among a colour model's labelled training images
    (:func:`drac_ssl.grading.image_notes.grey_trained`, ``bundle.grey_trained``; the app passes
    its predictor's), which word a grey upload's warning; left out, the warning says it was not
    given (:data:`drac_ssl.grading.image_notes.GREY_TRAINED_NOT_GIVEN`), as
    :func:`drac_ssl.grading.predict.read_image` does. ``upload``: the page's words ("Upload
    ..."); False: a script's (:meth:`app.predict.Predictor.predict_file`), kept in
    :attr:`LoadedImage.uploaded` for :func:`refusal`."""
    kind = _resolve(kind, channels)
    refused = bytes_refusal(len(data), limits, kind, upload)
    if refused is not None:
        raise InputRejected(refused.sentence(name))
    # the decoder's reading of the header (a PNG's large text metadata is not damage)
    header, refused = content_refusal(data, limits, upload, name)
    if refused is not None:
        raise InputRejected(refused.sentence(name))
    if header is None:
        damaged = damaged_image_format(data)
        if damaged is not None and damaged != "TIFF":  # the ingest's words
            words, fix, _ = damaged_image(damaged, data)
            again = ", and upload it again" if upload else ""
            raise InputRejected(f"`{name}` is {words}. {fix[0].upper()}{fix[1:]}{again}.")
        # the export command's words too (not_an_image, other_format); a TIFF whose header
        # gives no size was refused by content_refusal (tiff_header_refusal), as in the ingest
        holds = holds_words(data)
        if holds.startswith("a DICOM file"):  # the export's words and fix (review formats R4)
            again = ", and upload the PNG or TIFF" if upload else ""
            raise InputRejected(f"`{name}` {DICOM_WORDS}. {DICOM_CONVERT[0].upper()}{DICOM_CONVERT[1:]}{again}.")
        raise InputRejected(f"`{name}` {not_an_image(holds)}.")
    file_format = header[0]
    try:  # size: sanity_warnings; channels: the model's (1: as the grey ingest converts)
        decoded = inspect_image(data, name, channels=1 if channels == 1 else None,
                                expected_side=None)
    except Exception as exc:  # a decoder bug must not take the page down
        raise InputRejected(f"`{name}` cannot be decoded ({type(exc).__name__}: {exc}).") from None
    fatal = [p for p in decoded.problems if p.severity == "error"]
    if decoded.gray is None or fatal:
        reason = "; ".join(p.what for p in fatal) or "corrupt image (cannot be decoded)"
        raise InputRejected(f"`{name}` cannot be read: {reason}. Re-export or re-copy the image.")
    notes = [p.what for p in decoded.problems if p.severity in ("warning", "note")]
    wrong_name = misnamed_finding(file_format, name)  # the ingest's warning, a plain note here
    notes = [wrong_name, *notes] if wrong_name else notes
    image = LoadedImage(name=name, gray=decoded.gray, width=decoded.width, height=decoded.height,
                        mode=decoded.mode, file_format=ACCEPTED_FORMATS[file_format],
                        n_bytes=len(data), notes=notes, pixels=decoded.pixels,
                        colour=decoded.colour, grey_conversion=decoded.grey_conversion,
                        sha256=hashlib.sha256(data).hexdigest(), phantom=decoded.phantom,
                        uploaded=upload, colour_share=decoded.colour_share)
    if channels == 1:
        image.warnings = sanity_warnings(image.gray, mode=image.mode, notes=notes, octa=kind == "octa",
                                         grey_conversion=image.grey_conversion, kind=kind,
                                         colour_share=decoded.colour_share)
    else:
        image.warnings = colour_model_warnings(image, notes, kind, grey_trained, decoded.colour_share)
    return image


def colour_model_warnings(image: LoadedImage, notes: list[str] | None = None,
                          kind: str = "fundus", grey_trained: Any = GREY_TRAINED_NOT_GIVEN,
                          colour_share: float = 1.0) -> list[str]:
    """Sanity warnings for a colour (3-channel) model (``kind``: what it grades, for the words):
    blank, at most :data:`data_prep.validate.FEW_LEVELS` levels per channel
    (:func:`few_levels_warning`), grey (replicated into three channels, worded from
    ``grey_trained``: the grey pictures among the model's labelled training images,
    :func:`drac_ssl.grading.image_notes.grey_trained`), a grey picture with a coloured overlay
    (``colour_share``, the share of its pixels in colour, under
    :data:`data_prep.decode.OVERLAY_SHARE`: :func:`overlaid_for_colour_model`), 16-bit, and the
    decoder's findings as ``Image file: ...``."""
    out: list[str] = []
    blank = _blank_words(image.gray, image.pixels, image.mode, image.colour)
    if blank:
        out.append(f"{blank}: there is nothing to grade.")
    notes = notes or []
    levels = ""
    if not blank:
        pixels = image.pixels if image.colour and image.pixels is not None else image.gray
        levels = few_levels_warning(few_levels(pixels), image.mode, kind, 3)
        out += [levels] if levels else []
    if not image.colour:  # the export command's words too (read_image)
        out.append(grey_for_colour_model(image.mode, grey_trained))
    elif is_overlay(True, colour_share):  # a grey scan with a scale bar: the ingest reads it as grey
        out.append(overlaid_for_colour_model(colour_share))
    depth, said = depth_note(image.mode, notes)
    out += [depth] if depth else []
    said = set(said) | ({n for n in notes if n.startswith(ONE_BIT_NOTE)} if levels else set())
    out += [file_finding(n) for n in notes if n not in said]
    return out


def load_upload(path: str | os.PathLike[str] | None, limits: InputLimits = DEFAULT_LIMITS,
                name: str | None = None, channels: int = 1, kind: str | None = None,
                grey_trained: Any = GREY_TRAINED_NOT_GIVEN, upload: bool = True) -> LoadedImage:
    """Read an uploaded file from disk (a regular file, its size checked before reading:
    :func:`drac_ssl.grading.image_file.path_refusal`, a broken symbolic link or a named pipe
    said as such) and decode it (:func:`load_bytes`, whose ``channels``, ``kind``,
    ``grey_trained`` and ``upload`` these are; ``upload`` False: a script's words, no
    "upload it again"). ``name``: the file's name in the messages (default: ``path``'s base
    name). Raises :class:`InputRejected` with ``path`` as given in its ``path``."""
    kind = _resolve(kind, channels)
    if path is None or str(path) == "":
        raise InputRejected(f"No file uploaded. Choose a {FORMAT_WORDS} {describe_kind(kind, channels)}."
                            if upload else f"No file given: pass the path of a {FORMAT_WORDS} "
                                           f"{describe_kind(kind, channels)}.")
    p = Path(path)
    given = os.fsdecode(path)  # InputRejected.path: the path as given
    shown = name or p.name
    refused = path_refusal(p, upload)
    if refused is None:
        try:
            refused = bytes_refusal(p.stat().st_size, limits, kind, upload)
        except OSError:  # gone since path_refusal looked
            refused = path_refusal(p, upload)
    if refused is not None and refused.kind != "empty":  # an empty file: load_bytes says so
        raise InputRejected(refused.sentence(shown), given)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise InputRejected(f"`{shown}` cannot be read ({exc.strerror or exc}).", given) from None
    try:
        return load_bytes(data, shown, limits, channels, kind, grey_trained, upload)
    except InputRejected as exc:
        exc.path = given
        raise


def too_small_warning(width: int, height: int, model_side: int | None = None) -> str:
    """The size line for an upload of ``width`` x ``height`` px to a UW-OCTA model whose short
    side is below :data:`MIN_SIDE`, "" otherwise. ``model_side``: the model's input size in px
    (a bundle's ``input.size``); None (the loader, :func:`sanity_warnings`, which does not know
    the model): the doubt "Too small: 200 x 200 px (UW-OCTA en-face exports are 1024 x 1024;
    below 256 px the vessels are not resolved).", which :meth:`app.predict.Predictor.image_warnings`
    replaces with this function's words for its model:

    * short side at least ``model_side``: a plain note (:data:`SMALLER_THAN_EXPORT`,
      :func:`is_plain_note`): the model reads every image at ``model_side`` px, so it sees
      about as much of this file as of a full-size export (a review: a 200 px thumbnail got the
      1024 px scan's probabilities to 0.01 on a 64 px model, yet was doubted as too small);
    * below ``model_side``: the doubt "Too small: ... smaller than the N x N px the model reads:
      it is upscaled ...", adding that the vessels are not resolved below :data:`MIN_SIDE` px
      when the model reads at least that.

    Where the model's own small-image warning (:func:`drac_ssl.grading.predict.small_image_warning`,
    below half its input size) is said of the same image, the page says one size warning
    instead: that one with :data:`OCTA_SIZE_DETAIL` (:meth:`app.predict.Predictor.image_warnings`)."""
    short = min(width, height)
    if short >= MIN_SIDE:
        return ""
    if model_side is None:
        return f"{TOO_SMALL}: {width} x {height} px ({OCTA_SIZE_DETAIL})."
    if short >= model_side:
        return (f"{SMALLER_THAN_EXPORT}: {width} x {height} px (en-face exports are 1024 x 1024), but "
                f"the model reads every image at {model_side} x {model_side} px, so it sees about as "
                f"much of this file as of a full-size export.")
    vessels = f"; below {MIN_SIDE} px the vessels are not resolved" if model_side >= MIN_SIDE else ""
    return (f"{TOO_SMALL}: {width} x {height} px, smaller than the {model_side} x {model_side} px the "
            f"model reads: it is upscaled, so the model sees less than in a UW-OCTA en-face export "
            f"(1024 x 1024){vessels}.")


def sanity_warnings(gray: np.ndarray, mode: str = "L", notes: list[str] | None = None,
                    octa: bool = True, grey_conversion: str = "", kind: str | None = None,
                    colour_share: float = 1.0) -> list[str]:
    """Reasons why ``gray`` (uint8 ``(H, W)``) may not be a UW-OCTA en-face image, and what
    the decoder did to the file.

    Too small (short side < :data:`MIN_SIDE`), blank (near-constant), at most
    :data:`data_prep.validate.FEW_LEVELS` grey levels (:func:`few_levels_warning`: a thresholded
    export or a mask; the decoder's own 1-bit note is then not said again), strongly non-square
    (aspect > :data:`MAX_ASPECT`), converted from colour, and a plain note (:func:`is_plain_note`,
    not a doubt) for a 16-bit file converted to 8-bit (``mode`` is PIL's pixel format of the
    file; ``notes`` the decoder's findings, each of the others shown as ``Image file: ...``;
    ``grey_conversion`` the decoder's words when a file of three channels was read as grey,
    :attr:`data_prep.validate.DecodedImage.grey_conversion`, one of ``notes`` said as the
    colour warning, "" for none). ``octa=False`` (a grey model of fundus photographs or other images):
    no size or shape check, and a colour file converted to grey is said to be read as the
    model's training ingest read its images, not doubted as OCTA. ``kind``: what the model grades
    (:func:`image_kind`), for the words of the few-levels warning; None: ``octa`` for ``octa``,
    else an image of another kind. ``colour_share``: the share of the file's pixels in colour
    (:attr:`data_prep.validate.DecodedImage.colour_share`; 1.0, the default: a colour picture);
    under :data:`data_prep.decode.OVERLAY_SHARE` a grey scan with a coloured overlay, said so.
    """
    out: list[str] = []
    h, w = gray.shape[:2]
    if octa and (too_small := too_small_warning(w, h)):
        out.append(too_small)
    blank = _blank_words(gray, mode=mode, colour=bool(grey_conversion))
    if blank:
        out.append(f"{blank}: there is {'no vessel pattern' if octa else 'nothing'} to grade.")
    levels = "" if blank else few_levels_warning(few_levels(gray), mode, kind or (
        "octa" if octa else "other"), 1)
    out += [levels] if levels else []
    aspect = max(h, w) / max(1, min(h, w))
    if octa and aspect > MAX_ASPECT:
        out.append(f"{NOT_SQUARE}: {w} x {h} px (aspect {aspect:.2f}); UW-OCTA en-face images are "
                   f"square, and the model squeezes it to a square.")
    notes = notes or []
    # LA is grey with transparency, not colour (the transparency is a finding of the decoder)
    if grey_conversion or mode in ("RGB", "RGBA", "P", "CMYK", "YCbCr", "PA"):
        # the export command's words too (conform_channels)
        out.append(colour_for_grey_model(grey_conversion or f"{mode} image converted to grey",
                                         octa, colour_share if is_overlay(True, colour_share) else None))
    depth, said = depth_note(mode, notes)
    out += [depth] if depth else []
    shown = set(said) | ({grey_conversion} if grey_conversion else set())
    shown |= {n for n in notes if n.startswith(ONE_BIT_NOTE)} if levels else set()
    out += [file_finding(n) for n in notes if n not in shown]
    return out
