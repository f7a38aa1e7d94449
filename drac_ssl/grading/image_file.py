"""What an image file must be to be graded, checked before its pixels are decoded: the one rule
of :func:`drac_ssl.grading.predict.read_image` (so of ``python -m drac_ssl.export --images``
and of a script's batch) and of the app's upload (:func:`app.inputs.load_upload`,
:func:`app.inputs.load_bytes`, :meth:`app.predict.Predictor.predict_file`).

* The path (:func:`path_refusal`): a regular file. A missing path, a broken symbolic link, a
  folder, a named pipe, a socket or a device are each said in their own words (reading a
  named pipe would wait for a writer forever).
* Its size in bytes (:attr:`InputLimits.max_bytes`), from the file system before it is read.
* Its format, read from the content, not the name (:data:`ACCEPTED_FORMATS`: PNG, JPEG, TIFF,
  BMP): GIF, WebP, JPEG 2000 ... are refused, as the app refuses them; a GIF named ``.png``
  is said so (``is a GIF file, though named .png``: :func:`name_words`).
* Its pixels, from the header before decoding (:attr:`InputLimits.max_side`,
  :attr:`InputLimits.max_pixels`): a 0.4 MB PNG can declare 8192 x 8192 16-bit RGB pixels,
  400 MB decoded; a 13000 px JPEG takes a gigabyte and seconds to decode.
* Its decoded bytes, width x height x channels x bytes per sample from the same header
  (:attr:`InputLimits.decoded_limit`, :func:`decoded_refusal`): a 0.6 MB deflate float32 RGB
  TIFF of 6324 x 6324 px is within 40 megapixels but 480 MB decoded, and took the app's
  peak memory from 1.1 to 2.5 GiB (a security review, F2).

The training ingest applies the same rule to every image file it takes (by its suffix,
:data:`drac_ssl.grading.image_notes.IMAGE_SUFFIXES`) before decoding it
(:func:`data_prep.cache.process_file`: :func:`bytes_refusal` and :func:`content_refusal` with
:data:`LOCAL_FILE_LIMITS`, as :func:`drac_ssl.grading.predict.read_image`), each refusal an
error of its one-pass report, so that no image is trained on that grading would refuse (review
s58r5 F5: a GIF named ``.png`` was trained on, then refused here). A PNG, JPEG, TIFF or BMP
named as another of them (a JPEG named ``.png``) is read by its content here and there; the
ingest warns of it (:func:`misnamed`), the app and the export command say it as a plain note
(:func:`misnamed_finding`).

Each refusal is a :class:`FileRefusal` (what is wrong, what to do) in one of two wordings:
``upload=True`` the app page's ("Upload the original ..."), ``upload=False`` (a script, the
export command) without uploads or a server. A header no decoder reads (not an image, a
damaged file) is not refused here: the decoder says what it is
(:func:`data_prep.validate.inspect_image`; the app in its own words, :mod:`app.inputs`).

Pillow and :mod:`data_prep.decode` only (both imported when a function needs them): no torch,
so the ingest imports it too.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from drac_ssl.grading.image_notes import (
    CONVERT_FIX,
    DICOM_SUFFIXES,
    OTHER_IMAGE_SUFFIXES,
    other_format,
)
from drac_ssl.name_tags import printable_text  # stdlib only

if TYPE_CHECKING:
    from data_prep.problems import Problem

__all__ = [
    "ACCEPTED_FORMATS",
    "DECODED_BYTES_PER_PIXEL",
    "DEFAULT_LIMITS",
    "LOCAL_FILE_LIMITS",
    "FileRefusal",
    "InputLimits",
    "SUFFIX_FORMATS",
    "bomb_refusal",
    "bytes_refusal",
    "content_refusal",
    "decoded_refusal",
    "downscale_fix",
    "not_regular_words",
    "header_refusal",
    "misnamed",
    "misnamed_finding",
    "name_words",
    "path_refusal",
    "read_header",
]

ACCEPTED_FORMATS = {"PNG": "PNG", "JPEG": "JPEG", "TIFF": "TIFF", "BMP": "BMP", "MPO": "JPEG"}
"""PIL format name -> what we call it (a JPEG with EXIF thumbnails opens as ``MPO``): the
formats graded (:data:`drac_ssl.grading.image_notes.READ_FORMATS`)."""

SUFFIX_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF",
                  ".bmp": "BMP"}
"""File name suffix (lower case) -> the format it names, in :data:`ACCEPTED_FORMATS`' words: one
entry per suffix of :data:`drac_ssl.grading.image_notes.IMAGE_SUFFIXES` (what the ingest takes
as an image file)."""


def _named_format(name: str) -> str | None:
    """The format ``name``'s suffix names (:data:`SUFFIX_FORMATS`), None for another suffix."""
    return SUFFIX_FORMATS.get(os.path.splitext(name)[1].lower())


def name_words(file_format: str, name: str) -> str:
    """``, though named .png``: what follows a refusal's format words (:func:`header_refusal`)
    when ``name`` (a file's name; "" unknown) has the suffix of an image format
    (:data:`SUFFIX_FORMATS`) other than the content's, ``file_format`` (PIL's name); "" when
    the name says nothing or the same format."""
    named = _named_format(name)
    if named is None or named == ACCEPTED_FORMATS.get(file_format, file_format):
        return ""
    return f", though named {os.path.splitext(name)[1]}"


def misnamed(file_format: str, name: str) -> tuple[str, str] | None:
    """``(what, fix)`` for a file of a format that is read (:data:`ACCEPTED_FORMATS`; PIL's name
    ``file_format``) whose name's suffix names another of them: a JPEG named ``scan.png``. Read
    by its content all the same (the ingest, the export and the app alike); the ingest warns
    (:func:`data_prep.cache.process_file`), since a tool that goes by the name may not, and a
    ``.png`` is taken for lossless; the app and the export command say the same words as a
    plain note (:func:`misnamed_finding`). None for a name that agrees, has no image suffix, or
    a format that is not read (refused: :func:`header_refusal` says the name).

    A name whose suffix names an image format the package does not read (``scan.dcm``, a PNG
    saved as ``.dcm``: :data:`~drac_ssl.grading.image_notes.DICOM_SUFFIXES`, ``.webp``:
    :data:`~drac_ssl.grading.image_notes.OTHER_IMAGE_SUFFIXES`) is misnamed too: the app
    grades such a file by its content (a review: silently, where ``python -m drac_ssl.export
    --images`` refuses it by its name, "rename it scan.png"); the ingest and the export's
    folder never read it, so there the words say grading only."""
    content = ACCEPTED_FORMATS.get(file_format)
    if content is None:
        return None
    suffix = os.path.splitext(name)[1]
    if name_words(file_format, name):
        where = "in training and in grading"
    elif suffix.lower() in DICOM_SUFFIXES or suffix.lower() in OTHER_IMAGE_SUFFIXES:
        where = "in grading"
    else:
        return None
    own = next(s for s, f in SUFFIX_FORMATS.items() if f == content)
    return (f"a {content} file, though named {suffix} (read as {content}: the content decides, {where})",
            f"rename it to {own} (a tool that goes by the name may misread it)")


def misnamed_finding(file_format: str, name: str) -> str | None:
    """The ingest's :func:`misnamed` words as one decoder finding, ``WHAT; FIX``, for the app
    (:func:`app.inputs.load_bytes`) and the export command
    (:func:`drac_ssl.grading.predict.read_image`) to say beside the grade as a plain note
    (``Image file: a JPEG file, though named .png (read as JPEG: ...); rename it to .jpg
    (...).``: :data:`drac_ssl.grading.image_notes.PLAIN_FINDINGS`): the grade is the content's,
    but a JPEG named ``.png`` was taken for lossless by whoever named it (review formats F3:
    only the ingest said it). None when :func:`misnamed` is."""
    said = misnamed(file_format, name)
    return None if said is None else f"{said[0]}; {said[1]}"


@dataclass(frozen=True)
class InputLimits:
    """What is graded: file size in bytes, the longest side in pixels and the pixels decoded
    (width x height: a small compressed file may hold a huge image, whose decoding would take
    a gigabyte of memory and, in the app, hold the model's slot). The defaults are the app's
    uploads' (``python -m app --max-size-mb``, ``--max-side``: 50 MiB, :data:`DEFAULT_LIMITS`),
    not those of a file read from disk: :func:`~drac_ssl.grading.predict.read_image`,
    ``grade_files``, ``grade_folder`` and ``app.predict.Predictor`` default to
    :data:`LOCAL_FILE_LIMITS` (512 MiB). To raise one limit keep the others:
    ``dataclasses.replace(LOCAL_FILE_LIMITS, max_side=16384)``; ``InputLimits(max_side=16384)``
    would also lower the file size limit to 50 MiB."""

    max_bytes: int = 50 * 1024 * 1024
    max_side: int = 8192
    max_pixels: int = 40_000_000
    max_decoded_bytes: int | None = None
    """The most bytes one image may take decoded (width x height x channels x bytes per
    sample, from the header: :func:`decoded_refusal`); None: :data:`DECODED_BYTES_PER_PIXEL`
    per pixel of :attr:`max_pixels` (:attr:`decoded_limit`)."""

    @property
    def decoded_limit(self) -> int:
        """The limit of decoded bytes in force: :attr:`max_decoded_bytes`, else
        :data:`DECODED_BYTES_PER_PIXEL` x :attr:`max_pixels` (240 MB at 40 megapixels: a
        16-bit RGB image at the pixel limit, which is read; a float32 RGB image of more than
        20 megapixels is refused)."""
        if self.max_decoded_bytes is not None:
            return self.max_decoded_bytes
        return DECODED_BYTES_PER_PIXEL * self.max_pixels

    @property
    def max_mb(self) -> float:
        """The size limit in MiB (1 MiB = 1,048,576 bytes: ``--max-size-mb 50`` is 52,428,800
        bytes), as the page and the messages say it."""
        return self.max_bytes / (1024 * 1024)


DECODED_BYTES_PER_PIXEL = 6
"""Bytes per pixel of :attr:`InputLimits.max_pixels` that an image may take decoded unless
:attr:`InputLimits.max_decoded_bytes` says otherwise: those of 16-bit RGB, so that a 16-bit RGB
photograph at the pixel limit is read (6300 x 6300 px, 238 MB decoded: the app's peak memory
1.7 GiB, docs/deploying.md), while a float32 RGB image (12 bytes a pixel) is read up to 20
megapixels, 16-bit RGBA (8) up to 30."""

DEFAULT_LIMITS = InputLimits()
"""The default :class:`InputLimits`: 50 MiB, 8192 px per side, 40 megapixels (the app's
uploads)."""

LOCAL_FILE_LIMITS = InputLimits(max_bytes=512 * 1024 * 1024)
"""The limits of a file read from disk (:func:`drac_ssl.grading.predict.read_image`, so the
export's ``--images`` and the Python API): the app's side and pixel limits, which bound the
memory a decode takes, and 512 MiB of file, since a camera's uncompressed or 16-bit TIFF is the
original photograph (5184 x 3456 8-bit RGB is 51 MiB; 40 megapixels of 16-bit RGBA, 320 MB) and
the ingest reads such files too (50 MiB refused them). The limit of decoded
bytes is the app's too (240 MB: 16-bit RGB up to 40 megapixels, 16-bit RGBA up to 30, float32
RGB up to 20; :data:`DECODED_BYTES_PER_PIXEL`): the export, the ingest and a script decode one
image at a time, as the app does, in the same memory plan."""


@dataclass(frozen=True)
class FileRefusal:
    """Why a file is not graded: ``what`` follows the file's name (``is 58.0 MiB, above the
    limit of 50 MiB``), ``fix`` says what to do, starting in lower case ("" when ``what`` says
    it); ``kind`` a short tag (``missing``, ``broken-link``, ``folder``, ``not-regular``,
    ``unreadable``, ``empty``, ``too-large``, ``format``, ``too-wide``, ``no-pixels``, ``too-many-pixels``,
    ``too-many-bytes``, ``tiff-header``)."""

    what: str
    fix: str
    kind: str
    one_sentence: bool = False  # the app's "`x.gif` is a GIF file; convert it to PNG (...), and upload that."

    def sentence(self, name: str) -> str:
        """The app's message: ``NAME WHAT. FIX.``, the name in backquotes (``NAME WHAT; fix.``
        with ``one_sentence``)."""
        if self.one_sentence and self.fix:
            return f"`{name}` {self.what}; {self.fix}."
        fix = f" {self.fix[0].upper()}{self.fix[1:]}." if self.fix else ""
        return f"`{name}` {self.what}.{fix}"

    def problem(self, path: str | os.PathLike[str]) -> Problem:
        """The same as a :class:`data_prep.problems.Problem` of ``path`` (``PATH: what -> fix``,
        the export command's and :class:`drac_ssl.grading.predict.ImageReadError`'s form),
        severity ``error``."""
        from data_prep.problems import Problem

        what = self.what.removeprefix("is ")
        return Problem(str(path), what, self.fix or "re-copy or re-export the image", kind=self.kind)


def _mb(n: int) -> str:
    """``n`` bytes in MiB (1 MiB = 1,048,576 bytes), the unit of the limit (``--max-size-mb``,
    :attr:`InputLimits.max_mb`): a 60,824,832-byte file is ``58.0 MiB`` (it was called "58.0
    MB", which is 60.8 MB)."""
    return f"{n / (1024 * 1024):.1f} MiB"


_NOT_REGULAR = ((stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"),
                (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def not_regular_words(mode: int) -> str | None:
    """``not a regular file (a named pipe)`` (a socket, a character or block device, a special
    file) for an ``st_mode`` that is neither a regular file nor a folder, as the export, the app
    and the ingest say it (reading one would wait for a writer forever, or never end); None
    for a regular file or a folder."""
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    what = next((words for test, words in _NOT_REGULAR if test(mode)), "a special file")
    return f"not a regular file ({what})"


def path_refusal(path: str | os.PathLike[str], upload: bool = False) -> FileRefusal | None:
    """Why ``path`` is not an image file to read, from the file system alone (nothing is
    opened); None for a regular file (a symbolic link to one included).

    ``missing`` (nothing there), ``broken-link`` (a symbolic link whose target does not exist,
    named), ``folder``, ``not-regular`` (a named pipe, socket or device: reading it would wait
    or never end), ``unreadable`` (the file system refuses to say, e.g. no permission on a
    folder on the way). ``upload``: the app's words (the file was uploaded: "upload it
    again")."""
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        if p.is_symlink():
            try:
                target = os.readlink(p)
            except OSError:
                target = "a file"
            shown = printable_text(str(target))  # escaped as the export says a name
            return FileRefusal(f"is a broken symbolic link (points to {shown}, which does not exist)",
                               "upload the image file itself" if upload else
                               "point the link at the image, or give the image file's own path",
                               "broken-link")
        return FileRefusal("could not be found on the server" if upload else "does not exist",
                           "upload it again" if upload else "check the path", "missing")
    except OSError as exc:
        return FileRefusal(f"cannot be opened ({exc.strerror or exc})",
                           "upload it again" if upload else
                           "check that the file is readable (permissions, a network drive)", "unreadable")
    if stat.S_ISDIR(st.st_mode):
        return FileRefusal("is a folder, not an image file",
                           "upload an image file" if upload else "give an image file in it", "folder")
    if (words := not_regular_words(st.st_mode)) is not None:
        return FileRefusal(f"is {words}",
                           "upload an image file" if upload else "give the image file itself", "not-regular")
    return None


def _typical(kind: str) -> str:
    return ("the original UW-OCTA export (about 1 MB for 1024 x 1024 px)" if kind == "octa"
            else f"the original {'photograph' if kind == 'fundus' else 'image'} (a few MB as "
                 f"JPEG or PNG), not a raw or multi-image file")


def bytes_refusal(n_bytes: int, limits: InputLimits, kind: str = "octa", upload: bool = False,
                  larger_limits: bool = True) -> FileRefusal | None:
    """Why a file of ``n_bytes`` bytes is not read: ``empty``, or ``too-large`` (above
    :attr:`InputLimits.max_bytes`; ``kind``, what the model grades, words the fix); None
    otherwise. ``larger_limits``: the caller may pass larger limits (``read_image``'s
    ``limits``), which the fix then offers; the ingest has none to pass."""
    if n_bytes == 0:
        return FileRefusal("is empty (0 bytes)", "upload the image file itself" if upload else
                           "re-copy or re-export the image", "empty")
    if n_bytes > limits.max_bytes:
        return FileRefusal(f"is {_mb(n_bytes)}, above the limit of {limits.max_mb:g} MiB",
                           f"upload {_typical(kind)}" if upload else
                           "convert it to PNG (lossless, compressed) or downscale it"
                           + (", or pass larger limits (InputLimits)" if larger_limits else ""),
                           "too-large")
    return None


def read_header(data: bytes) -> tuple[str, int, int] | None:
    """``(format, width, height)`` of an image file's bytes from its header, before anything is
    decoded (:func:`data_prep.decode.image_header`; a TIFF Pillow cannot open, e.g. 32-bit
    float RGB, from its own header, :func:`data_prep.decode.tiff_size`, as OpenCV then decodes
    it; a header above Pillow's own limit of pixels from :func:`data_prep.decode.declared_size`,
    so that its refusal can say the size to downscale to). None when no header is read: not an
    image, a damaged file, a TIFF whose header does not give its size. Raises
    ``PIL.Image.DecompressionBombError`` for a header above Pillow's limit whose size no
    plugin reads (:func:`bomb_refusal`)."""
    from PIL import Image, UnidentifiedImageError

    from data_prep.decode import declared_size, image_header, is_tiff, tiff_size

    try:
        file_format, (width, height) = image_header(data)
    except Image.DecompressionBombError:
        declared = declared_size(data)
        if declared is None:
            raise
        file_format, (width, height) = declared
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        size = tiff_size(data) if is_tiff(data) else None
        if size is None:
            return None
        file_format, (width, height) = "TIFF", size
    return file_format, int(width), int(height)


def tiff_header_refusal(upload: bool = False) -> FileRefusal:
    """The refusal (``tiff-header``) of a TIFF whose header does not give its size
    (:func:`data_prep.decode.tiff_size` None: damaged, or ImageWidth / ImageLength of a type
    not read): OpenCV's fallback would decode it with no limit of pixels or bytes."""
    return FileRefusal("is a TIFF file whose header does not give its size (damaged, or a layout "
                       f"{'this app' if upload else 'the package'} does not read)",
                       "re-export it as PNG", "tiff-header")


def bomb_refusal(limits: InputLimits, upload: bool = False) -> FileRefusal:
    """The refusal of a header declaring more pixels than Pillow opens
    (``PIL.Image.DecompressionBombError``)."""
    return FileRefusal("declares an enormous pixel count; refused",
                       f"upload an image of at most {limits.max_side} px per side" if upload else
                       f"downscale it to at most {limits.max_side} px per side", "too-many-pixels")


def downscale_fix(width: int, height: int, limits: InputLimits) -> str:
    """``downscale it first (to at most 6324 x 6324 px at this shape)``: the fix of every
    refusal of an image too large in pixels, one size at the image's shape that meets both
    limits (the side and the megapixels)."""
    scale = min(1.0, limits.max_side / max(1, width, height),
                (limits.max_pixels / max(1, width * height)) ** 0.5)
    to_w, to_h = (max(1, int(side * scale + 1e-9)) for side in (width, height))
    return f"downscale it first (to at most {to_w} x {to_h} px at this shape)"


def header_refusal(file_format: str, width: int, height: int, limits: InputLimits,
                   upload: bool = False, name: str = "") -> FileRefusal | None:
    """Why an image of ``file_format`` (PIL's name) and ``width`` x ``height`` px is not
    decoded: ``format`` (not one of :data:`ACCEPTED_FORMATS`; with the file's ``name``, a name
    that says another format is said too, :func:`name_words`), ``too-wide`` (a side above
    :attr:`InputLimits.max_side`), ``no-pixels``, ``too-many-pixels`` (above
    :attr:`InputLimits.max_pixels`, or above what Pillow decodes at all, twice
    ``PIL.Image.MAX_IMAGE_PIXELS``, for limits a caller raised above it); each size refusal
    names the size to downscale to at this shape (:func:`downscale_fix`). None for an image
    that is decoded."""
    from PIL import Image

    if file_format not in ACCEPTED_FORMATS:
        return FileRefusal(other_format(file_format) + name_words(file_format, name),
                           f"{CONVERT_FIX}, and upload that" if upload else CONVERT_FIX, "format",
                           one_sentence=upload)
    if Image.MAX_IMAGE_PIXELS:  # Pillow refuses above twice this (DecompressionBombError)
        limits = replace(limits, max_pixels=min(limits.max_pixels, 2 * int(Image.MAX_IMAGE_PIXELS)))
    if max(width, height) > limits.max_side:
        return FileRefusal(f"is {width} x {height} px, above the limit of {limits.max_side} px per side",
                           downscale_fix(width, height, limits), "too-wide")
    if min(width, height) < 1:
        return FileRefusal(f"has no pixels ({width} x {height})", "", "no-pixels")
    if width * height > limits.max_pixels:
        decodes = "that the app decodes" if upload else "decoded per image"
        return FileRefusal(f"is {width} x {height} px ({width * height / 1e6:.1f} megapixels), above the "
                           f"limit of {limits.max_pixels / 1e6:g} megapixels {decodes}",
                           downscale_fix(width, height, limits), "too-many-pixels")
    return None



def _bits_words(channels: int, sample_bytes: int) -> str:
    """``3 channels of 32 bits``: how a decoded pixel is held, for :func:`decoded_refusal`."""
    return f"{channels} channel{'s' if channels != 1 else ''} of {8 * sample_bytes} bits"


def _lighter_fix(channels: int, sample_bytes: int) -> str:
    """How to make an image of ``channels`` x ``sample_bytes`` take fewer bytes decoded, for
    :func:`decoded_refusal`: a file already of 16-bit samples (a 16-bit RGBA PNG) is told to
    drop its alpha channel or convert to 8-bit, not to become what it is."""
    if sample_bytes <= 2 and channels in (2, 4):
        return "drop the alpha channel or convert it to 8-bit"
    if sample_bytes <= 2:
        return "convert it to 8-bit"
    return "convert it to an 8- or 16-bit PNG"


def decoded_refusal(data: bytes, width: int, height: int, limits: InputLimits,
                    upload: bool = False) -> FileRefusal | None:
    """Why an image of ``width`` x ``height`` px (its header's, :func:`read_header`) is not
    decoded for the bytes it would take: ``too-many-bytes`` when width x height x channels x
    bytes per sample (:func:`data_prep.decode.sample_layout`, from the header of ``data``)
    is above :attr:`InputLimits.decoded_limit`, the fix naming a lighter layout (:func:`_lighter_fix`)
    and the size to downscale to at this shape and sample layout. None when it is within the
    limit, or the header does not say its samples (the pixel limits then bound it)."""
    from data_prep.decode import sample_layout

    layout = sample_layout(data)
    if layout is None:
        return None
    channels, sample_bytes = layout
    per_pixel = channels * sample_bytes
    decoded = width * height * per_pixel
    limit = limits.decoded_limit
    if decoded <= limit:
        return None
    scale = min(1.0, (limit / max(1, decoded)) ** 0.5)
    to_w, to_h = (max(1, int(side * scale + 1e-9)) for side in (width, height))
    decodes = "that the app decodes" if upload else "decoded per image"
    return FileRefusal(f"is {width} x {height} px of {_bits_words(channels, sample_bytes)}, "
                       f"{decoded / 1e6:.3g} MB decoded, above the limit of {limit / 1e6:g} MB {decodes}",
                       f"{_lighter_fix(channels, sample_bytes)}, or downscale it first (to at most "
                       f"{to_w} x {to_h} px at this shape)", "too-many-bytes")


def content_refusal(data: bytes, limits: InputLimits, upload: bool = False, name: str = ""
                    ) -> tuple[tuple[str, int, int] | None, FileRefusal | None]:
    """``(header, refusal)`` of an image file's bytes, before they are decoded: the header
    (:func:`read_header`; None when none is read: not an image, a damaged file) and why the
    image is not decoded (:func:`header_refusal`, then :func:`decoded_refusal` for the bytes
    it would take decoded, or :func:`bomb_refusal` for a header above
    Pillow's own limit, whose header is then None); the one sequence of the app's uploads,
    :func:`drac_ssl.grading.predict.read_image` and the training ingest
    (:func:`data_prep.cache.process_file`). A TIFF whose header does not give its size is
    refused (:func:`tiff_header_refusal`): OpenCV would decode it past every limit. ``name``:
    the file's name, for a format refusal
    of a file named as another format (``is a GIF file, though named .png``); "" unsaid."""
    from PIL import Image

    try:
        header = read_header(data)
    except Image.DecompressionBombError:  # more pixels than Pillow opens
        return None, bomb_refusal(limits, upload)
    if header is None:
        from data_prep.decode import is_tiff

        if is_tiff(data):  # OpenCV would decode it with no limit: its size is unknown
            return None, tiff_header_refusal(upload)
        return None, None
    refused = header_refusal(*header, limits, upload, name)
    if refused is None:
        refused = decoded_refusal(data, header[1], header[2], limits, upload)
    return header, refused
