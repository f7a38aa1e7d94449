"""One image file -> the pixels it means: the engine behind :func:`data_prep.validate.inspect_image`.

The ingest, ``drac_ssl.export.read_image_any`` and the app all decode through here, so the
same file gives the same pixels everywhere. :func:`decode` returns uint8 pixels, ``(H, W)``
grey or ``(H, W, 3)`` RGB, upright, plus a :class:`~data_prep.problems.Problem` for every
property of the file that changed what was read, or that could not be honoured.

Pillow reads every file's header and metadata, and decodes the pixels of every file but
two plain kinds (``load()`` is strict, so a file that ends before its image data are
complete is an error in every format). OpenCV decodes the pixels of 8/16-bit grey, RGB and
RGBA PNGs and grey/RGB JPEGs whose structure proves them complete (IEND / EOI found) and
whose header says everything (no tRNS, animation or Exif chunk): Pillow's PNG decode plus
its array copy took about 35 % more CPU time per 1024 px DRAC PNG (17.0 vs 12.7 ms). OpenCV also decodes the sample formats Pillow narrows: 16-bit colour (PNG colour
type 4 at 16 bits, TIFF with more than one sample of more than 8 bits) and TIFF variants
Pillow cannot open (e.g. float RGB). A PNG is given to OpenCV with its pixel chunks alone (the file's bytes
as they are when it holds no other chunk), and never when one of its image's chunks fails its
CRC or it holds a critical chunk no standard decoder knows: such a file is refused first, in
the package's words (:func:`png_crc_problem`, :func:`png_unknown_critical_problem`), since
libpng prints its own errors and warnings on stderr, which OpenCV's log level does not reach. libjpeg likewise says a damaged JPEG only on
stderr, and decodes it as if nothing were wrong (image data that end early: the rest grey):
every JPEG's image data are read by OpenCV's libjpeg with C's ``stderr`` stream (file
descriptor 2 where the stream cannot be swapped) captured (:func:`libjpeg_decode`; where
neither can, a warning that the damage was not checked), its warning said in the package's words (:func:`jpeg_damage`) and
never printed. The properties handled, by the format specifications (PNG 1.2 / ISO 15948, JPEG ITU
T.81 + JFIF 1.02 + Exif 2.32 / CIPA DC-008, TIFF 6.0, BMP):

=====================================  =======================================================
property                               what happens (severity, ``kind``)
=====================================  =======================================================
Exif Orientation 2..8 (JPEG APP1,      turned upright like a viewer shows it (note,
PNG eXIf or ImageMagick raw profile,   ``orientation``); TIFF's own Orientation tag is applied
XMP tiff:Orientation, TIFF tag 274)    by the decoder itself; a value outside 1..8 is ignored
                                       (warning)
samples of more than 8 bits            the bits actually used: the PNG ``sBIT`` chunk when
                                       present, else the smallest of 8/10/12/14/16 bits that
                                       holds the maximum (a 12-bit export in a 16-bit PNG:
                                       max <= 4095); the 8 most significant of those bits are
                                       kept (warning, ``bit-depth``)
32-bit integer / float samples         integer: as above; float: 0..1 scaled by 255, 0..255
                                       rounded, 0..65535 as 16-bit; negative or non-finite
                                       values are an error (warning, ``float``)
a PNG chunk of the image (IHDR,         an error before any decoder reads it (``corrupt``): its
PLTE, IDAT) failing its CRC-32         bytes changed after it was written (a faulty copy); a
                                       damaged IEND (it carries no data): a note
                                       (``trailing-data``), the image decoded
a PNG critical chunk the standard      an error (``format``): the PNG specification has a
does not define (type's first letter   decoder refuse it (libpng does; Pillow would skip it)
upper case, not IHDR/PLTE/IDAT/IEND)
a PNG ancillary chunk (text, tRNS,     left out, the pixels decoded (PNG 3rd ed. 13.1): a note
sBIT, iCCP ...) failing its CRC-32     for text, a warning for a chunk that says what the pixels
                                       mean (``metadata``); a phantom marker still legible in a
                                       damaged tEXt chunk still marks the file
JPEG image data that end before the   an error (``truncated``; ``corrupt`` for a code no table
last block (cut short and closed with  holds, a restart marker out of place): libjpeg's warning
an EOI, bytes lost), or are damaged    read back from stderr (:func:`jpeg_damage`); a file
                                       without its EOI is Pillow's ``truncated`` error
bytes after a complete image           decoded fully; the extra bytes are ignored (note,
(JPEG after EOI or between its image   ``trailing-data``); a real truncation stays an error
data and EOI, PNG after IEND)
palette, tRNS colour key, alpha        palette expanded; transparent pixels composited over
(P, PA, LA, RGBA, 16-bit RGBA)         black (warning, ``alpha``; "mostly transparent" above
                                       MOSTLY_TRANSPARENT_SHARE of the picture hidden); a fully
                                       opaque alpha is dropped silently, one of a single value
                                       everywhere (no mask) with a note (``alpha``)
CMYK / YCCK JPEG, CMYK TIFF, Lab       converted to RGB without colour management (warning,
                                       ``colour-space``)
several frames (APNG, GIF, multi-page  the first frame only (warning, ``frames``); a multi-
TIFF, MPO)                             picture JPEG (MPO) uses its primary picture (note)
ICC profile, PNG gAMA / cHRM           NOT applied: pixel values are used as stored, as public
                                       DR models read them (warning, ``colour-profile``);
                                       sRGB profiles and sRGB-equal gAMA/cHRM say nothing
non-square pixels (pHYs, JFIF          NOT corrected (warning, ``pixel-aspect``)
density, TIFF resolution)
PNG text metadata (XMP, comments)      read up to :data:`TEXT_CHUNK_LIMIT` (16 MB) a chunk, above
above Pillow's 1 MB a chunk            Pillow's default 1 MB (no message); above it, pixels from
                                       OpenCV, the metadata not read (note, ``metadata``)
PNG text chunk ``drac_ssl`` (the       ``Decoded.phantom`` set, from the header Pillow reads
phantom marker of data_prep.phantom)   anyway (no message here: the ingest counts them)
1-bit (black and white)                read as grey levels 0 and 255 (note, ``bit-depth``:
                                       a thresholded export or a mask?)
2/4-bit, MinIsWhite TIFF, BMP row      done by the decoders (0..255 scale, inversion, row
order, interlaced PNG, progressive     order, passes): no message
JPEG, 16-bit grey
=====================================  =======================================================
"""

from __future__ import annotations

import atexit
import codecs
import contextlib
import ctypes
import io
import os
import re
import struct
import sys
import tempfile
import threading
import unicodedata
import warnings
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from data_prep.colour_rule import GREY_SPREAD_LEVELS, OVERLAY_SHARE, colour_share  # noqa: F401 - re-exported
from data_prep.problems import Problem, error, note, warning

DEPTHS = (8, 10, 12, 14, 16)
"""Sensor bit depths the used range is matched against when a file does not say (no sBIT)."""
SRGB_GAMMA = 0.45455
"""PNG gAMA of sRGB-like data (1/2.2, as the PNG specification writes it)."""
SRGB_CHROMATICITY = (0.3127, 0.3290, 0.64, 0.33, 0.30, 0.60, 0.15, 0.06)
"""White point and primaries (x, y) of sRGB / Rec. 709, the PNG cHRM order."""

ONE_BIT_NOTE = "1-bit (black-and-white) image"
"""How the decoder's note on a 1-bit file (Pillow mode ``1``) starts: a thresholded export or a
mask rather than a scan (:func:`app.inputs.sanity_warnings` says it in its own words)."""

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_COLOUR_TYPES_WITH_COLOUR = (2, 4, 6)  # RGB, grey+alpha, RGBA: Pillow narrows them at 16 bits
_ORIENTATIONS = {
    2: "mirrored left-right",
    3: "rotated 180 degrees",
    4: "mirrored top-bottom",
    5: "mirrored along the main diagonal (transposed)",
    6: "rotated 90 degrees clockwise",
    7: "mirrored along the anti-diagonal (transversed)",
    8: "rotated 90 degrees counter-clockwise",
}
"""Exif Orientation value -> what a viewer does to the stored pixels to show them upright."""

PHANTOM_TEXT_KEY = "drac_ssl"
"""The PNG ``tEXt`` keyword of the marker :mod:`data_prep.phantom` writes into every phantom
image, before the image data (so Pillow's header read, ``Image.open(...).info``, holds it
without decoding a pixel); its text is :data:`PHANTOM_TEXT`. It travels with the file: a
phantom PNG copied into another folder still says what it is (:func:`phantom_marked`)."""
PHANTOM_TEXT = ("synthetic phantom UW-OCTA image drawn by drac_ssl (python -m data_prep "
                "phantom), not a retinal image of a patient")
"""The marker's text; :func:`phantom_marked` reads any text of the key starting with
:data:`PHANTOM_TEXT_START`, so a later rewording still matches the files made before it."""
PHANTOM_TEXT_START = "synthetic phantom"


def phantom_marked(info: Mapping[str, object]) -> bool:
    """Whether an image file's metadata (Pillow's ``im.info``, filled from the header when the
    file is opened) carries drac_ssl's phantom marker (:data:`PHANTOM_TEXT_KEY`)."""
    text = info.get(PHANTOM_TEXT_KEY)
    return isinstance(text, str) and text.startswith(PHANTOM_TEXT_START)


@dataclass
class Decoded:
    """A decoded file: ``pixels`` uint8 ``(H, W)`` grey or ``(H, W, 3)`` RGB, upright.

    ``pixels`` is None when the file cannot be used (an ``error`` is in ``problems``).
    ``width``/``height`` are those of the upright image; ``mode`` is Pillow's name of the
    stored pixel format (``L``, ``I;16``, ``RGB``, ``P``, ``CMYK`` ...); ``colour`` is True
    when the channels differ somewhere (an RGB file of a grey picture is grey);
    ``colour_share`` the share of pixels (0..1) whose channels differ by more than
    :data:`GREY_SPREAD_LEVELS` levels (:func:`colour_share`: below :data:`OVERLAY_SHARE`, a grey
    picture with a coloured overlay, or a grey JPEG's chroma noise). ``phantom``:
    the file carries drac_ssl's phantom marker (:func:`phantom_marked`: a synthetic image drawn
    by :mod:`data_prep.phantom`, not a retinal image).
    """

    pixels: np.ndarray | None
    width: int = 0
    height: int = 0
    mode: str = ""
    file_format: str = ""
    colour: bool = False
    problems: list[Problem] = field(default_factory=list)
    phantom: bool = False
    colour_share: float = 0.0


def channels_differ(pixels: np.ndarray) -> bool:
    """Whether ``pixels`` (``(H, W)`` grey or ``(H, W, C)``, C >= 3, any dtype) is a colour
    picture: its first three channels differ somewhere. An RGB file of a grey picture (three
    identical channels) is grey. The one test of colour: the ingest's decoding
    (:attr:`Decoded.colour`) and the scale inference's thumbnails
    (:func:`data_prep.ingest.infer_icdr`, which the preflight runs too)."""
    if pixels.ndim < 3 or pixels.shape[2] < 3:
        return False
    return not (np.array_equal(pixels[..., 0], pixels[..., 1])
                and np.array_equal(pixels[..., 1], pixels[..., 2]))


def orient(image: np.ndarray, orientation: int) -> np.ndarray:
    """The stored pixels ``image`` ``(H, W[, C])`` as shown upright for Exif Orientation 1..8.

    The same mapping as Pillow's ``ImageOps.exif_transpose`` (tested against it), on numpy
    arrays of any dtype and channel count (Pillow cannot hold 16-bit colour).
    """
    views = {
        1: lambda a: a,
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.swapaxes(0, 1),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
        8: lambda a: np.rot90(a, 1),
    }
    return np.ascontiguousarray(views[orientation](image))


# --------------------------------------------------------------------------------------
# File structure: where a PNG / JPEG really ends, and the PNG chunks Pillow does not keep


_EXIF_TEXT_KEYS = (b"Raw profile type exif", b"Raw profile type APP1", b"XML:com.adobe.xmp")

PNG_TEXT_CHUNKS = (b"tEXt", b"zTXt", b"iTXt")
"""The PNG chunks of text metadata (comments, the software, XMP, drac_ssl's phantom marker)."""


@dataclass
class _Structure:
    end: int | None = None  # offset just past the image (after IEND / EOI); None: not found
    png_depth: int = 0  # IHDR bit depth
    png_colour_type: int = -1
    sbit: tuple[int, ...] = ()  # PNG sBIT bytes (significant bits per channel)
    kinds: set[bytes] = field(default_factory=set)  # chunk types seen
    exif_text: bool = False  # a text chunk that may hold Exif / XMP (orientation)
    spans: list[tuple[bytes, int, int]] = field(default_factory=list)  # PNG (type, start, end) per chunk
    bad_crc: list[tuple[bytes, int]] = field(default_factory=list)  # PNG (type, start) failing its CRC


PNG_CRITICAL_CHUNKS = (b"IHDR", b"PLTE", b"IDAT", b"IEND")
"""The critical PNG chunks the standard defines (PNG 1.2 section 4.1), which a decoder must
understand. One of them whose CRC-32 does not match is an error to libpng, and to
:func:`decode` (:func:`png_crc_problem`), except IEND, which carries no data
(:data:`PNG_DATA_CHUNKS`); any other critical chunk (its type's first letter upper case) is
one no standard decoder knows, an error too (:func:`png_unknown_critical_problem`)."""

PNG_DATA_CHUNKS = (b"IHDR", b"PLTE", b"IDAT")
"""The critical chunks that carry the image (its header, palette and data): one failing its
CRC check means the pixels cannot be trusted (:func:`png_crc_problem`). IEND, the fourth
critical chunk, is empty: a damaged one changes nothing read and is only noted
(:func:`decode`, :data:`IEND_DAMAGED`)."""

_PNG_PIXEL_CHUNKS = (b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND")
"""The chunks OpenCV is given of a PNG (:func:`_opencv_decode`): what its pixels and their alpha
are made of. The others are metadata that Pillow reads from the header (ICC profile, gAMA,
sBIT, text, Exif) and libpng would only complain about on stderr (``libpng warning: iCCP:
known incorrect sRGB profile``), beside the package's own words."""

_IEND_CHUNK = b"\x00\x00\x00\x00IEND\xaeB`\x82"

IEND_DAMAGED = ("the PNG's end chunk IEND fails its CRC check (bytes changed after the file was "
                "written); it carries no data, and the image data pass their own CRC checks, so "
                "the image is complete and was decoded")
""":func:`decode`'s note on a PNG whose only damage is its IEND chunk's CRC (kind
``trailing-data``, a plain finding as a missing IEND is)."""


def png_structure(data: bytes) -> _Structure:
    """Walk the PNG chunks (length, type, data, CRC) up to IEND; each complete chunk's CRC-32
    (over its type and data) is checked, one that does not match recorded in ``bad_crc``. The
    CRC is computed over a view of ``data`` (no copy of the chunk: a 1 MB scan's walk costs
    little more than its CRC); only a chunk read here (IHDR, sBIT, a text chunk's keyword) is
    copied."""
    out = _Structure()
    view = memoryview(data)
    pos, n = len(_PNG_SIGNATURE), len(data)
    while pos + 8 <= n:
        length = int.from_bytes(view[pos:pos + 4], "big")
        if pos + 12 + length > n:
            return out  # ends inside a chunk
        kind = bytes(view[pos + 4:pos + 8])
        out.kinds.add(kind)
        out.spans.append((kind, pos, pos + 12 + length))
        if zlib.crc32(view[pos + 4:pos + 8 + length]) != int.from_bytes(view[pos + 8 + length:pos + 12 + length], "big"):
            out.bad_crc.append((kind, pos))
        if kind == b"IHDR" and length >= 10:
            out.png_depth, out.png_colour_type = view[pos + 16], view[pos + 17]
        elif kind in PNG_TEXT_CHUNKS:
            keyword = bytes(view[pos + 8:pos + 8 + min(length, 80)]).split(b"\x00", 1)[0]
            out.exif_text = out.exif_text or keyword in _EXIF_TEXT_KEYS
        elif kind == b"sBIT":
            out.sbit = tuple(view[pos + 8:pos + 8 + length])
        elif kind == b"IEND":
            out.end = pos + 12 + length
            return out
        pos += 12 + length
    return out


def png_crc_problem(data: bytes, path: str, structure: _Structure | None = None) -> Problem | None:
    """The error for a PNG (``data``, reported as ``path``) one of whose chunks that carry the
    image (:data:`PNG_DATA_CHUNKS`: IHDR, PLTE, IDAT) fails its CRC-32 check: its bytes changed
    after it was written (a faulty or incomplete copy, a zero-filled tail), so its pixels cannot
    be trusted; None for a PNG whose data chunks all match, and for data that is no PNG. Said
    before any decoder reads the file: libpng's error on such a file went to stderr as
    ``libpng error: IDAT: CRC error`` or ``bad adaptive filter value``, beside the package's
    "cannot be decoded". A damaged metadata chunk (ancillary: text, profile) is no error:
    :func:`decode` leaves it out and says so (:func:`damaged_metadata_problem`), as the PNG
    specification and libpng do; nor is a damaged IEND, which carries no data (a note,
    :data:`IEND_DAMAGED`)."""
    if not data.startswith(_PNG_SIGNATURE):
        return None
    structure = structure if structure is not None else png_structure(data)
    for kind, start in structure.bad_crc:
        if kind in PNG_DATA_CHUNKS:
            name = kind.decode("ascii", "replace")
            return error(path, f"corrupt PNG (its {name} chunk at byte {start:,} fails its CRC check: "
                               "the file's bytes changed after it was written, e.g. by a faulty or "
                               "incomplete copy)",
                         "re-copy or re-download the image from the original data", "corrupt")
    return None


def png_unknown_critical_problem(path: str, structure: _Structure) -> Problem | None:
    """The error for a walked PNG (:func:`png_structure`) holding a critical chunk the standard
    does not define (its type's first letter upper case, not one of
    :data:`PNG_CRITICAL_CHUNKS`): the PNG specification (3rd ed., 5.4) has a decoder that meets
    an unknown critical chunk refuse the image, since the chunk may change what the pixels mean
    (libpng stops with ``unknown critical chunk``; Pillow skips it silently, and OpenCV, given
    the pixel chunks alone, would never see it). None for a PNG without one. The first such
    chunk is named."""
    for kind, start, _ in structure.spans:
        if kind not in PNG_CRITICAL_CHUNKS and kind[:1].isupper():
            name = kind.decode("ascii", "replace")
            return error(path, f"PNG with a critical chunk no standard decoder knows (its {name!r} "
                               f"chunk at byte {start:,}: the PNG specification has a decoder refuse "
                               "such a file, as the chunk may change what its pixels mean)",
                         "re-export it as a standard PNG from the tool that wrote it (or open it "
                         "there and save it again as PNG)", "format")
    return None


_PNG_CHUNK_MEANINGS = {
    b"tRNS": "transparency", b"sBIT": "significant bits", b"gAMA": "gamma",
    b"cHRM": "chromaticities", b"sRGB": "sRGB intent", b"iCCP": "ICC colour profile",
    b"eXIf": "Exif orientation", b"pHYs": "pixel aspect ratio", b"acTL": "animation",
    b"fcTL": "animation", b"fdAT": "animation",
}
"""What an ancillary chunk holds that changes what the pixels mean (the decoder reads each):
left out when damaged, it is a warning (a property of the file not honoured), not a note."""


def png_damaged_metadata(structure: _Structure) -> list[tuple[bytes, int]]:
    """The ancillary (metadata) chunks of a walked PNG (:func:`png_structure`) that fail their
    CRC-32 check, ``(type, start)`` in file order; ``[]`` for none. A critical chunk failing its
    check is :func:`png_crc_problem`'s error instead."""
    return [(kind, start) for kind, start in structure.bad_crc if kind not in PNG_CRITICAL_CHUNKS]


def png_without_damaged_metadata(data: bytes, structure: _Structure | None = None) -> bytes:
    """``data``, a PNG, without its ancillary chunks that fail their CRC check
    (:func:`png_damaged_metadata`), every other byte kept in order (what follows IEND too);
    ``data`` itself when there are none, or when it is no PNG. The PNG specification (3rd ed.,
    13.1) has a decoder ignore an ancillary chunk it cannot use and decode the image: without
    one "a PNG decoder can still produce a meaningful image"; Pillow instead refuses the
    whole file at its first bad CRC ("broken PNG file"), libpng leaves the chunk out."""
    if not data.startswith(_PNG_SIGNATURE):
        return data
    structure = structure if structure is not None else png_structure(data)
    damaged = {start for _, start in png_damaged_metadata(structure)}
    if not damaged:
        return data
    end = structure.spans[-1][2] if structure.spans else len(_PNG_SIGNATURE)
    kept = [data[start:stop] for _, start, stop in structure.spans if start not in damaged]
    return b"".join([_PNG_SIGNATURE, *kept, data[end:]])


_PHANTOM_MARKER_BYTES = f"{PHANTOM_TEXT_KEY}\x00{PHANTOM_TEXT_START}".encode("latin-1")


def damaged_metadata_problem(data: bytes, path: str, structure: _Structure) -> tuple[Problem | None, bool]:
    """What :func:`decode` says of a PNG whose metadata chunks fail their CRC check
    (:func:`png_damaged_metadata`; they are left out, :func:`png_without_damaged_metadata`),
    and whether one of them still holds drac_ssl's phantom marker legibly (its keyword and the
    opening words of :data:`PHANTOM_TEXT`: a phantom stays a phantom when a byte of its marker
    chunk changed). A note (``metadata``) when every such chunk is text (a comment, the
    software), a warning when one says what the pixels mean (:data:`_PNG_CHUNK_MEANINGS`, or a
    text chunk of XMP / Exif, where an orientation may be). ``(None, False)`` for none."""
    damaged = png_damaged_metadata(structure)
    if not damaged:
        return None, False
    bodies = {start: data[start + 8:stop - 4] for _, start, stop in structure.spans}
    meanings: list[str] = []
    phantom = False
    for kind, start in damaged:
        body = bodies.get(start, b"")
        if kind in PNG_TEXT_CHUNKS:
            phantom = phantom or (kind == b"tEXt" and body.startswith(_PHANTOM_MARKER_BYTES))
            if body.split(b"\x00", 1)[0] in _EXIF_TEXT_KEYS:
                meanings.append("orientation (XMP / Exif text)")
        elif kind in _PNG_CHUNK_MEANINGS:
            meanings.append(_PNG_CHUNK_MEANINGS[kind])
        else:
            meanings.append(f"{kind.decode('ascii', 'replace')} contents")
    chunks = " and ".join(f"its {kind.decode('ascii', 'replace')} chunk at byte {start:,}"
                          for kind, start in damaged)
    verb = "fails its CRC check" if len(damaged) == 1 else "fail their CRC checks"
    what = (f"damaged PNG metadata left out: {chunks} {verb} (bytes changed after the file was "
            "written, e.g. by a faulty copy), so ")
    if meanings:
        what += f"what it says ({', '.join(dict.fromkeys(meanings))}) is not applied"
    else:
        what += "its text is not read"
    if phantom:
        what += "; drac_ssl's phantom marker is still legible in it: a synthetic phantom image"
    what += "; the image data pass their own CRC checks and were decoded"
    fix = "re-copy the image from the original data to keep its metadata"
    if meanings:
        return warning(path, what, fix, "metadata"), phantom
    return note(path, what, f"nothing to do for the pixels; {fix}", "metadata"), phantom


def _png_pixel_bytes(data: bytes, structure: _Structure, complete: bool = False) -> bytes:
    """``data``, a PNG, with only its :data:`_PNG_PIXEL_CHUNKS`; ``complete`` (Pillow has loaded
    its image data in full) ends one whose IEND is cut off with an IEND, so that libpng does not
    fail at the end of data that are all there (a truncated file is never given one). ``data``
    itself, not a copy, when it holds nothing else (the usual scan: IHDR, IDAT ..., IEND, and
    nothing after it)."""
    if structure.end == len(data) and all(kind in _PNG_PIXEL_CHUNKS for kind in structure.kinds):
        return data
    kept = [data[start:end] for kind, start, end in structure.spans if kind in _PNG_PIXEL_CHUNKS]
    if complete and structure.end is None:
        kept.append(_IEND_CHUNK)
    return b"".join([_PNG_SIGNATURE, *kept])


def jpeg_end(data: bytes) -> int | None:
    """Offset just past the EOI marker of the first JPEG image in ``data`` (T.81 B.1), or None.

    Segments are skipped by their length (so an Exif thumbnail's own SOI/EOI is not taken
    for the end); after each SOS the entropy-coded data run to the next marker that is not a
    stuffed ``FF00``, a restart ``FFD0..FFD7`` or a fill byte.
    """
    if not data.startswith(b"\xff\xd8"):
        return None
    pos, n = 2, len(data)
    while pos < n:
        if data[pos] != 0xFF:
            return None
        while pos < n and data[pos] == 0xFF:
            pos += 1
        if pos >= n:
            return None
        marker = data[pos]
        pos += 1
        if marker == 0xD9:
            return pos
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:
            continue
        if pos + 2 > n:
            return None
        length = int.from_bytes(data[pos:pos + 2], "big")
        if length < 2:
            return None
        pos += length
        if marker == 0xDA:
            while True:
                pos = data.find(b"\xff", pos)
                if pos < 0 or pos + 1 >= n:
                    return None
                following = data[pos + 1]
                if following == 0x00 or 0xD0 <= following <= 0xD7:
                    pos += 2
                elif following == 0xFF:
                    pos += 1
                else:
                    break
    return None


# --------------------------------------------------------------------------------------
# Pixels


LIBJPEG_WARNING = re.compile(
    r"Corrupt JPEG data: .*|Premature end of JPEG file|Invalid SOS parameters for sequential JPEG"
    r"|Warning: unknown JFIF revision number .*|Warning: thumbnail image size does not match .*"
    r"|Unknown Adobe color transform code .*|Inconsistent progression sequence .*"
    r"|Application transferred too (?:many|few) scanlines")
"""A warning of libjpeg's (its ``JWRN_*`` messages, the words libjpeg and libjpeg-turbo print on
stderr through OpenCV): the lines :func:`libjpeg_decode` keeps from stderr, as
:func:`jpeg_damage` reads them."""
_STDERR_LOCK = threading.Lock()


class _CStderrSink:
    """A temporary file (``tempfile.TemporaryFile``, so in ``TMPDIR`` where set; glibc's
    ``tmpfile()`` ignores it and fails where ``/tmp`` cannot be written) opened with C's stdio
    (``fdopen``), put in the place of the C library's ``stderr`` stream (the ``FILE *``
    libjpeg's ``fprintf(stderr, ...)`` reads at each call) while OpenCV decodes, and read back
    after. Not file descriptor 2: a child process a host starts meanwhile, from another
    thread, inherits its stderr untouched, and Python's own ``sys.stderr`` (which writes to
    descriptor 2) is not diverted. One per process (made again after a fork), never closed: a
    thread that read the pointer while it was swapped may still write to it after; such a late
    line is drained to file descriptor 2 before the next swap (:meth:`swapped`) and at exit,
    never read as the next decode's. OSError when the file cannot be made
    (:func:`_c_stderr_sink` tries again at the next decode)."""

    def __init__(self, libc: ctypes.CDLL, stderr: ctypes.c_void_p) -> None:
        libc.fdopen.restype = ctypes.c_void_p
        libc.fdopen.argtypes = [ctypes.c_int, ctypes.c_char_p]
        for func in ("fflush", "fileno", "rewind"):
            getattr(libc, func).argtypes = [ctypes.c_void_p]
        with tempfile.TemporaryFile() as file:  # the file lives on in the duplicate
            fd = os.dup(file.fileno())  # not inheritable
        handle = libc.fdopen(fd, b"w+")
        if not handle:
            os.close(fd)
            raise OSError("fdopen() failed")
        self.libc, self.stderr, self.handle, self.fd, self.pid = libc, stderr, handle, fd, os.getpid()

    def drain(self) -> bytes:
        """What was written to the sink since the last drain, which empties it."""
        self.libc.fflush(self.handle)
        os.lseek(self.fd, 0, os.SEEK_SET)
        chunks = []
        while chunk := os.read(self.fd, 1 << 16):
            chunks.append(chunk)
        os.ftruncate(self.fd, 0)
        self.libc.rewind(self.handle)
        return b"".join(chunks)

    @contextlib.contextmanager
    def swapped(self) -> Iterator[list[str]]:
        """C's ``stderr`` is the sink inside the block; the list yielded holds, after it, the
        text written to it (one string). A line written to the sink after the last block
        ended (a late writer's) goes to file descriptor 2 first."""
        _write_fd2(self.drain())
        text: list[str] = []
        original = self.stderr.value
        self.stderr.value = self.handle
        try:
            yield text
        finally:
            self.stderr.value = original
            text.append(self.drain().decode("utf-8", "replace"))


def _write_fd2(data: bytes) -> None:
    if data:
        with contextlib.suppress(OSError):
            os.write(2, data)


_SINK: list[_CStderrSink] = []  # this process's, once made; a failure is not kept


def _drain_sink_at_exit() -> None:
    if _SINK and _SINK[0].pid == os.getpid():
        with contextlib.suppress(Exception):
            _write_fd2(_SINK[0].drain())


atexit.register(_drain_sink_at_exit)


def _glibc() -> bool:
    """Whether the C library is glibc (its version string, as ``getconf GNU_LIBC_VERSION``)."""
    try:
        return (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    except (ValueError, OSError, AttributeError):  # musl: no such name
        return False


def _c_stderr_sink() -> _CStderrSink | None:
    """This process's :class:`_CStderrSink` (made on first use, under :data:`_STDERR_LOCK`),
    or None where C's ``stderr`` is no variable that may be written, or the sink cannot be
    made now (a temporary directory that cannot be written: tried again at the next call):
    glibc's ``stderr`` and macOS's ``__stderrp`` are variables (found through the process's
    global symbols, the copy every library uses); musl's is ``const`` (writing it would
    crash) and Windows' C runtime has none."""
    if _SINK and _SINK[0].pid == os.getpid():
        return _SINK[0]
    name = ("stderr" if sys.platform.startswith("linux") and _glibc()
            else "__stderrp" if sys.platform == "darwin" else None)
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(None)
        sink = _CStderrSink(libc, ctypes.c_void_p.in_dll(libc, name))
    except Exception:  # noqa: BLE001 - no sink: libjpeg_decode tries file descriptor 2
        return None
    _SINK[:] = [sink]
    return sink


def _swap_capture(buffer: np.ndarray, flags: int) -> tuple[np.ndarray | None, str] | None:
    """The decode with C's ``stderr`` stream swapped (:class:`_CStderrSink`): the image and
    what was written to the stream; None, nothing decoded, where it cannot be swapped."""
    sink = _c_stderr_sink()
    if sink is None:
        return None
    with sink.swapped() as written:
        image = _imdecode(buffer, flags)
    return image, "".join(written)


def _fd2_capture(buffer: np.ndarray, flags: int) -> tuple[np.ndarray | None, str] | None:
    """The decode with file descriptor 2 pointed at a temporary file (where C's ``stderr``
    stream cannot be swapped: musl, a failed sink): the image and what was written to
    descriptor 2 meanwhile, by any thread or child process; None, nothing decoded, where
    descriptor 2 cannot be redirected."""
    with contextlib.suppress(Exception):  # Python's own pending lines go out first
        sys.stderr.flush()
    try:
        sink = tempfile.TemporaryFile()
    except OSError:
        return None
    with sink:
        try:
            saved = os.dup(2)
        except OSError:  # no stderr at all (a detached process)
            return None
        try:
            os.dup2(sink.fileno(), 2)
        except OSError:
            os.close(saved)
            return None
        try:
            image = _imdecode(buffer, flags)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        sink.seek(0)
        return image, sink.read().decode("utf-8", "replace")


_CAPTURES = (_swap_capture, _fd2_capture)
_CAPTURE_SEEN: dict[str, int] = {}  # a capture's name: the process in which it caught the probe's warning
_PROBE: list[np.ndarray] = []


def _probe_jpeg() -> np.ndarray:
    """A small JPEG cut inside its image data and closed with an end marker, libjpeg's
    ``premature end of data segment``: the bytes a capture is tried on before it is trusted."""
    if not _PROBE:
        noise = np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)
        data = cv2.imencode(".jpg", noise, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
        _PROBE.append(np.frombuffer(data[:len(data) * 2 // 3] + b"\xff\xd9", np.uint8))
    return _PROBE[0]


def _capture_works(capture: Callable[[np.ndarray, int], tuple[np.ndarray | None, str] | None]) -> bool:
    """Whether ``capture`` catches libjpeg's warning for :func:`_probe_jpeg` in this process
    (tried until it does once; then kept for the process)."""
    if _CAPTURE_SEEN.get(capture.__name__) == os.getpid():
        return True
    result = capture(_probe_jpeg(), cv2.IMREAD_GRAYSCALE)
    if result is None:
        return False
    lines = result[1].splitlines(keepends=True)
    caught = any(LIBJPEG_WARNING.fullmatch(line.strip()) for line in lines)
    _write_fd2("".join(line for line in lines if not LIBJPEG_WARNING.fullmatch(line.strip()))
               .encode("utf-8", "replace"))
    if caught:
        _CAPTURE_SEEN[capture.__name__] = os.getpid()
    return caught


JPEG_NOT_CHECKED = "(libjpeg's warnings could not be captured: the JPEG's damage was not checked)"
"""The line :func:`libjpeg_decode` returns, in place of libjpeg's, when no capture of its
warnings works in this process (:func:`jpeg_damage`: a warning ``not-checked``)."""


def libjpeg_decode(data: bytes, flags: int = cv2.IMREAD_UNCHANGED) -> tuple[np.ndarray | None, list[str]]:
    """OpenCV's decode of a JPEG's bytes ``data`` (``cv2.imdecode`` with ``flags``), and libjpeg's
    warning about them (:data:`LIBJPEG_WARNING`, ``[]`` for none), or ``[JPEG_NOT_CHECKED]``
    where they could not be captured. OpenCV's log level, one per process, is not touched:
    OpenCV 5's ``imdecode`` logs nothing of a damaged, cut or oversized JPEG, it returns None
    or raises (``pixels <= CV_IO_MAX_IMAGE_PIXELS``: None here).

    libjpeg says a damaged JPEG only as a line it prints with ``fprintf(stderr, ...)``
    (``Corrupt JPEG data: premature end of data segment`` for image data that end early, the
    rest of the picture filled with grey), which neither OpenCV's log level nor its result
    reaches: the file is decoded as if nothing were wrong. So while OpenCV decodes (one
    decode at a time: a lock), the C library's ``stderr`` stream is swapped for a temporary
    file of this process (:class:`_CStderrSink`) and the lines are read back: libjpeg's are
    returned, never printed; any other line a C library wrote to ``stderr`` meanwhile
    (another thread's) is written to file descriptor 2 after. Where the stream cannot be
    swapped (musl's ``stderr`` is ``const``, Windows has none, or the temporary file cannot
    be made), file descriptor 2 is pointed at a temporary file instead, as before; where
    neither catches libjpeg's warning for a known cut JPEG (:func:`_capture_works`, tried
    once per process until it works), the image is decoded unchecked and
    ``[JPEG_NOT_CHECKED]`` returned: never passed as undamaged.

    Why the stream first and not file descriptor 2: a host service that embeds the package
    (a long-running process whose other threads start child processes) lost those children's
    stderr while a decode held descriptor 2 (they inherit descriptors, not C streams), and
    its own Python logging with them. Swapping the C stream touches nothing another thread's
    Python code or a child process uses. It is process-wide all the same: ``cv2.imdecode``
    releases the GIL, so another thread's C code that writes to ``stderr`` in the window is
    caught too; its lines go on to descriptor 2, unless they are libjpeg's own, from a host
    thread decoding a damaged JPEG with OpenCV at the same moment: that warning is then
    blamed on this decode's image (the package's own decodes take the lock; decode
    JPEGs of your own through this function, or not beside it, to be sure). Nor could another
    decoder replace libjpeg's warning: Pillow's libjpeg drops its warnings (it raises only on
    data that end with no end marker), and a check of the file's structure cannot tell image
    data that end early but are closed by an end marker without decoding them.

    libjpeg prints its first warning only, so a file warned about twice is known by the
    first (``Corrupt JPEG data: premature end of data segment`` comes before an ``extraneous
    bytes before marker 0xd9`` after the image data; a header's warning, an unknown JFIF
    revision, hides a later one, and is itself a doubt, :func:`jpeg_damage`). libjpeg-turbo
    warns of what it meets, not of every changed byte: a code that no Huffman table holds,
    met on its fast path, is decoded as zero without a word."""
    buffer = np.frombuffer(data, np.uint8)
    with _STDERR_LOCK:
        result = next((r for capture in _CAPTURES if _capture_works(capture)
                       and (r := capture(buffer, flags)) is not None), None)
        if result is None:
            return _imdecode(buffer, flags), [JPEG_NOT_CHECKED]
    image, written = result
    said, others = [], []
    for line in written.splitlines(keepends=True):  # another writer's lines go on as written
        (said if LIBJPEG_WARNING.fullmatch(line.strip()) else others).append(line)
    _write_fd2("".join(others).encode("utf-8", "replace"))
    return image, [line.strip() for line in said]


def _imdecode(buffer: np.ndarray, flags: int) -> np.ndarray | None:
    try:
        return cv2.imdecode(buffer, flags)
    except cv2.error:
        return None


_JPEG_DAMAGE = (
    (re.compile(r"Corrupt JPEG data: premature end of data segment"), "truncated",
     "its image data stop before the last block of the picture"),
    (re.compile(r"Premature end of JPEG file"), "truncated",
     "the file ends before its image data are complete"),
    (re.compile(r"Corrupt JPEG data: bad Huffman code"), "corrupt",
     "its image data hold a code that none of its Huffman tables has"),
    (re.compile(r"Corrupt JPEG data: bad arithmetic code"), "corrupt",
     "its arithmetic-coded image data cannot be decoded"),
    (re.compile(r"Corrupt JPEG data: found marker 0x[0-9a-f]+ instead of RST\d"), "corrupt",
     "a marker stands where a restart marker belongs"),
    (re.compile(r"Inconsistent progression sequence .*"), "corrupt",
     "its progressive scans contradict each other"),
)
"""libjpeg's warnings (:data:`LIBJPEG_WARNING`) that mean the image data are not what was
written, the ``kind`` of the error each is, and what it means in words. ``truncated``
(``JWRN_HIT_MARKER``: a marker, e.g. the end-of-image marker, came before the last block;
``JWRN_JPEG_EOF``: the data ended): a file cut short, or closed with an end marker after the
cut, or bytes lost in a copy; ``corrupt``: bytes changed. libjpeg fills what it cannot decode
with zeros (grey, or a blurred band in a progressive file) and goes on, as if nothing were
wrong."""
_BEFORE_EOI = re.compile(r"Corrupt JPEG data: (\d+) extraneous bytes before marker 0xd9")


def jpeg_damage(said: Iterable[str], path: str) -> list[Problem]:
    """What libjpeg's warnings ``said`` (:func:`libjpeg_decode`) about the JPEG ``path`` mean,
    in the package's words (libjpeg's own line is never repeated): an error ``truncated`` or
    ``corrupt`` for image data that end early or are damaged (:data:`_JPEG_DAMAGE`), to
    re-copy or re-export; a note ``trailing-data`` for bytes between the complete image data
    and the end-of-image marker (libjpeg only meets them once every block is decoded); a
    warning ``not-checked`` for :data:`JPEG_NOT_CHECKED` (no capture worked); a
    warning ``decoder`` for any other warning (a doubt until someone decides what it means);
    ``[]`` for none."""
    problems: list[Problem] = []
    for line in said:
        if line == JPEG_NOT_CHECKED:
            problems.append(warning(
                path, "JPEG damage not checked: libjpeg's warnings could not be captured in this "
                      "process (neither C's stderr stream nor file descriptor 2 could be redirected "
                      "to a temporary file), so image data cut short or damaged would pass unseen",
                "let the temporary directory (TMPDIR) be written, or re-export the image as PNG",
                "not-checked"))
            continue
        found = next(((kind, words) for pattern, kind, words in _JPEG_DAMAGE if pattern.fullmatch(line)), None)
        if found is not None:
            kind, words = found
            what = (f"truncated JPEG ({words}: the rest of the picture is missing, and a decoder "
                    "fills it with grey; the file was cut short, or bytes were lost in a copy)"
                    if kind == "truncated" else
                    f"corrupt JPEG ({words}: the file's bytes changed after it was written, and "
                    "part of the picture would be decoded wrongly)")
            problems.append(error(path, what, "re-copy or re-download the image from the original "
                                              "data, or re-export it from the software that wrote it",
                                  kind))
        elif (extra := _BEFORE_EOI.fullmatch(line)) is not None:
            problems.append(note(
                path, f"{extra[1]} byte(s) before the JPEG's end-of-image marker (EOI) ignored; the "
                      "image is complete and was decoded fully",
                "nothing to do (the program that wrote it padded its end)", "trailing-data"))
        else:
            problems.append(warning(
                path, f"the JPEG decoder (libjpeg) warned: {line.removeprefix('Corrupt JPEG data: ')}; "
                      "the image was decoded", "re-export the image as PNG if it does not look right",
                "decoder"))
    return problems


_LOG_LOCK = threading.Lock()
_LOG_USERS: list[int] = [0]  # decodes inside _opencv_log_silenced now
_LOG_SAVED: list[int] = []  # the level the first of them found, restored by the last


@contextlib.contextmanager
def _opencv_log_silenced() -> Iterator[None]:
    """OpenCV's log level (one per process) silent inside the block (its ``imdecode`` logs a
    PNG, TIFF or BMP it cannot read, e.g. ``imdecode_(...): can't read data``), and set back
    when the last of the threads inside such a block leaves: a reference count under a lock,
    so concurrent decodes never restore each other's silent level and leave it so. Another
    thread's OpenCV log lines are dropped while any decode is inside."""
    logging = getattr(getattr(cv2, "utils", None), "logging", None)
    if logging is None:
        yield
        return
    with _LOG_LOCK:
        if _LOG_USERS[0] == 0:
            _LOG_SAVED[:] = [logging.setLogLevel(logging.LOG_LEVEL_SILENT)]
        _LOG_USERS[0] += 1
    try:
        yield
    finally:
        with _LOG_LOCK:
            _LOG_USERS[0] -= 1
            if _LOG_USERS[0] == 0 and _LOG_SAVED:
                logging.setLogLevel(_LOG_SAVED.pop())


def _opencv_decode(data: bytes, structure: _Structure | None = None,
                   complete: bool = False, said: list[str] | None = None) -> np.ndarray | None:
    """OpenCV's full decode (``IMREAD_UNCHANGED``: depth and channels kept), RGB(A) order.

    A PNG (``structure``: its :func:`png_structure`, walked here when not given) is given to
    OpenCV only when its critical chunks pass their CRC check (:func:`png_crc_problem`; None
    otherwise, nothing decoded) and only its :data:`_PNG_PIXEL_CHUNKS`: libpng prints its
    errors and warnings to stderr itself (``libpng error: ...``, ``libpng warning: iCCP: ...``),
    which OpenCV's log level does not silence; so a damaged file is said by the caller alone,
    and metadata that libpng would complain about is never shown to it. What remains is a
    PNG whose CRCs match but whose data are malformed or invalid (written so, not damaged
    after: a second IHDR, invalid compressed data): libpng's line (``libpng error: IHDR: out
    of place``) can still appear for it. ``complete``: Pillow has loaded the image
    data in full (:func:`_png_pixel_bytes`). A JPEG is decoded by :func:`libjpeg_decode`,
    libjpeg's warnings appended to ``said`` (for :func:`jpeg_damage`), never printed."""
    if data.startswith(_PNG_SIGNATURE):
        structure = structure if structure is not None else png_structure(data)
        if png_crc_problem(data, "", structure) is not None:
            return None
        data = _png_pixel_bytes(data, structure, complete)
    if data.startswith(b"\xff\xd8"):
        image, warned = libjpeg_decode(data)
        if said is not None:
            said += warned
    else:
        with _opencv_log_silenced():
            image = _imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        return None
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim == 3 and image.shape[2] == 3:
        image = image[..., ::-1]
    elif image.ndim == 3 and image.shape[2] == 4:
        image = image[..., [2, 1, 0, 3]]
    return np.ascontiguousarray(image)


def _opencv_fast_path(im: Image.Image, structure: _Structure) -> bool:
    """Whether OpenCV may decode the pixels without Pillow loading them (speed: libpng and
    OpenCV's libjpeg-turbo are faster here and give no copy). Only when the file structure
    proves the data complete and Pillow's header holds every property that matters: a PNG of
    8/16-bit grey, RGB or RGBA ending in IEND, without tRNS, animation or Exif / XMP chunks
    (which Pillow would only find by loading); a single-picture grey or RGB JPEG whose EOI
    is found. Everything else is loaded by Pillow, whose load is strict."""
    if im.format == "PNG":
        return (structure.end is not None and structure.png_depth in (8, 16)
                and structure.png_colour_type in (0, 2, 6) and not structure.exif_text
                and not structure.kinds & {b"tRNS", b"eXIf", b"acTL"})
    if im.format == "JPEG":
        return im.mode in ("L", "RGB") and structure.end is not None
    return False


def _needs_opencv(im: Image.Image, structure: _Structure) -> bool:
    """Whether Pillow would narrow the samples (16-bit colour) of this file."""
    if im.format == "PNG":
        return structure.png_depth == 16 and structure.png_colour_type in _PNG_COLOUR_TYPES_WITH_COLOUR
    if im.format == "TIFF":
        tags = getattr(im, "tag_v2", {})
        bits = tags.get(258, (8,))
        bits = bits if isinstance(bits, tuple) else (bits,)
        samples = int(tags.get(277, len(bits)) or 1)
        return samples > 1 and max(int(b) for b in bits) > 8
    return False


def _colour_key_alpha(image: np.ndarray, key: object) -> np.ndarray | None:
    """An alpha channel from a tRNS colour key (PNG grey / RGB): 0 where the key colour is."""
    try:
        value = np.asarray(key, dtype=np.int64)
    except (TypeError, ValueError):
        return None
    if image.ndim == 2 and value.ndim == 0:
        transparent = image == value
    elif image.ndim == 3 and value.shape == (image.shape[2],):
        transparent = np.all(image == value, axis=-1)
    else:
        return None
    top = np.iinfo(image.dtype).max if image.dtype.kind in "ui" else 1.0
    return np.where(transparent, 0, top).astype(image.dtype)


def _pillow_pixels(im: Image.Image, path: str) -> tuple[np.ndarray | None, list[Problem]]:
    """Pillow's pixels of a loaded image, in a mode that keeps their meaning."""
    mode = im.mode
    problems: list[Problem] = []
    if mode == "1":
        problems.append(note(
            path, f"{ONE_BIT_NOTE}: read as grey levels 0 and 255 (a thresholded export or a mask, "
                  "not a scan or a photograph?)",
            "nothing to do if it is meant; otherwise use the original image", "bit-depth"))
        im = im.convert("L")
    elif mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif mode in ("PA", "RGBa", "La"):
        im = im.convert("LA" if mode == "La" else "RGBA")
    elif mode == "RGBX":
        im = im.convert("RGB")
    elif mode == "YCbCr":
        im = im.convert("RGB")
    elif mode in ("CMYK", "LAB", "HSV"):
        what = {"CMYK": "CMYK (a print/prepress export; a CMYK or YCCK JPEG)",
                "LAB": "CIELAB", "HSV": "HSV"}[mode]
        problems.append(warning(
            path, f"{what} image converted to RGB without colour management (Pillow's formula; "
                  "colours approximate)",
            "export it as RGB (sRGB) if its colours must be exact", "colour-space"))
        im = im.convert("RGB")
    elif not (mode in ("L", "LA", "RGB", "RGBA", "I", "F") or mode.startswith("I;16")):
        return None, [error(path, f"unsupported pixel format {mode!r}",
                            "export it as 8-bit grey or RGB PNG", "format")]
    array = np.asarray(im)
    if mode.startswith("I;16"):
        array = array.astype(np.uint16)
    if mode in ("L", "RGB") or mode.startswith("I;16"):
        key = im.info.get("transparency")
        alpha = _colour_key_alpha(array, key) if key is not None else None
        if alpha is not None and not bool(np.all(alpha)):
            array = np.dstack([array, alpha])
    return np.array(array), problems


def _bits_used(top: int, container: int, sbit: int) -> tuple[int, str]:
    """Bits actually used by integer samples whose maximum is ``top``, and how that was found."""
    if sbit and sbit < container:
        if top < 2 ** sbit:
            return sbit, f"the PNG sBIT chunk says {sbit} significant bits (values not scaled up)"
        return container, f"the PNG sBIT chunk says {sbit} significant bits, scaled to the full range"
    if sbit:
        return container, f"the PNG sBIT chunk says all {container} bits are significant"
    for bits in DEPTHS:
        if bits <= container and top < 2 ** bits:
            if bits == container:
                break
            if bits == 8:
                return 8, f"no sBIT chunk; max {top} <= 255: 8-bit values in a {container}-bit file"
            return bits, (f"no sBIT chunk; max {top} <= {2 ** bits - 1}: read as {bits}-bit data "
                          "(the range device exports use)")
    return container, f"the full {container}-bit range"


X257_WORDS = "every value a multiple of 257: 8-bit values stored x257"
""":func:`to_uint8`'s words on 16-bit samples that are an 8-bit picture widened as ``value *
257``: read as 8-bit data (:class:`SampleDepth` ``used`` 8), its values exactly."""

X257_DONE = "8-bit value = value / 257 (the 8-bit values exactly)"


_GUESSED_BITS = re.compile(r"no sBIT chunk; (?:max \d+ <= (?:255: (?P<eight>8)-bit values|\d+: read as "
                           r"(?P<bits>\d+)-bit data)|(?P<x257>" + re.escape(X257_WORDS) + r"))"
                           r"|(?<!says )the full (?P<full>\d+)-bit range")


def guessed_bits(what: str) -> int | None:
    """The bit depth :func:`to_uint8` guessed from an image's own maximum, read back from its
    ``bit-depth`` warning ``what``; None when a PNG sBIT chunk decided it or ``what`` is not
    such a warning. The ingest compares these across a set (:mod:`data_prep.ingest`): images
    of one set guessed at different depths are not scaled alike."""
    found = _GUESSED_BITS.search(what)
    if found is None or "sBIT chunk says" in what:
        return None
    return 8 if found["x257"] else int(found["eight"] or found["bits"] or found["full"])


CONVERTED_DEPTH = re.compile(r"^(?P<label>.*?) \(values -?\d+\.\.(?P<top>\d+)\): .*(?:8-bit value = "
                             r"value >> \d+ \(the 8 most significant of (?P<bits>\d+) bits\)|; used as they are"
                             r"|; " + re.escape(X257_DONE) + r")$")
""":func:`to_uint8`'s finding on a deep file converted to 8-bit: ``16-bit image (values
0..3276): no sBIT chunk; ...; 8-bit value = value >> 4 (the 8 most significant of 12 bits)``
(``bits`` 12), ``...; used as they are`` or ``...; 8-bit value = value / 257 (the 8-bit values
exactly)`` (:data:`X257_DONE`; ``bits`` None: 8 bits used)."""


@dataclass(frozen=True)
class SampleDepth:
    """How one decoded file became 8-bit (:func:`sample_depth`): ``file`` its samples in words
    (``16-bit``, ``32-bit``, ``8-bit``, ``1-bit``, ``float``), ``used`` the bits its 8-bit copy
    kept the top 8 of (8: used as they are; 1 for a 1-bit file), ``guessed`` whether the depth
    was judged from the file's own maximum (no PNG sBIT chunk: :func:`guessed_bits`), ``top``
    its largest sample (0 for an 8-bit file)."""

    file: str
    used: int
    guessed: bool = False
    top: int = 0

    @property
    def scaling(self) -> tuple[str, int]:
        """What decides whether two files were scaled alike: their samples and the bits used
        (the ingest's groups of ``ingest_summary.json`` ``bit_depths``, and grading's comparison
        of a file with the training images':
        :func:`drac_ssl.grading.image_notes.other_depth_warning`)."""
        return self.file, self.used


def sample_depth(mode: str, findings: Iterable[str]) -> SampleDepth:
    """:class:`SampleDepth` of a decoded file, from its PIL ``mode`` and the decoder's
    ``findings`` about it (its problems' ``what``: :data:`CONVERTED_DEPTH`, a float file's
    ``float image (...)``). The one reading of a file's depth, the ingest's
    (:func:`data_prep.ingest.file_depth`) and grading's (:func:`drac_ssl.grading.predict.read_image`,
    :meth:`app.predict.Predictor.upload_warnings`), so that a file graded is compared with the
    training images by the rule that grouped them."""
    said = list(findings)
    for what in said:
        found = CONVERTED_DEPTH.match(what)
        if found is None:
            continue
        label = found["label"]
        bits = re.match(r"(\d+)-bit", label)
        depth = "float" if label.startswith("float") else f"{bits[1]}-bit" if bits else "deep"
        return SampleDepth(depth, int(found["bits"] or 8), guessed_bits(what) is not None, int(found["top"]))
    if any(what.startswith("float image (") for what in said):
        return SampleDepth("float", 8)  # 0..1 or 0..255: scaled to 0..255
    return SampleDepth("1-bit", 1) if mode == "1" else SampleDepth("8-bit", 8)


def stored_x257(values: np.ndarray) -> bool:
    """Whether integer samples ``values`` (16-bit or wider, any shape) are all multiples of 257:
    an 8-bit picture saved at 16 bits as ``value * 257`` (0 -> 0, 255 -> 65535). A strided
    sample is checked first, so a real 16-bit picture costs almost nothing."""
    flat = values.reshape(-1)
    if flat.size == 0 or np.any(flat[::max(1, flat.size // 4096)] % 257):
        return False
    return not np.any(flat % 257)


def to_uint8(samples: np.ndarray, path: str, sbit: int = 0,
             what: str = "") -> tuple[np.ndarray | None, list[Problem]]:
    """Samples of any depth -> uint8, keeping the 8 most significant of the bits used.

    uint8 is returned as it is. Integer samples: the bits used ``b`` come from the PNG
    ``sBIT`` chunk (``sbit``) when present, else from the maximum (smallest of 8/10/12/14/16
    bits that holds it); the 8-bit value is ``value >> (b - 8)``, so a 12-bit export stored
    in 16 bits (0..4095) spans 0..255 instead of the 0..16 that ``value / 257`` gives, and
    8-bit data stored as ``value * 16`` comes back exactly when they reach 255. 16-bit samples
    that are all multiples of 257 (:func:`stored_x257`: an 8-bit picture widened as ``value *
    257``; no sBIT chunk, or one saying 8 bits) are read as 8-bit data: ``value / 257``, the
    8-bit values exactly however dim (:data:`X257_WORDS`). Float samples:
    0..1 -> ``round(255 v)``, 0..255 -> ``round(v)``, 0..65535 -> as 16-bit integers;
    NaN/inf or negative values are an error (their meaning is unknown).
    """
    if samples.dtype == np.uint8:
        return samples, []
    if samples.dtype == np.bool_:
        return samples.astype(np.uint8) * 255, []
    label = what or f"{samples.dtype.itemsize * 8}-bit image"
    if samples.dtype.kind == "f":
        if not np.all(np.isfinite(samples)):
            return None, [error(path, "float image with NaN or infinite values",
                                "export it as 8- or 16-bit integer PNG/TIFF", "float")]
        low, high = float(samples.min()), float(samples.max())
        if low < 0:
            return None, [error(path, f"float image with negative values ({low:g}..{high:g}): "
                                      "what they mean is unknown",
                                "export it as 8- or 16-bit integer PNG/TIFF", "float")]
        if high <= 1.0:
            out = np.rint(samples * 255.0).astype(np.uint8)
            how = "values 0..1 scaled by 255"
        elif high <= 255.0:
            out = np.rint(samples).astype(np.uint8)
            how = "values 0..255 rounded"
        elif high <= 65535.0:
            integers, problems = to_uint8(np.rint(samples).astype(np.uint16), path,
                                          what="float image with 16-bit values")
            return integers, problems
        else:
            return None, [error(path, f"float image with values up to {high:g}: what they mean "
                                      "is unknown", "export it as 8- or 16-bit integer PNG/TIFF",
                                "float")]
        return out, [warning(path, f"float image ({low:g}..{high:g}): {how}",
                             "export 8-bit if another scaling is meant", "float")]
    if samples.dtype.kind not in "ui":
        return None, [error(path, f"unsupported pixel type {samples.dtype}",
                            "export it as 8-bit grey or RGB PNG", "format")]
    if samples.dtype.kind == "i" and samples.size and int(samples.min()) < 0:
        return None, [error(path, f"signed image with negative values ({int(samples.min())}..): "
                                  "its zero point is unknown",
                            "export it as unsigned 8- or 16-bit PNG/TIFF", "bit-depth")]
    values = samples.astype(np.int64) if samples.dtype.kind == "i" else samples
    top = int(values.max()) if values.size else 0
    low = int(values.min()) if values.size else 0
    container = 16 if (samples.dtype.itemsize == 2 or top < 2 ** 16) else max(16, top.bit_length())
    if container == 16 and sbit in (0, 8) and top > 255 and stored_x257(values):
        # an 8-bit picture saved at 16 bits as value * 257 (the usual widening): its 8-bit
        # values exactly, whatever its maximum (a dim one is not read as 14-bit data)
        said = "the PNG sBIT chunk says 8 significant bits" if sbit else "no sBIT chunk"
        return (values // 257).astype(np.uint8), [warning(
            path, f"{label} (values {low}..{top}): {said}; {X257_WORDS}; {X257_DONE}",
            "nothing to do (or save it as 8-bit: its values are 8-bit ones)", "bit-depth")]
    bits, how = _bits_used(top, container, sbit)
    out = (values >> (bits - 8)).astype(np.uint8) if bits > 8 else values.astype(np.uint8)
    if bits == 8:
        done = "used as they are"
    else:
        done = f"8-bit value = value >> {bits - 8} (the 8 most significant of {bits} bits)"
    fix = ("if it is a dark image that uses the full range, write an sBIT chunk (or export "
           "8-bit)") if bits < container and not sbit else "export 8-bit to choose another scaling"
    return out, [warning(path, f"{label} (values {low}..{top}): {how}; {done}", fix, "bit-depth")]


def _split_alpha(array: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    if array.ndim == 3 and array.shape[2] in (2, 4):
        colour = array[..., :-1]
        return (colour[..., 0] if colour.shape[2] == 1 else colour), array[..., -1]
    if array.ndim == 3 and array.shape[2] not in (1, 3):
        raise ValueError(f"{array.shape[2]} channels")
    return (array[..., 0] if array.ndim == 3 and array.shape[2] == 1 else array), None


CONSTANT_ALPHA = "the alpha channel holds one value everywhere"
"""The start of the decoder's note on an alpha channel of one value in every pixel (not fully
opaque): it carries no mask, so it is ignored (:func:`_composite`)."""

CONSTANT_ALPHA_MIN_SHARE = 0.1
"""The lowest constant alpha, as a share of full opacity, that :func:`_composite` ignores as a
global opacity: 26 of 255 (8-bit), 6554 of 65535 (16-bit), 0.1 of 1.0 (float). A constant
alpha below it (0: fully transparent everywhere) reads as "hide everything", not an export's
opacity: it is composited over black as a mask is, and the near-black picture is then refused
as blank rather than graded from colour values the file hides (review formats R2)."""


MOSTLY_TRANSPARENT = "mostly transparent"
"""The start of the decoder's warning on an alpha channel that hides more than
:data:`MOSTLY_TRANSPARENT_SHARE` of the picture as that constant reads it (:func:`_composite`):
the app and the export make the image *not reliably gradable* for it
(:data:`drac_ssl.grading.image_notes.NOT_RELIABLY_GRADABLE`), where a smaller transparent part
is a plain note (composited over black, as in training)."""

MOSTLY_TRANSPARENT_SHARE = 0.25
"""The share an alpha channel may hide (the mean of ``1 - alpha / full``: a pixel of alpha 0
counts whole, one half transparent half) before the decoder says the file is
:data:`MOSTLY_TRANSPARENT` instead of its plain "(partly) transparent" words; the checks are
strictly above it, so a quarter exactly stays the plain note. The verdict reads only the alpha
channel and the visible pixels, never the colour stored under alpha 0, which nobody sees: two
files that are pixel-identical composited over black (white or black under the transparent
surround; hidden colour kept, or zeroed by an optimiser) get the same words. Which share
(:func:`_hidden_shares`; *whole*: of the frame, *in box*: inside the bounding box of the pixels
with alpha > 0), doubted when

- more than a quarter is hidden *in box* (holes inside the picture), or
- the picture is grey (its visible pixels, :func:`channels_differ`) and more than a quarter of
  the *whole* frame is hidden: a UW-OCTA en-face scan fills its square, so a transparent margin
  or a cut is graded as a scan shrunk or cut inside a black frame, or
- the visible region is a rectangle (less than :data:`RECTANGLE_IN_BOX_SHARE` hidden *in box*)
  and more than a quarter of the *whole* frame is hidden: a colour picture cut or shrunk onto a
  transparent margin.

A round or elliptic field (a fundus photograph whose black surround was made transparent:
1 - pi/4 = 21.5 % of its box hidden) is, composited over black, the opaque file pixel for pixel
(the same grade): its transparent frame is no doubt, in any frame.

===================================================  =====  ======  =========
case (measured on drawn 8-bit PNGs)                  whole  in box  said
===================================================  =====  ======  =========
colour fundus disc in a 4:3 frame, surround alpha 0  41 %   21 %    note
the same in a 16:9 frame / inscribed in a square     56/22  21 %    note
a circle with a margin in a square (Ben-Graham crop) 48 %   22 %    note
a disc cut at top and bottom, surround alpha 0       32 %   12 %    note
a grey OCTA scan, its left 40 % alpha 0              40 %   0       doubted
a grey OCTA scan centred on a transparent padding    61 %   0       doubted
the top half alpha 0 (grey or colour)                50 %   0       doubted
a quarter exactly hidden (a side, or inside the box) 25 %   0/25 %  note
===================================================  =====  ======  =========

Why a quarter: a round field inscribed in a square hides its corners, 1 - pi/4 = 21.5 % of its
box, and stays below; at more than a quarter the model grades a picture of which a large part
is black that was not black in the scan (a QA test: an RGBA PNG with alpha 0 on 50 % or 96 % of
its pixels was graded as if nothing were wrong)."""

RECTANGLE_IN_BOX_SHARE = 0.05
"""The most of its bounding box a visible region (pixels at half opacity or more, unweighted) may
leave out and still read as a rectangle
(a picture cut or shrunk onto a transparent margin) for :data:`MOSTLY_TRANSPARENT_SHARE`: far
below a round field's 21.5 %, above the partial row or column of a cut that is not
pixel-aligned."""


def _hidden_shares(alpha: np.ndarray, top: float) -> tuple[float, float, bool, float]:
    """How much the ``alpha`` channel (``(H, W)``, full opacity ``top``) hides, each a share
    0..1 weighted by transparency: of the whole frame, and inside the bounding box of the
    pixels with alpha > 0 (the whole frame when none is); whether that box touches no edge
    of the frame (a margin all round); and the share of pixels under half opacity inside the
    box of those at half opacity or more, unweighted: the shape of the visible region, 0 for a
    rectangle even with a feathered (soft, ramped) edge, whose ramp inflated the weighted share
    of its box (a review: a picture cut with a 20 px ramp, 70 % hidden, passed as a note), about
    0.215 (1 - pi/4) for a round field. No colour is read: :data:`MOSTLY_TRANSPARENT_SHARE` says
    how they are read. One float32 copy of the alpha channel (a 6000 x 6000 image: 144 MB)."""
    hide = alpha.astype(np.float32)
    np.divide(hide, np.float32(top), out=hide)
    np.clip(hide, 0.0, 1.0, out=hide)
    np.subtract(np.float32(1.0), hide, out=hide)
    whole = float(hide.mean(dtype=np.float64))
    seen = alpha > 0
    rows, cols = np.flatnonzero(seen.any(axis=1)), np.flatnonzero(seen.any(axis=0))
    if not rows.size:
        return whole, whole, False, 1.0
    inside = float(hide[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].mean(dtype=np.float64))
    framed = bool(rows[0] > 0 and cols[0] > 0 and rows[-1] < alpha.shape[0] - 1
                  and cols[-1] < alpha.shape[1] - 1)
    solid = alpha >= top / 2
    rows, cols = np.flatnonzero(solid.any(axis=1)), np.flatnonzero(solid.any(axis=0))
    shape = 1.0 - float(solid[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].mean()) if rows.size else 1.0
    return whole, inside, framed, shape


def _composite(colour: np.ndarray, alpha: np.ndarray, path: str) -> tuple[np.ndarray, list[Problem]]:
    """Transparent pixels over black; a fully opaque alpha channel is dropped silently, and one
    of a single value everywhere (every pixel 50% transparent: an export's global opacity, not
    a mask) is dropped with a note (:data:`CONSTANT_ALPHA`): composited, it only darkened the
    whole picture (by half for 128), and the grade could change (review formats F4). A mask
    hiding more than :data:`MOSTLY_TRANSPARENT_SHARE` as that constant reads it (inside the
    visible box; of the whole frame for a grey picture or a rectangular visible region; from the
    alpha and the visible pixels only) is said as
    :data:`MOSTLY_TRANSPARENT` (a doubt in the app and the export): "its alpha channel hides N%
    of the picture", or for a grey scan on a transparent margin all round "a transparent margin
    around the image"; any other mask (a fundus photograph's transparent surround) as "N% of the pixels are
    (partly) transparent" (a plain note there). A constant
    alpha below :data:`CONSTANT_ALPHA_MIN_SHARE` of full opacity (0: all hidden) is composited
    like a mask, and the dark result is refused as blank downstream. The one
    place the ingest and grading (the app, the export) handle alpha: they decode alike."""
    top = float(np.iinfo(alpha.dtype).max) if alpha.dtype.kind in "ui" else \
        (1.0 if float(alpha.max(initial=0)) <= 1.0 else 255.0)
    low = float(alpha.min(initial=top))
    if low >= top:
        return colour, []
    if low == float(alpha.max(initial=low)) and low >= CONSTANT_ALPHA_MIN_SHARE * top:
        return colour, [note(path, f"{CONSTANT_ALPHA} ({low:g} of {top:g}, "
                                   f"{100 * (1 - low / top):.1f}% transparent): it carries no mask, "
                                   "so it is ignored and the colour values are used as stored "
                                   "(not composited over black)",
                             "export the image without transparency if a darker picture is meant",
                             "alpha")]
    weight = np.clip(alpha.astype(np.float32) / top, 0.0, 1.0)
    if colour.ndim == 3:
        weight = weight[..., None]
    out = np.rint(colour.astype(np.float32) * weight).astype(np.uint8)
    share = float(np.mean(alpha < top)) * 100
    whole, inside, framed, shape = _hidden_shares(alpha, top)
    limit = MOSTLY_TRANSPARENT_SHARE
    grey = not channels_differ(out)  # the visible pixels only: nothing under alpha 0 is read
    if grey and framed and whole > limit:
        return out, [warning(path, f"{MOSTLY_TRANSPARENT}: a transparent margin around the image "
                                   f"({100 * whole:.1f}% of the frame): composited over black, the "
                                   "grey scan is graded shrunk inside a black frame, where a UW-OCTA "
                                   "scan fills its square",
                             "crop the image to the scan (or export it without transparency) and "
                             "grade that", "alpha")]
    if inside > limit or (whole > limit and (grey or shape < RECTANGLE_IN_BOX_SHARE)):
        return out, [warning(path, f"{MOSTLY_TRANSPARENT}: its alpha channel hides {100 * whole:.1f}% "
                                   f"of the picture, {100 * inside:.1f}% inside the box of its "
                                   f"visible pixels (over {limit:.0%}): composited over black, "
                                   f"the grade is read from the {100 * (1 - whole):.1f}% left visible",
                             "export the whole image without transparency and grade that",
                             "alpha")]
    return out, [warning(path, f"{share:.1f}% of the pixels are (partly) transparent: composited "
                               "over black, which darkens them by their transparency (the grade "
                               "may differ from the opaque image's)",
                         "export the image without transparency if another background is meant",
                         "alpha")]


# --------------------------------------------------------------------------------------
# Metadata that changes what the pixels mean


PROFILE_DESCRIPTION_CHARS = 80
"""The most characters of an ICC profile's description that a warning quotes."""


def one_line(text: str, limit: int = PROFILE_DESCRIPTION_CHARS) -> str:
    """``text`` (a string from a file's metadata) as one short line: every control character
    (line break, tab, ...) and run of white space made one space, then cut to ``limit``
    characters with "..." (an ICC profile's description reached the app's
    result text with its line breaks, where a crafted file could start a heading of its own, and
    at any length)."""
    flat = " ".join("".join(" " if unicodedata.category(c) == "Cc" else c for c in text).split())
    return flat if len(flat) <= limit else flat[:max(limit - 3, 0)].rstrip() + "..."


def _profile_description(icc: bytes) -> str:
    """The embedded ICC profile's description as one short line (:func:`one_line`), or "" when
    it cannot be read."""
    try:
        from PIL import ImageCms

        text = ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc)))
    except Exception:  # noqa: BLE001 - no littlecms, or a profile it cannot parse
        return ""
    return one_line(text or "")


def _ratio(pair: object) -> float | None:
    try:
        x, y = (float(v) for v in pair)  # type: ignore[union-attr]
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return x / y if x > 0 and y > 0 else None


def _metadata_problems(im: Image.Image, path: str) -> list[Problem]:
    """ICC profile, PNG gamma / chromaticities and non-square pixels: said, not applied."""
    info = im.info
    problems: list[Problem] = []
    icc = info.get("icc_profile")
    if icc:
        description = _profile_description(icc)
        if "srgb" not in description.lower():
            shown = f"'{description}'" if description else "(unreadable)"
            problems.append(warning(
                path, f"embedded ICC colour profile {shown} not applied: pixel values are used as "
                      "stored (as public DR models read them)",
                "convert the image to sRGB first if its colours must be exact", "colour-profile"))
    elif "srgb" not in info:
        gamma = info.get("gamma")
        if isinstance(gamma, float) and abs(gamma - SRGB_GAMMA) > 0.01:
            problems.append(warning(
                path, f"PNG gAMA {gamma:g} (sRGB is {SRGB_GAMMA:g}) not applied: pixel values are "
                      "used as stored",
                "re-encode the image to sRGB first if its brightness must be exact", "colour-profile"))
        chromaticity = info.get("chromaticity")
        if isinstance(chromaticity, tuple) and len(chromaticity) == 8 and any(
                abs(a - b) > 0.01 for a, b in zip(chromaticity, SRGB_CHROMATICITY, strict=True)):
            problems.append(warning(
                path, "PNG cHRM chromaticities other than sRGB's not applied: colours are used as "
                      "stored",
                "convert the image to sRGB first if its colours must be exact", "colour-profile"))
    for key in ("aspect", "dpi", "jfif_density", "resolution"):
        ratio = _ratio(info.get(key)) if key in info else None
        if ratio is not None:
            if abs(ratio - 1.0) > 0.01:
                x, y = info[key]
                problems.append(warning(
                    path, f"non-square pixels (horizontal:vertical resolution {float(x):g}:"
                          f"{float(y):g}) not corrected: the image is used on its pixel grid",
                    "resample it to square pixels before ingesting", "pixel-aspect"))
            break
    return problems


def _orientation(im: Image.Image, path: str) -> tuple[int, list[Problem]]:
    """Exif Orientation (1..8) Pillow reports for ``im`` now; 1 when absent or unusable."""
    try:
        value = im.getexif().get(0x0112)
    except Exception:  # noqa: BLE001 - a malformed Exif block must not stop the decode
        return 1, [warning(path, "the Exif block cannot be read: orientation unknown, pixels used "
                                 "as stored", "re-save the image with a valid Exif block",
                           "orientation")]
    if value is None or value == 1:
        return 1, []
    if not isinstance(value, int) or value not in _ORIENTATIONS:
        return 1, [warning(path, f"Exif Orientation {value!r} is not a valid value (1..8): ignored, "
                                 "pixels used as stored",
                           "check that the image is upright", "orientation")]
    return value, []


def _orientation_note(path: str, value: int, source: str) -> Problem:
    return note(path, f"{source} Orientation {value}: shown {_ORIENTATIONS[value]} (turned upright "
                      "as a viewer shows it)", "nothing to do", "orientation")


def _trailing_problem(data: bytes, im: Image.Image, structure: _Structure, path: str) -> list[Problem]:
    if im.format == "PNG":
        if structure.end is None:
            return [note(path, "the PNG has no complete IEND end chunk; its image data are "
                               "complete and were decoded", "nothing to do", "trailing-data")]
        extra, marker = len(data) - structure.end, "IEND"
    elif im.format == "JPEG":
        if structure.end is None:
            return []
        extra, marker = len(data) - structure.end, "end-of-image marker (EOI)"
    else:
        return []
    if extra <= 0:
        return []
    return [note(path, f"{extra} byte(s) after the {im.format}'s {marker} ignored; the image is "
                       "complete and was decoded fully",
                 "nothing to do (a transfer or a phone app appended them)", "trailing-data")]


# --------------------------------------------------------------------------------------
# The decode


def _failed(path: str, what: str, fix: str, mode: str = "", file_format: str = "",
            kind: str = "decode") -> Decoded:
    return Decoded(None, mode=mode, file_format=file_format, problems=[error(path, what, fix, kind)])


_KNOWN_CONTENT = ((b"%PDF", "a PDF document"), (b"PK\x03\x04", "a ZIP archive (e.g. a .docx or .xlsx)"),
                  (b"\xd0\xcf\x11\xe0", "an old Microsoft Office document"))


_IMAGE_SIGNATURES = ((b"\xff\xd8\xff", "JPEG"), (_PNG_SIGNATURE, "PNG"))


def damaged_image_format(data: bytes) -> str | None:
    """The image format whose signature ``data`` starts with: ``JPEG`` (``ff d8 ff``), ``PNG``
    (its 8-byte signature), ``TIFF`` (:func:`is_tiff`), ``BMP`` (``BM`` and the header's
    reserved zero bytes 6-9, so that text starting "BM" is not one); None otherwise. Asked of a
    file no decoder opens: such a file is a damaged or cut-short file of that format (a copy
    that stopped inside the header), not some other content."""
    for magic, fmt in _IMAGE_SIGNATURES:
        if data.startswith(magic):
            return fmt
    if is_tiff(data):
        return "TIFF"
    if data[:2] == b"BM" and data[6:10] == b"\x00\x00\x00\x00":
        return "BMP"
    return None


def cut_short(data: bytes, file_format: str) -> str | None:
    """Where a file of ``file_format`` (:func:`damaged_image_format`) that no decoder opens
    shows that it is incomplete, in words (``its end marker``), or None when it is complete
    or that is not cheap to tell (TIFF). A JPEG lacks its EOI ``ff d9`` at the end (trailing
    zero padding ignored; or the end :func:`jpeg_end` walks to), a PNG its ``IEND`` chunk, a
    BMP the size its header declares (bytes 2-5)."""
    if file_format == "JPEG":
        complete = data.rstrip(b"\x00").endswith(b"\xff\xd9") or jpeg_end(data) is not None
        return None if complete else "its end marker"
    if file_format == "PNG":
        return None if png_structure(data).end is not None else "its end chunk IEND"
    if file_format == "BMP" and len(data) >= 6:
        declared = int.from_bytes(data[2:6], "little")
        if len(data) < declared:
            return f"its end: {len(data):,} of the {declared:,} bytes its header declares"
    return None


def damaged_image(file_format: str, data: bytes) -> tuple[str, str, bool]:
    """A file of ``file_format`` (:func:`damaged_image_format`) that no decoder opens, as the
    ingest, the export command and the app say it: ``(words, fix, incomplete)``.
    :func:`cut_short` (looked at once) decides: an incomplete file is ``a truncated JPEG (its
    first bytes are a JPEG's, but the file ends before its end marker)``, to re-copy
    (:data:`DAMAGED_IMAGE_FIX`); a complete JPEG is ``a JPEG that cannot be decoded (an
    unsupported variant such as lossless JPEG or JPEG-LS?)``, to convert (re-copying gives the
    same file); otherwise ``a damaged or truncated PNG (its first bytes are a PNG's, but it
    cannot be decoded)``, to re-copy (without calling the file incomplete)."""
    short = cut_short(data, file_format) if data else None
    if short is not None:
        return (f"a truncated {file_format} (its first bytes are a {file_format}'s, but the file "
                f"ends before {short})", DAMAGED_IMAGE_FIX, True)
    if data and file_format == "JPEG":
        return UNDECODABLE_JPEG_WORDS, UNDECODABLE_JPEG_FIX, False
    return (f"a damaged or truncated {file_format} (its first bytes are a {file_format}'s, but "
            "it cannot be decoded)", "re-copy it, or re-download it, from the original data", False)


DAMAGED_IMAGE_FIX = "re-copy it, or re-download it, from the original data (the file is incomplete)"
UNDECODABLE_JPEG_WORDS = ("a JPEG that cannot be decoded (an unsupported variant such as lossless "
                          "JPEG or JPEG-LS?)")
UNDECODABLE_JPEG_FIX = "convert it to PNG with the tool that wrote it"


PLAIN_TEXT_WORDS = "plain text"
"""What :func:`content_words` says a text file holds: never its words, which in a hospital are
often a patient's (a clinical note saved as ``scan.png``: "Patient: Jane Doe DOB ..."), and
would be copied into the console and the run's ``console.log`` (security review F3)."""


def _text_kind(text: str) -> str:
    """:data:`PLAIN_TEXT_WORDS` with the kind of text when its first characters tell it
    (``plain text (an HTML page ...)``, ``(XML)``, ``(JSON?)``), from ``text``'s start only; never
    any of its words."""
    start = text.lstrip().lower()
    if start.startswith(("<!doctype html", "<html")):
        return (f"{PLAIN_TEXT_WORDS} (an HTML page: a download that saved a web page instead "
                "of the image?)")
    if start.startswith("<?xml"):
        return f"{PLAIN_TEXT_WORDS} (XML)"
    if start.startswith(("{", "[")):
        return f"{PLAIN_TEXT_WORDS} (JSON?)"
    return PLAIN_TEXT_WORDS


UNKNOWN_BINARY_WORDS = "an unknown format"
"""What :func:`content_words` says a file holds whose start is mostly not text and has no
signature it knows: never its bytes (in hex they could spell a patient's letters)."""

UNKNOWN_CONTENT_WORDS = "an unknown format (its first bytes are text)"
"""What :func:`content_words` says a file holds at least half of whose first bytes read as text
but whose start is not all text: not those bytes in hex, which would spell its first letters."""


def content_words(data: bytes) -> str:
    """What a file that is not an image seems to hold, for messages: ``a PDF document``,
    :data:`PLAIN_TEXT_WORDS` (printable UTF-8 text, a byte-order mark left out; its kind added
    when its start tells it: :func:`_text_kind`; never quoted), a DICOM file (the ``DICM`` tag
    at byte 128) ..., ``plain text (UTF-16)`` for a UTF-16 byte-order mark, plain text too for
    printable text in Windows-1252 (Latin-1's letters too), :data:`UNKNOWN_CONTENT_WORDS` when at
    least half of its first 48 bytes read so, else :data:`UNKNOWN_BINARY_WORDS`: never its bytes
    (in hex they spelled a Windows-1252 note's letters); ``an empty file`` for no bytes."""
    if not data:
        return "an empty file"
    if b"DICM" in (data[128:132], data[:4]):  # after the 128-byte preamble, or without one
        return "a DICOM file (export the image as PNG or TIFF from the viewer)"
    for magic, words in _KNOWN_CONTENT:
        if data.startswith(magic):
            return words
    file_format = damaged_image_format(data)
    if file_format is not None:
        return f"the first bytes of a {file_format} image, damaged or cut short"
    # a UTF-8 byte-order mark (Excel's "CSV UTF-8") is no character of the text; a character
    # cut in two by the 48 bytes read is left out (final=False), not taken for binary
    head = data[:48].removeprefix(codecs.BOM_UTF8)
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        text = ""
    if text and all(c.isprintable() or c in "\r\n\t" for c in text):
        return _text_kind(text)
    if data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        return f"{PLAIN_TEXT_WORDS} (UTF-16)"

    # text in a single-byte code page (a Windows-1252 note: "Bericht für Müller", “Müller” with
    # its quotes 0x93/0x94): its bytes in hex would spell its letters, i.e. the patient's text
    # (security reviews F6, F1): no byte is ever shown, only how much of the start reads as text
    # in Windows-1252 (Latin-1's letters too; its 5 undefined bytes are no text)
    text = head.decode("cp1252", errors="replace")
    letters = sum(c != "\ufffd" and (c.isprintable() or c in "\r\n\t") for c in text)
    if letters == len(text):
        return _text_kind(text)
    if letters * 2 >= len(text):  # text first, then something else
        return UNKNOWN_CONTENT_WORDS
    return UNKNOWN_BINARY_WORDS


_TIFF_SIGNATURES = {b"II*\x00": ("<", False), b"MM\x00*": (">", False),  # classic TIFF
                    b"II+\x00": ("<", True), b"MM\x00+": (">", True)}  # BigTIFF
"""The first 4 bytes of a TIFF file: its byte order and whether it is a BigTIFF."""


def is_tiff(data: bytes) -> bool:
    """Whether ``data`` starts with a TIFF signature (classic or BigTIFF, either byte order)."""
    return data[:4] in _TIFF_SIGNATURES


_TIFF_VALUE_CODES = {1: ("B", 1), 3: ("H", 2), 4: ("I", 4), 6: ("b", 1), 8: ("h", 2),
                     9: ("i", 4), 16: ("Q", 8), 17: ("q", 8)}
"""TIFF field type -> struct code and size of every integer type (TIFF 6.0 section 2 and
BigTIFF): BYTE, SHORT, LONG, SBYTE, SSHORT, SLONG, LONG8, SLONG8. libtiff reads a tag of any
of them, so the limits must too (a review found a float32 RGB TIFF whose BitsPerSample and
SamplesPerPixel were rewritten as BYTE let through as 1 sample of 1 bit)."""


def _tiff_tags(data: bytes, wanted: tuple[int, ...]) -> dict[int, tuple[int, ...]] | None:
    """The integer values of the ``wanted`` tags of a TIFF's first IFD (an array kept whole:
    BitsPerSample has one value per sample; signed types as read, maybe negative), read from
    the header without decoding anything. A wanted tag that is present but not read (a
    non-integer type such as RATIONAL or ASCII, no values, or values past the end of the
    file) maps to ``()``, so that a caller can tell it from an absent one; None when
    ``data`` is no TIFF (:func:`is_tiff`) or its IFD ends early."""
    if not is_tiff(data):
        return None
    order, big = _TIFF_SIGNATURES[data[:4]]
    offset_code, inline = ("Q", 8) if big else ("I", 4)
    found: dict[int, tuple[int, ...]] = {}
    try:
        if big:
            (ifd,) = struct.unpack_from(order + "Q", data, 8)
            (count,) = struct.unpack_from(order + "Q", data, ifd)
            start, step, value_at = ifd + 8, 20, 12
        else:
            (ifd,) = struct.unpack_from(order + "I", data, 4)
            (count,) = struct.unpack_from(order + "H", data, ifd)
            start, step, value_at = ifd + 2, 12, 8
        for i in range(min(count, 4096)):
            at = start + step * i
            tag, kind = struct.unpack_from(order + "HH", data, at)
            if tag not in wanted:
                continue
            (n,) = struct.unpack_from(order + ("Q" if big else "I"), data, at + 4)
            if kind not in _TIFF_VALUE_CODES:
                found[tag] = ()  # present, of a type not read: the caller assumes the worst
                continue
            code, size = _TIFF_VALUE_CODES[kind]
            n = min(int(n), 64)  # a sample count; a larger array is not a header we read
            where = at + value_at
            try:
                if n * size > inline:  # the values lie elsewhere, at this offset
                    (where,) = struct.unpack_from(order + offset_code, data, where)
                found[tag] = struct.unpack_from(order + code * n, data, where)
            except struct.error:  # values past the end of the file: present, not read
                found[tag] = ()
    except struct.error:  # the IFD ends early
        return None
    return found


def tiff_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` of a TIFF's first image, read from its header (the first IFD's
    ImageWidth and ImageLength tags) without decoding anything: how the app checks its
    size limits on a TIFF Pillow cannot open (a float RGB TIFF) before OpenCV decodes it.
    None when ``data`` is no TIFF (:func:`is_tiff`) or its header does not give both."""
    tags = _tiff_tags(data, (256, 257))  # ImageWidth, ImageLength
    if not tags or not tags.get(256) or not tags.get(257):
        return None
    return int(tags[256][0]), int(tags[257][0])


def _sample_bytes(bits: int) -> int:
    """Bytes a decoder holds a sample of ``bits`` bits in: 1 up to 8 bits, 2 up to 16, 4 up
    to 32 (a float), 8 above."""
    return 1 if bits <= 8 else 2 if bits <= 16 else 4 if bits <= 32 else 8


_PNG_CHANNELS = {0: 1, 2: 3, 3: 4, 4: 2, 6: 4}
"""PNG colour type -> channels decoded (a palette counted as RGBA: expanded, maybe with
transparency)."""
_JPEG_FRAME_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
"""JPEG SOFn markers (T.81 B.1.1.3): the frame header that gives precision and components."""


_TIFF_WORST_BITS, _TIFF_WORST_SAMPLES = 64, 4
"""The BitsPerSample and SamplesPerPixel :func:`sample_layout` assumes for a TIFF whose tag is
present but not read (a type it does not read, no value, a value below 1): the most bytes a
pixel of an RGBA image may take (4 channels of float64)."""


_TIFF_PHOTOMETRIC_CHANNELS = {2: 3, 3: 4, 5: 4, 6: 3, 8: 3, 9: 3, 10: 3}
"""Channels a decoder makes of a TIFF's PhotometricInterpretation (262): RGB, YCbCr and the
CIELab kinds 3, a palette 4 (expanded, maybe with transparency), Separated (CMYK) 4; grey 1.
:func:`sample_layout` takes the largest of these, SamplesPerPixel and the number of
BitsPerSample / SampleFormat values."""


def sample_layout(data: bytes) -> tuple[int, int] | None:
    """``(channels, bytes per sample)`` of an image file's first image as a decoder holds it
    whole, read from the header before anything is decoded, for the limit of decoded bytes
    (:func:`drac_ssl.grading.image_file.decoded_refusal`: a 0.6 MB deflate float32 RGB TIFF
    of 6324 x 6324 px decodes to 480 MB). PNG: IHDR's colour type and bit depth (a palette as
    4 channels of 8 bits); TIFF: the first IFD's SamplesPerPixel (277) and its largest
    BitsPerSample (258; of any integer type; TIFF 6.0's defaults 1 and 1 when absent; a tag
    present but not read, 4 channels of 64 bits: :data:`_TIFF_WORST_BITS`; channels at least
    what the number of BitsPerSample or SampleFormat values or the photometric kind implies,
    :data:`_TIFF_PHOTOMETRIC_CHANNELS`, as libtiff decodes an RGB file without tag 277 to 3
    channels), bytes per sample by
    :func:`_sample_bytes` (a float32 sample: 4); JPEG: the first SOFn frame's components and
    precision (12-bit: 2 bytes); BMP: the bits per pixel of its DIB header (up to 24 bits: 3
    channels of 8 bits, a palette expanded; 32: 4; 64: 4 of 16 bits). None for another format
    or a header that does not say it (the pixel limits still apply)."""
    if data.startswith(_PNG_SIGNATURE) and data[12:16] == b"IHDR" and len(data) >= 26:
        depth, colour_type = data[24], data[25]
        if colour_type not in _PNG_CHANNELS:
            return None
        return _PNG_CHANNELS[colour_type], 2 if depth == 16 else 1
    if is_tiff(data):
        # BitsPerSample, SamplesPerPixel, PhotometricInterpretation, SampleFormat
        tags = _tiff_tags(data, (258, 277, 262, 339))
        if tags is None:
            return None
        bits_values, samples_values = tags.get(258, (1,)), tags.get(277, (1,))  # TIFF 6.0 defaults
        # a tag present but not read (another type, no values, a value below 1) is taken at
        # its worst, as a decoder may read it otherwise: 64-bit samples, 4 channels
        bits = max(bits_values) if bits_values and min(bits_values) >= 1 else _TIFF_WORST_BITS
        samples = samples_values[0] if samples_values and samples_values[0] >= 1 else _TIFF_WORST_SAMPLES
        # libtiff works the channels out from the other tags where SamplesPerPixel is absent or
        # says fewer (an RGB image without tag 277 decodes to 3 channels): the most any tag implies
        photometric = tags.get(262) or (None,)
        samples = max(samples, len(tags.get(258, ())), len(tags.get(339, ())),
                      _TIFF_PHOTOMETRIC_CHANNELS.get(photometric[0], 1))
        return int(samples), _sample_bytes(int(bits))
    if data.startswith(b"\xff\xd8"):
        pos, n = 2, len(data)
        while pos + 4 <= n and data[pos] == 0xFF:
            while pos < n and data[pos] == 0xFF:
                pos += 1
            if pos >= n:
                return None
            marker = data[pos]
            if marker == 0xD9 or marker == 0xDA:  # end of image, or the scan before any frame
                return None
            length = int.from_bytes(data[pos + 1:pos + 3], "big")
            if marker in _JPEG_FRAME_MARKERS:
                if pos + 9 > n:
                    return None
                precision, components = data[pos + 3], data[pos + 8]
                return max(1, components), 2 if precision > 8 else 1
            if length < 2:
                return None
            pos += 1 + length
        return None
    if data.startswith(b"BM") and len(data) >= 30:
        header_size = int.from_bytes(data[14:18], "little")
        at = 24 if header_size == 12 else 28  # OS/2 BITMAPCOREHEADER, else BITMAPINFOHEADER and later
        bits = int.from_bytes(data[at:at + 2], "little")
        if bits <= 24:
            return 3, 1
        return 4, 2 if bits > 32 else 1
    return None


def _open_fallback(data: bytes, path: str, structure: _Structure | None = None) -> Decoded:
    """Pillow cannot open the file: OpenCV may still decode it (e.g. a float RGB TIFF; a JPEG
    whose damage libjpeg reports is refused, :func:`jpeg_damage`).
    ``structure``: a PNG's :func:`png_structure`, walked already."""
    said: list[str] = []
    pixels = _opencv_decode(data, structure, said=said)
    damage = jpeg_damage(said, path)
    if any(p.severity == "error" for p in damage):
        return Decoded(None, file_format="JPEG", problems=[p for p in damage if p.severity == "error"])
    if pixels is None and is_tiff(data) and tiff_size(data) is not None:  # a TIFF all the same: say so
        return _failed(path, "a TIFF file that neither Pillow nor OpenCV can decode (a "
                             "compression or sample format they do not read, or a damaged file)",
                       "re-export it as PNG, or as an 8- or 16-bit TIFF without compression",
                       file_format="TIFF", kind="decode")
    file_format = damaged_image_format(data) if pixels is None else None
    if file_format is not None:  # cut inside its header (a copy that stopped after 300 bytes)
        words, fix, incomplete = damaged_image(file_format, data)
        return _failed(path, words, fix, file_format=file_format,
                       kind="truncated" if incomplete else "decode")
    if pixels is None:
        return _failed(path, f"not an image (it holds {content_words(data)})",
                       "replace it with the real image or move it out of the image folder",
                       kind="not-an-image")
    mode = f"{pixels.dtype}x{1 if pixels.ndim == 2 else pixels.shape[2]}"
    fmt = "TIFF" if is_tiff(data) else "unknown"
    return _finish(pixels, path, mode, fmt, [note(
        path, "Pillow cannot open this file; decoded by OpenCV (orientation and colour profile "
              "not checked)", "export it as PNG to have its metadata checked", "decoder"), *damage], 0)


TEXT_CHUNK_LIMIT = 16 * 1024 * 1024
"""Bytes a PNG text chunk (tEXt, zTXt, iTXt) may decompress to when the decoder reads a file
whose text Pillow's default refuses (``PngImagePlugin.MAX_TEXT_CHUNK``, 1 MB: a review's
valid PNG with 1.5 MB of XMP, an editing history, was called damaged by the app and read
without its metadata by the ingest). 16 times Pillow's default, under its own limit for all
of a file's text (``MAX_TEXT_MEMORY``, 64 MB), which stays: a decompression bomb in a text
chunk still stops there. Above it the pixels are decoded by OpenCV, the metadata not read
(:func:`decode`)."""
_TEXT_LIMIT_LOCK = threading.Lock()


class _TextTooLarge(Exception):
    """A PNG's text metadata is above the text limit in force (:func:`text_metadata_too_large`)."""


def text_metadata_too_large(exc: BaseException) -> bool:
    """Whether ``exc`` is Pillow's refusal of a PNG's text metadata: one chunk decompressing to
    more than ``PngImagePlugin.MAX_TEXT_CHUNK`` or all of them to more than ``MAX_TEXT_MEMORY``
    (a ValueError naming the limit), not damage."""
    return isinstance(exc, ValueError) and any(
        limit in str(exc) for limit in ("MAX_TEXT_CHUNK", "MAX_TEXT_MEMORY"))


@contextlib.contextmanager
def larger_text_chunks() -> Iterator[None]:
    """Pillow's limit on one PNG text chunk raised to :data:`TEXT_CHUNK_LIMIT` while the block
    runs, restored after it (even on an error). The limit is a module variable of Pillow's, so
    one block at a time holds it (a lock: the app decodes in several threads); a decode in
    another thread meanwhile may read up to the same bounded limit."""
    from PIL import PngImagePlugin

    with _TEXT_LIMIT_LOCK:
        before = PngImagePlugin.MAX_TEXT_CHUNK
        PngImagePlugin.MAX_TEXT_CHUNK = max(before, TEXT_CHUNK_LIMIT)
        try:
            yield
        finally:
            PngImagePlugin.MAX_TEXT_CHUNK = before


def png_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` from a PNG's IHDR chunk, without decoding; None when ``data`` does not
    start with a PNG signature and an IHDR."""
    if not data.startswith(_PNG_SIGNATURE) or data[12:16] != b"IHDR" or len(data) < 24:
        return None
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def image_header(data: bytes) -> tuple[str, tuple[int, int]]:
    """``(format, (width, height))`` of an image file's bytes as Pillow reads its header (the
    app's limits are checked on it before anything is decoded), with :func:`decode`'s rule for a
    PNG whose text metadata is above Pillow's default limit: read again under
    :func:`larger_text_chunks`; above that too, ``("PNG", IHDR size)`` (:func:`png_size`),
    the decoder reading its pixels with OpenCV; and for a PNG whose metadata chunk fails its CRC
    check (Pillow: "broken PNG file"), that chunk left out as :func:`decode` leaves it out
    (:func:`png_without_damaged_metadata`). Raises what ``Image.open`` raises for anything
    else (``UnidentifiedImageError``, ``OSError``, ``ValueError``, ``SyntaxError``,
    ``Image.DecompressionBombError``)."""
    try:
        return _image_header(data)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, struct.error, EOFError):
        readable = png_without_damaged_metadata(data)
        if readable is data:
            raise
    return _image_header(readable)


_PILLOW_TAG_WARNINGS = "Truncated File Read|Corrupt EXIF data"
"""The starts of the warnings Pillow's TIFF reader prints while it reads the tags of a cut or
damaged file (``warnings.filterwarnings``' ``message``: matched at the start): the decoder says
what is wrong with the file instead (:func:`decode`'s truncated or damaged error)."""


def _image_header(data: bytes) -> tuple[str, tuple[int, int]]:
    """:func:`image_header` of ``data`` as it is."""

    def opened() -> tuple[str, tuple[int, int]]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            # only the header is read (often a file's first bytes alone): Pillow's TIFF reader
            # warns of a cut file while it reads the tags, which says nothing here
            warnings.filterwarnings("ignore", message=_PILLOW_TAG_WARNINGS, category=UserWarning)
            with Image.open(io.BytesIO(data)) as im:
                return str(im.format or ""), (int(im.size[0]), int(im.size[1]))

    try:
        return opened()
    except ValueError as exc:
        if not text_metadata_too_large(exc):
            raise
    with larger_text_chunks():
        try:
            return opened()
        except ValueError as exc:
            if not text_metadata_too_large(exc):
                raise
    size = png_size(data)
    if size is None:
        raise ValueError("PNG text metadata too large, and no IHDR chunk")
    return "PNG", size


def declared_size(data: bytes) -> tuple[str, tuple[int, int]] | None:
    """``(format, (width, height))`` that an image file's header declares, read by Pillow's own
    format plugins without the decompression-bomb check ``Image.open`` applies before it hands
    out the size (it raises ``Image.DecompressionBombError`` naming only the pixel count), or
    None when no plugin reads the header. For the refusal of such a file: it can then say, as
    for any file above a size limit, what size to downscale it to. Nothing is decoded (the
    plugins read the header only), and Pillow's limit is not lifted for anyone else: it is a
    module-wide setting other threads rely on."""
    Image.init()
    prefix = data[:16]  # what Image.open hands each plugin's accept()
    for fmt in list(Image.ID):
        factory, accept = Image.OPEN.get(fmt, (None, None))
        if factory is None:
            continue
        try:
            accepted = True if accept is None else accept(prefix)
            if isinstance(accepted, str) or not accepted:  # a str: Pillow's warning, not a yes
                continue
            with factory(io.BytesIO(data), "") as im:
                return str(im.format or fmt), (int(im.size[0]), int(im.size[1]))
        except (SyntaxError, IndexError, TypeError, ValueError, OSError, EOFError, struct.error):
            continue
    return None


_PNG_MODES = {0: "L", 2: "RGB", 3: "P", 4: "LA", 6: "RGBA"}
"""PNG colour type -> Pillow's mode of such a file (16-bit grey ``I;16``, 1-bit grey ``1``)."""


def _text_too_large_fallback(data: bytes, path: str) -> Decoded:
    """A PNG whose text metadata is above :data:`TEXT_CHUNK_LIMIT`: OpenCV's pixels (libpng
    skips such text), nothing of the metadata read, said in a note (as another file Pillow
    cannot open: :func:`_open_fallback`)."""
    structure = png_structure(data)
    depth, colour_type = structure.png_depth, structure.png_colour_type
    mode = {(0, 16): "I;16", (0, 1): "1"}.get((colour_type, depth), _PNG_MODES.get(colour_type, ""))
    limit = f"{TEXT_CHUNK_LIMIT // (1024 * 1024)} MB"
    what = (f"its PNG text metadata (e.g. XMP) is larger than the decoder reads ({limit} a chunk, "
            f"64 MB in all): not read, so an orientation or colour profile in the file is not "
            f"checked; the pixels were decoded by OpenCV")
    fix = ("strip the metadata, e.g. `exiftool -all= FILE` or `magick FILE -strip OUT.png`, and "
           "use that copy")
    pixels = _opencv_decode(data, structure)
    if pixels is None:
        return _failed(path, what.replace("the pixels were decoded by OpenCV",
                                          "nor can OpenCV decode its pixels"),
                       fix, mode, "PNG", kind="metadata")
    colour_bits = structure.sbit[:1] if colour_type == 4 else structure.sbit[:3]
    return _finish(pixels, path, mode, "PNG", [note(path, what, fix, "metadata")],
                   max(colour_bits or (0,)))


def decode(data: bytes, path: str) -> Decoded:
    """Decode ``data`` (the bytes of one image file, reported as ``path``) completely.

    Returns :class:`Decoded`; every problem is in ``Decoded.problems`` (``pixels`` is None
    when one is an error): empty, not an image, above Pillow's decompression-bomb limit,
    truncated, corrupt, an unsupported pixel format, unusable float/signed samples. Never
    raises for bad bytes. See the module docstring for what is handled and what is said.
    """
    if not data:
        return _failed(path, "empty file (0 bytes)", "re-copy the image from the original data",
                       kind="empty")
    structure = png_structure(data) if data.startswith(_PNG_SIGNATURE) else None
    damaged = png_crc_problem(data, path, structure)  # before any decoder: libpng would say it on stderr
    if damaged is None and structure is not None:
        damaged = png_unknown_critical_problem(path, structure)
    if damaged is not None:
        return Decoded(None, file_format="PNG", problems=[damaged])
    if structure is not None and any(kind == b"IEND" for kind, _ in structure.bad_crc):
        # IEND carries no data: a correct one in its place, the damage noted
        start, end = structure.spans[-1][1], structure.spans[-1][2]
        decoded = decode(b"".join([data[:start], _IEND_CHUNK, data[end:]]), path)
        decoded.problems[:0] = [note(path, IEND_DAMAGED, "nothing to do (re-copy the file from the "
                                     "original data to have it intact)", "trailing-data")]
        return decoded
    if structure is not None and png_damaged_metadata(structure):  # a damaged metadata chunk: left out, said
        said, phantom = damaged_metadata_problem(data, path, structure)
        decoded = decode(png_without_damaged_metadata(data, structure), path)
        decoded.problems[:0] = [said] if said is not None else []
        decoded.phantom = decoded.phantom or phantom
        return decoded
    try:
        return _decode_with_pillow(data, path, structure)
    except _TextTooLarge:  # PNG text above Pillow's 1 MB a chunk: read again with more room
        pass
    with larger_text_chunks():
        try:
            return _decode_with_pillow(data, path, structure)
        except _TextTooLarge:
            pass
    return _text_too_large_fallback(data, path)


def _decode_with_pillow(data: bytes, path: str, structure: _Structure | None = None) -> Decoded:
    """:func:`decode` under the text limit in force; raises :class:`_TextTooLarge` when a PNG's
    text metadata exceeds it (:func:`text_metadata_too_large`). ``structure``: a PNG's
    :func:`png_structure`, walked already (None: walked here when needed)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        # a cut TIFF: Pillow's tag reader warns on stderr ("Corrupt EXIF data. Expecting to read
        # 12 bytes but only got 6") before the decode says what is wrong with the file, and how
        # to fix it, in its own words (truncated, damaged)
        warnings.filterwarnings("ignore", message=_PILLOW_TAG_WARNINGS, category=UserWarning)
        try:
            im = Image.open(io.BytesIO(data))
        except Image.DecompressionBombError as exc:
            return _failed(path, f"declares too many pixels for a safe decode ({exc})",
                           "downscale the image first", kind="too-large")
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError, struct.error, EOFError) as exc:
            if text_metadata_too_large(exc):
                raise _TextTooLarge from None
            return _open_fallback(data, path, structure)
        with im:
            try:
                decoded = _decode_opened(im, data, path, structure)
                # the header's text chunks, read at open: no second pass over the file
                decoded.phantom = phantom_marked(im.info)
                return decoded
            except _TextTooLarge:
                raise
            except Exception as exc:  # noqa: BLE001 - one odd file must not stop an ingest
                if text_metadata_too_large(exc):  # a text chunk after the image data
                    raise _TextTooLarge from None
                return _failed(path, f"cannot be decoded ({type(exc).__name__}: {exc})",
                               "re-export the image as PNG; report the file if it opens elsewhere",
                               str(im.mode), str(im.format or ""), kind="corrupt")


def _decode_opened(im: Image.Image, data: bytes, path: str, png: _Structure | None = None) -> Decoded:
    fmt, mode = str(im.format or ""), str(im.mode)
    problems: list[Problem] = []
    if data.startswith(_PNG_SIGNATURE):
        structure = png if png is not None else png_structure(data)
    else:
        structure = _Structure(end=jpeg_end(data) if fmt == "JPEG" else None)
    tiff_orientation = _orientation(im, path)[0] if fmt == "TIFF" else 1
    if _opencv_fast_path(im, structure):
        return _decode_fast(im, data, path, structure)
    try:
        im.load()
    except (OSError, ValueError, SyntaxError, struct.error, EOFError, IndexError) as exc:
        if text_metadata_too_large(exc):  # a text chunk after the image data
            raise _TextTooLarge from None
        text = str(exc)
        if "truncated" in text or isinstance(exc, EOFError):
            return _failed(path, f"truncated {fmt or 'image'} (the file ends before its image data "
                                 f"are complete: {text})",
                           "re-copy or re-download the image from the original data (the file "
                           "is incomplete)", mode, fmt,
                           kind="truncated")
        return _failed(path, f"corrupt {fmt or 'image'} (cannot be decoded: {text})",
                       "re-copy or re-download the image from the original data", mode, fmt,
                       kind="corrupt")
    damage: list[Problem] = []
    if fmt in ("JPEG", "MPO"):  # Pillow's libjpeg is silent on damage: libjpeg's own verdict
        damage = jpeg_damage(libjpeg_decode(data, cv2.IMREAD_REDUCED_GRAYSCALE_8)[1], path)
        if any(p.severity == "error" for p in damage):
            return Decoded(None, mode=mode, file_format=fmt,
                           problems=[p for p in damage if p.severity == "error"])
    problems += damage
    frames = int(getattr(im, "n_frames", 1) or 1)
    if frames > 1 and fmt == "MPO":
        problems.append(note(path, f"multi-picture JPEG (MPO) with {frames} pictures: the primary "
                                   "(first) picture is used", "nothing to do", "frames"))
    elif frames > 1:
        what = {"PNG": "animated PNG", "GIF": "animated GIF", "TIFF": "multi-page TIFF"}.get(
            fmt, f"{fmt} file")
        sizes = _page_sizes(im, frames, fmt)
        if fmt == "TIFF" and not _another_scan_page(im, frames):
            problems.append(note(path, f"{what} with {frames} pages: the first is used, the others "
                                       f"being a preview (a reduced-resolution page) or copies of it"
                                       + sizes, "nothing to do", "frames"))
        else:
            unit = "page" if fmt == "TIFF" else "frame"  # a TIFF's frames are its pages
            problems.append(warning(path, f"{what} with {frames} {unit}s: only the first is used"
                                          + sizes, f"export the {unit} to grade as a single image", "frames"))
    else:
        problems += _trailing_problem(data, im, structure, path)
    problems += _metadata_problems(im, path)

    if fmt == "TIFF" and tiff_orientation != 1:
        problems.append(_orientation_note(path, tiff_orientation, "TIFF"))  # applied by the decoder
    if _needs_opencv(im, structure):
        pixels = _opencv_decode(data, structure if fmt == "PNG" else None, complete=True)  # loaded by Pillow
        if pixels is None:
            return _failed(path, f"corrupt {fmt} (OpenCV cannot decode its 16-bit colour data)",
                           "re-copy or re-download the image from the original data", mode, fmt,
                           kind="corrupt")
        pending = 1 if fmt == "TIFF" else _orientation(im, path)[0]  # libtiff orients TIFFs itself
    else:
        pixels, pixel_problems = _pillow_pixels(im, path)
        problems += pixel_problems
        if pixels is None:
            return Decoded(None, mode=mode, file_format=fmt, problems=problems)
        pending, orientation_problems = _orientation(im, path)
        problems += orientation_problems
    if pending != 1:
        pixels = orient(pixels, pending)
        problems.append(_orientation_note(path, pending, "Exif"))
    colour_bits = structure.sbit[:1] if structure.png_colour_type == 4 else structure.sbit[:3]
    sbit = max(colour_bits or (0,))  # grey+alpha: (grey, alpha); RGB(A): (r, g, b[, a])
    return _finish(pixels, path, mode, fmt, problems, sbit)


def _decode_fast(im: Image.Image, data: bytes, path: str, structure: _Structure) -> Decoded:
    """:func:`_opencv_fast_path` files: pixels from OpenCV, metadata from Pillow's header."""
    fmt, mode = str(im.format), str(im.mode)
    said: list[str] = []
    pixels = _opencv_decode(data, structure if fmt == "PNG" else None, said=said)
    damage = jpeg_damage(said, path)
    if any(p.severity == "error" for p in damage):
        return Decoded(None, mode=mode, file_format=fmt, problems=[p for p in damage if p.severity == "error"])
    if pixels is None:
        return _failed(path, f"corrupt {fmt} (cannot be decoded)",
                       "re-copy or re-download the image from the original data", mode, fmt,
                       kind="corrupt")
    problems = _trailing_problem(data, im, structure, path) + damage + _metadata_problems(im, path)
    pending = 1
    if fmt == "JPEG":  # Pillow parsed APP1 at open; a fast-path PNG has no Exif chunk
        pending, orientation_problems = _orientation(im, path)
        problems += orientation_problems
    if pending != 1:
        pixels = orient(pixels, pending)
        problems.append(_orientation_note(path, pending, "Exif"))
    return _finish(pixels, path, mode, fmt, problems, max(structure.sbit[:3] or (0,)))


PAGES_NAMED = 8
"""The most pages of a multi-page TIFF whose sizes its ``frames`` warning names (then a count)."""


def _page_sizes(im: Image.Image, frames: int, fmt: str) -> str:
    """`` (pages: 1024x1024, 512x512 px)``: the sizes of a multi-page TIFF's first
    :data:`PAGES_NAMED` pages (reading their headers, not their pixels), so that a stack of
    scans of several sizes (a thumbnail, another scan area) is told from one of copies; "" for
    another format (an animation's frames share its canvas) or pages that cannot be read. The
    file is left at its first page."""
    if fmt != "TIFF":
        return ""
    sizes = []
    try:
        for page in range(min(frames, PAGES_NAMED)):
            im.seek(page)
            sizes.append(f"{im.size[0]}x{im.size[1]}")
    except (OSError, EOFError, ValueError):
        return ""
    finally:
        with contextlib.suppress(OSError, EOFError, ValueError):
            im.seek(0)
    more = f", and {frames - PAGES_NAMED} more pages" if frames > PAGES_NAMED else ""
    return f" (pages: {', '.join(sizes)} px{more})"


REDUCED_RESOLUTION = 1
"""Bit 0 of a TIFF page's NewSubfileType (tag 254): the page is a reduced-resolution copy of
another (a preview or thumbnail an exporter adds), not an image of its own."""


def _another_scan_page(im: Image.Image, frames: int) -> bool:
    """Whether a multi-page TIFF ``im`` of ``frames`` pages has a page after the first that may
    be another scan (which page is the one to grade is then not known): one not declared a
    reduced-resolution preview (NewSubfileType bit 0, :data:`REDUCED_RESOLUTION`) and not a
    pixel-for-pixel copy of the first page; True too when the first page is itself a declared
    preview or a page cannot be read. The file is left at its first page."""
    def reduced() -> bool:
        return bool(int(getattr(im, "tag_v2", {}).get(254, 0) or 0) & REDUCED_RESOLUTION)

    try:
        im.seek(0)
        if reduced():
            return True
        size, first = im.size, None
        for page in range(1, frames):
            im.seek(page)
            if reduced():
                continue
            if im.size != size:
                return True
            pixels = np.asarray(im)
            if first is None:
                im.seek(0)
                first = np.asarray(im)
                im.seek(page)
            if not np.array_equal(pixels, first):
                return True
        return False
    except (OSError, EOFError, ValueError, TypeError):
        return True
    finally:
        with contextlib.suppress(OSError, EOFError, ValueError):
            im.seek(0)


def _finish(pixels: np.ndarray, path: str, mode: str, fmt: str, problems: list[Problem],
            sbit: int) -> Decoded:
    """Alpha, depth and colour of decoded samples -> :class:`Decoded`."""
    try:
        colour, alpha = _split_alpha(pixels)
    except ValueError as exc:
        return Decoded(None, mode=mode, file_format=fmt, problems=problems + [
            error(path, f"unsupported image with {exc}", "export it as grey or RGB PNG", "format")])
    depth_name = "16-bit image" if colour.dtype == np.uint16 else ""
    colour8, depth_problems = to_uint8(colour, path, sbit, depth_name)
    problems = problems + depth_problems
    if colour8 is None:
        return Decoded(None, mode=mode, file_format=fmt, problems=problems)
    if alpha is not None:
        colour8, alpha_problems = _composite(colour8, alpha, path)
        problems += alpha_problems
    height, width = colour8.shape[:2]
    return Decoded(np.ascontiguousarray(colour8), width, height, mode, fmt, channels_differ(colour8),
                   problems, colour_share=colour_share(colour8))
