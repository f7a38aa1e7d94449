"""The resized image cache: decode + hash + resize in a process pool, incremental re-runs.

``cache/{size}px.npy`` holds one stacked uint8 array per size in manifest row order,
shape ``(N, size, size)`` for 1 channel (grey) or ``(N, size, size, 3)`` (RGB) for 3, written
with ``np.save`` so readers can ``np.load(path, mmap_mode="r")``. Rows are
``cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)`` of the full decoded 8-bit
image (:func:`data_prep.validate.inspect_image`), after the optional crop to the fundus
disc and followed by the optional Graham filter (:mod:`data_prep.fundus`); with 3 channels a
grey image's rows are replicated into the three channels.

``cache/state.json`` maps each image's path (relative to the data root) to its file size,
``mtime_ns`` and sha256 (plus what the ingest learnt from it), and records the shape, size,
mtime and sha256 of every array. A file whose size and mtime are unchanged is not read again: its
rows are copied from the old arrays. A file whose stat changed is re-hashed, and decoded
again only if its sha256 changed. The state is written last and removed before anything
else is replaced, so a killed run leaves no state that a later run would trust; on load,
arrays that disagree with the state cause a full rebuild (but an array whose time alone
changed and whose sha256 is the recorded one: a copy without its file times).

Memory: the ingest validates every file before it writes anything, so the new rows wait on
disk, not in memory: each image's rows go to a spill file in the cache folder
(:class:`RowSpill`, ``.resume-{size}px.rows`` with its journal ``.resume.jsonl`` when the ingest
runs it resumable) as soon as it is decoded, and the arrays are then written row block by row
block. An ingest that does not finish (interrupted, killed, stopped by a bad file) leaves the
spill, and its rerun takes the rows of the files that are provably the same instead of decoding
them again (:meth:`RowSpill.resume`, :meth:`RowSpill.take`: the same key as the state's, and a
SHA-256 per row); the finished ingest removes it. The ingest's memory stays about constant whatever the
number of images (``bench/ingest_memory.py``); the disk needs room for the spill, the new
arrays and, on an incremental rerun, the old arrays.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
import json
import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from data_prep.fundus import (
    DARK_SHARE,
    MIN_THRESHOLD,
    disc_crop_search,
    graham,
    has_dark_surround,
    looks_graham_filtered,
    pad_to_square,
    scaled_margins,
    square_margins,
)
from data_prep.pool import spawn_pool
from data_prep.validate import (
    DecodedImage,
    Problem,
    array_row_image,
    array_row_pixels,
    blank_problem,
    inspect_image,
    note,
    pixels_sha256,
    sha256_of,
    warning,
)
from drac_ssl import io as drac_io
from drac_ssl.console import LoopProgress, ProgressLines, progress_bar
from drac_ssl.cpu_threads import usable_cores  # stdlib only
from drac_ssl.grading.image_file import (  # grading's rule of a file (light: no torch)
    LOCAL_FILE_LIMITS,
    FileRefusal,
    bytes_refusal,
    content_refusal,
    misnamed,
)
from drac_ssl.grading.image_notes import FUNDUS_CROP_DOES  # stdlib only
from drac_ssl.io import atomic_path, atomic_write_json

STATE_NAME = "state.json"
STATE_VERSION = 7  # 2: channels and the decoding options are part of the state; 3: the
# findings include blank images (validate.blank_problem): older findings lack them; 4: each
# file's phantom marker (FileRecord.phantom): an older state would read every file as unmarked;
# 5: grading's rule of a file (process_file: a GIF named .png, above 8192 px ...): an older
# state's reused records were never held to it; 6: each image's decoded-pixel hash
# (FileRecord.pixels_sha256, the manifest's pixels_sha256): an older state's reused records lack it;
# 7: an alpha channel of one value everywhere (10% opacity or more) is ignored, no longer composited over black
# (decode._composite): an older state's reused records hold such an image darkened; and each
# file's identity (inode, ctime), so a file swapped in with the same size and mtime is read again


def array_path(cache_dir: Path, size: int) -> Path:
    return cache_dir / f"{size}px.npy"


SQUEEZE_FIX = f"add --fundus-crop, which {FUNDUS_CROP_DOES}"
"""The ingest's fix for a non-square image squeezed into the cache (:func:`squeezed_words`), in
the words of the crop's advice (:data:`drac_ssl.grading.image_notes.FUNDUS_CROP_DOES`)."""


SQUEEZE_FIX_OCTA = ("crop or pad the scan to a square (its scan area) before the ingest; "
                    "--fundus-crop is for fundus photographs: it looks for a round disc and would "
                    "cut into an OCTA scan")
"""The ingest's fix for a non-square UW-OCTA scan squeezed into the cache: the ingest puts it
in place of :data:`SQUEEZE_FIX` once the modality is known (:func:`octa_squeeze_fix`)."""


def octa_squeeze_fix(problem: Problem) -> Problem:
    """``problem`` with :data:`SQUEEZE_FIX_OCTA` for its fix when it is the squeeze warning
    of :func:`cache_rows` (its fix :data:`SQUEEZE_FIX`); any other problem as it is."""
    if problem.kind != "size" or problem.fix != SQUEEZE_FIX:
        return problem
    return dataclasses.replace(problem, fix=SQUEEZE_FIX_OCTA)


def squeezed_words(width: int, height: int) -> str:
    """``non-square image WxH squeezed to a square``: what :func:`cache_rows` does to a
    ``width`` x ``height`` image (pixels) that is not square, without ``fundus_crop``; the
    ingest's warning and the model's preprocessing at inference
    (:func:`drac_ssl.grading.predict.preprocess_image`) say it in these words."""
    return f"non-square image {width}x{height} squeezed to a square"


GRAHAM_TWICE_WORDS = ("looks already Graham-filtered (its large-scale level is mid-grey 128 nearly everywhere: "
                      "a local-mean-subtracted copy, e.g. Kaggle's 'Ben Graham' APTOS copies): the Graham "
                      "filter is applied to it again")
"""What :func:`cache_rows` says of an image that :func:`data_prep.fundus.looks_graham_filtered`
with the Graham filter on (``--graham``, ``data.graham=true``): at the ingest, and at grading for a bundle
whose ingest had the filter (:func:`drac_ssl.grading.predict.preprocess_image` replays it). A
warning only (the image stays in, unchanged): the rule was checked on APTOS's Kaggle copies,
RetinaMNIST, DRAC and phantom UW-OCTA scans and MNIST digits only, and may fire on an image
brightness-normalised by another method (:func:`data_prep.fundus.looks_graham_filtered`)."""
GRAHAM_TWICE_FIX = "ingest the original photographs, or ingest such copies without --graham"


def resize_gray(gray: np.ndarray, size: int) -> np.ndarray:
    """The cached copy of an 8-bit image (grey ``(H, W)`` or RGB ``(H, W, 3)``) at ``size`` x
    ``size`` (INTER_AREA)."""
    return cv2.resize(gray, (size, size), interpolation=cv2.INTER_AREA)


@dataclass(frozen=True)
class CacheOptions:
    """How a decoded image becomes cache rows; stored in the state (a change rebuilds).

    ``target``: ``gray`` converts colour to grey at full size (``data.channels=1``),
    ``native`` keeps each image as it is (grey ``(S, S)``, colour ``(S, S, 3)``; the arrays'
    channels are chosen when every file is known). ``expected_side``: warn for a grey image of
    another size (the UW-OCTA export's side; 0: no expectation). An image without that
    expectation (0, or a colour image kept in colour under ``native``: a photograph) gets a
    warning when it is not square and ``fundus_crop`` is off.
    """

    target: str = "gray"  # gray | native
    expected_side: int = 1024
    fundus_crop: bool = False
    graham: bool = False
    graham_mask: bool = True
    # with fundus_crop and graham: pad a crop that is not square with its mirror image and set
    # the padding to 128 after filtering (False: black padding, as ingests before it did)
    graham_reflect_padding: bool = False
    # a colour file converted to grey is what the user asked for (fundus photographs ingested
    # with data.channels=1): a note, not a warning to re-save the file. It changes no pixel,
    # but the findings cached with the rows follow it, so the state holds it when on (a grey
    # OCTA cache and a grey fundus one may both have expected_side 0: data.expected_side)
    grey_is_chosen: bool = False

    def state(self) -> dict[str, Any]:
        """What the cached rows and their findings depend on (a cache made with another state
        is rebuilt)."""
        return dataclasses.asdict(self)  # every key, so that an old state's missing one is told apart

    def changes_from(self, recorded: Any) -> list[str]:
        """What differs between a cache state's recorded ``options`` (:meth:`state` of the run
        that built it) and these, in words (``'expected image size 1024 -> none'``); [] when
        the cache may be reused. Keys a state written before them lacks are read as that run
        had them: ``graham_reflect_padding`` off; ``grey_is_chosen`` as the ingest then set it,
        on exactly when the cache was converted to grey (``target`` gray) and expected no
        size (``expected_side`` 0: not UW-OCTA), so that upgrading does not rebuild a cache
        for it. A key missing otherwise (``expected_side`` before it was kept) is "not
        recorded" and differs."""
        if not isinstance(recorded, dict):
            return ["no decoding options recorded"]
        old = dict(recorded)
        old.setdefault("graham_reflect_padding", False)
        if "grey_is_chosen" not in old:
            old["grey_is_chosen"] = old.get("target") == "gray" and old.get("expected_side") == 0
        now = self.state()
        return [f"{_OPTION_WORDS.get(k, k)} {_option_value(k, old[k]) if k in old else 'not recorded'}"
                f" -> {_option_value(k, now[k]) if k in now else 'none'}"
                for k in sorted(set(old) | set(now), key=[*now, *old].index) if old.get(k, ...) != now.get(k, ...)]


_OPTION_WORDS = {"target": "channels", "expected_side": "expected image size",
                 "fundus_crop": "fundus crop", "graham": "Graham filter", "graham_mask": "Graham mask",
                 "graham_reflect_padding": "Graham padding of a crop not square",
                 "grey_is_chosen": "colour converted to grey on purpose"}
""":class:`CacheOptions`' fields as a cache rebuild note names them."""


def _option_value(key: str, value: Any) -> str:
    """One recorded decoding option's value in words (``expected_side`` 0: ``none``)."""
    if key == "expected_side":
        return "none" if value == 0 else str(value)
    if key == "target":
        return {"gray": "grey", "native": "as the files are"}.get(value, str(value))
    if key == "graham_reflect_padding":
        return "mirrored" if value else "black"
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


@dataclass(frozen=True)
class RowGeometry:
    """Where a cached row's pixels come from in the decoded image (:func:`cache_rows`), so that
    a map over the row (a Grad-CAM heatmap) can be put back on the image.

    ``box`` ``(x0, y0, x1, y1)``: the part of the image kept, in its pixels (the fundus disc's
    box with ``fundus_crop``; otherwise the whole image); ``margins`` ``(top, bottom, left,
    right)``: the padding added around that part to make it square, in the same pixels (0
    without ``fundus_crop``); the padded frame is then resized to the row's ``S x S`` (not
    keeping the aspect ratio when it is not square: an image squeezed without the crop).
    ``cropped``: a disc was found and cut out (not when its box is the whole image: the bright
    region fills the frame, no dark surround); ``graham``: the Graham filter was applied after
    the resize. A report only: asking for it changes no pixel of the rows."""

    box: tuple[int, int, int, int]
    margins: tuple[int, int, int, int] = (0, 0, 0, 0)
    cropped: bool = False
    graham: bool = False

    @property
    def frame(self) -> tuple[int, int]:
        """``(height, width)`` of the padded frame that is resized to the row."""
        x0, y0, x1, y1 = self.box
        top, bottom, left, right = self.margins
        return y1 - y0 + top + bottom, x1 - x0 + left + right

    @staticmethod
    def whole(height: int, width: int) -> RowGeometry:
        """The whole ``height x width`` image resized to the row (no crop, no padding)."""
        return RowGeometry((0, 0, int(width), int(height)))


def cache_rows(pixels: np.ndarray, sizes: Sequence[int], options: CacheOptions,
               path: str, geometry: list[RowGeometry] | None = None
               ) -> tuple[dict[int, np.ndarray], list[Problem]]:
    """The cached copies of one decoded uint8 image at every size, and what was done to it.

    ``geometry``: a list that receives one :class:`RowGeometry`, where the rows' pixels come
    from in ``pixels`` (the crop box and the padding); the rows are the same either way."""
    problems: list[Problem] = []
    height, width = pixels.shape[:2]
    margins = None  # padding that is not photograph, set to 128 by the Graham filter
    where = RowGeometry.whole(height, width)
    if options.fundus_crop:
        crop, search = disc_crop_search(pixels)
        box = search.box
        found = box is not None
        whole = (0, 0, width, height)
        # a box that is the whole image (the bright region fills the frame) cuts nothing out
        where = RowGeometry(box or whole, square_margins(*crop.shape[:2]),
                            cropped=found and box != whole)
        if not found:
            problems.append(warning(
                path, "no fundus disc found (no bright region covering 5% of the image): not "
                      "cropped, only padded to a square",
                "check the image, or run without --fundus-crop", "fundus-crop"))
        elif crop.shape == pixels.shape and not has_dark_surround(pixels):  # left as it was
            problems.append(warning(
                path, "no dark surround around the fundus disc (the bright region fills the frame: "
                      "no corner darker than a tenth of the image's mean brightness): the image "
                      "looks already cropped to the disc or pre-filtered (e.g. a Graham-filtered "
                      "copy); left as it is"
                      + ("; the Graham filter is applied to it again" if options.graham else ""),
                "use the original photographs, or run without --fundus-crop"
                + " (and without --graham for pre-filtered copies)" * options.graham, "fundus-surround"))
        elif search.floored:  # a dark photograph: its dim rim may lie below the floor
            problems.append(note(
                path, f"dark photograph (mean grey below {MIN_THRESHOLD * 10 / DARK_SHARE:g} of 255): the "
                      f"fundus disc was taken where it is brighter than {search.threshold:g} (of 255) and the "
                      "crop may cut off the disc's dim rim",
                "check the disc's edge in the cached copy; brighten the photograph before the "
                "ingest, or run without --fundus-crop", "fundus-dark"))
        if options.graham and options.graham_reflect_padding and crop.shape[0] != crop.shape[1]:
            margins = square_margins(*crop.shape[:2])
        pixels = pad_to_square(crop, reflect=margins is not None)
    elif (not options.expected_side or pixels.ndim == 3) and width != height:
        problems.append(warning(path, f"{squeezed_words(width, height)} in the cache (aspect ratio "
                                      f"changed)", SQUEEZE_FIX, "size"))
    if options.graham and not any(p.kind == "fundus-surround" for p in problems) and looks_graham_filtered(pixels):
        # said by the surround's warning when the crop found none (a pre-filtered copy's grey surround)
        problems.append(warning(path, GRAHAM_TWICE_WORDS, GRAHAM_TWICE_FIX, "graham-twice"))
    rows = {}
    for size in sizes:
        row = resize_gray(pixels, size)
        if options.graham:
            row = graham(row, options.graham_mask, None if margins is None else
                         scaled_margins(margins, pixels.shape[0], size))
        rows[size] = row
    if geometry is not None:
        geometry.append(dataclasses.replace(where, graham=options.graham))
    return rows, problems


DISC_CUT_SHARE = 0.9
"""The most of an image's area a fundus crop's disc box keeps for the crop to count as having cut
the frame (:attr:`FileRecord.disc_cut`): a UW-OCTA scan's bright vessels give a box of the whole
frame or nearly (the 3 DRAC samples: 100 %, 100 %, 99 %)."""


@dataclass
class FileRecord:
    """Everything the ingest knows about one image file."""

    rel: str  # path relative to the data root, POSIX separators
    size: int = 0  # bytes on disk
    mtime_ns: int = 0
    sha256: str = ""
    width: int = 0
    height: int = 0
    mode: str = ""  # PIL mode of the file: L, I;16, RGB, RGBA, P ...
    colour: bool = False  # the content has colour (channels differ)
    issues: list[tuple[str, str, str, str]] = field(default_factory=list)  # (what, fix, severity, kind)
    cache_index: int = -1  # row in the previous arrays when reused, else -1
    resized: dict[int, np.ndarray] | None = None  # new rows when decoded in this run (until spilled)
    spill_row: int = -1  # row of the new rows in the RowSpill, else -1
    decoded: bool = False
    # the file carries drac_ssl's phantom marker (data_prep.decode.phantom_marked), read with
    # the header when it was decoded and kept in the state, so a reused file keeps it too
    phantom: bool = False
    # the decoded image's mean level once converted to 8 bits (0..255, over its channels), before
    # any crop, filter or resize: what the ingest's bit-depth warning compares between groups
    # (the cache rows after --graham sit near 128 whatever the file's brightness); kept in the
    # state, None for a file decoded before it was recorded
    grey_level: float | None = None
    # data_prep.validate.pixels_sha256 of the decoded image (in the ingest's channels, before any
    # crop, filter or resize), hashed once while it is decoded; "" for an image that did not
    # decode. What tells a training image held in another file (a PNG written from an .npz row,
    # a re-saved copy) at grading (drac_ssl.grading.training_images)
    pixels_sha256: str = ""
    # the file's (st_ino, st_ctime_ns) as it was read: what a kept row's journal line records
    # beside size and mtime (:meth:`RowSpill.keep`), and kept in the state, so that a rerun
    # reuses a file's rows unread only when its size, mtime and identity are all the recorded
    # ones (data_prep.ingest._reused: a file replaced by another of the same size and mtime, by
    # ``cp -p``, ``rsync -a`` or an archive's extraction, has another inode or ctime). None: not
    # known (a state written before it was recorded; the file is hashed again, not decoded)
    identity: tuple[int, int] | None = None
    # the fundus crop cut the frame: its disc box kept at most DISC_CUT_SHARE of the image's
    # area (what tells grey photographs from UW-OCTA scans, whose box is the whole frame or
    # nearly); kept in the state, False without --fundus-crop or in a state written before it
    disc_cut: bool = False
    # the share of the image's pixels whose channels differ (data_prep.decode.colour_share):
    # below OVERLAY_SHARE a grey picture with a coloured overlay; kept in the state, None for
    # an array row or a state written before it was recorded (a colour record then counts as
    # a colour picture)
    colour_share: float | None = None

    def problems(self, display_path: str) -> list[Problem]:
        return [Problem(display_path, *issue) for issue in self.issues]

    def state_entry(self, cache_index: int) -> dict[str, Any]:
        """The JSON form kept in ``state.json`` (everything but the transient fields)."""
        return {"size": self.size, "mtime_ns": self.mtime_ns, "sha256": self.sha256,
                "width": self.width, "height": self.height, "mode": self.mode,
                "colour": self.colour, "issues": [list(issue) for issue in self.issues],
                "phantom": self.phantom, "grey_level": self.grey_level,
                "pixels_sha256": self.pixels_sha256, "cache_index": cache_index,
                "identity": list(self.identity) if self.identity is not None else None,
                "disc_cut": self.disc_cut, "colour_share": self.colour_share}

    @classmethod
    def from_state(cls, rel: str, entry: dict[str, Any]) -> FileRecord:
        """The record :meth:`state_entry` wrote (``cache_index`` included when there), for
        ``rel``. An ``identity`` that is not two integers (absent in an older state, or damaged)
        reads as None: not known. Raises TypeError for a key a record does not have."""
        identity = entry.get("identity")
        known = isinstance(identity, list) and len(identity) == 2 and all(
            isinstance(v, int) and not isinstance(v, bool) for v in identity)
        return cls(rel, **{**entry, "issues": [tuple(i) for i in entry["issues"]],
                           "identity": tuple(identity) if known else None})


@dataclass(frozen=True)
class FileTask:
    """One file for a worker: read it, hash it and, unless its hash is ``known_sha256``,
    decode, check and resize it."""

    path: str
    rel: str
    sizes: tuple[int, ...]
    known_sha256: str = ""
    options: CacheOptions = CacheOptions()


def _fill(record: FileRecord, image: DecodedImage, sizes: Sequence[int], options: CacheOptions,
          path: str) -> FileRecord:
    """Record what was decoded and the cache rows."""
    record.width, record.height, record.mode = image.width, image.height, image.mode
    record.colour, record.phantom = image.colour, image.phantom
    if image.file_format != "npz":
        record.colour_share = image.colour_share
    problems = list(image.problems)
    if image.pixels is not None:
        # the level as decoded (8-bit), not as cached: a crop or the Graham filter changes it
        record.grey_level = mean_level(image.pixels)
        record.pixels_sha256 = pixels_sha256(image.pixels)  # before the crop, filter and resize
        problems += blank_problem(image.pixels, path)  # the decoded pixels: no second decode
        geometry: list[RowGeometry] = []
        record.resized, done = cache_rows(image.pixels, sizes, options, path, geometry)
        problems += done
        (x0, y0, x1, y1), (height, width) = geometry[0].box, image.pixels.shape[:2]
        record.disc_cut = geometry[0].cropped and (x1 - x0) * (y1 - y0) <= DISC_CUT_SHARE * height * width
    record.issues += [(p.what, p.fix, p.severity, p.kind) for p in problems]  # after process_file's
    return record


def mean_level(pixels: np.ndarray) -> float:
    """The mean of uint8 ``pixels`` (``(H, W)`` or ``(H, W, 3)``) over every pixel and channel,
    0..255: OpenCV's per-channel means (a fifth of numpy's time: 0.1 ms a megapixel, against
    10 ms to decode a 1024 px PNG), averaged."""
    channels = pixels.shape[2] if pixels.ndim == 3 else 1
    return float(sum(cv2.mean(pixels)[:channels]) / channels)


def _refused(record: FileRecord, refusal: FileRefusal, path: str) -> FileRecord:
    """``record`` with grading's refusal of its file as an error (:meth:`FileRefusal.problem`:
    the words of ``read_image``)."""
    problem = refusal.problem(path)
    record.issues.append((problem.what, problem.fix, problem.severity, problem.kind))
    return record


def process_file(task: FileTask) -> FileRecord:
    """Worker: read the bytes once, hash them, decode from them, resize to every size.

    Before decoding, the file is held to grading's rule (:mod:`drac_ssl.grading.image_file`,
    with :data:`~drac_ssl.grading.image_file.LOCAL_FILE_LIMITS`, as
    :func:`drac_ssl.grading.predict.read_image`): its size from the file system (above 512
    MiB, not read), then its format from the content, not the name (a GIF named ``.png``), and
    its pixels from the header (8192 px a side, 40 megapixels). A refusal is an error of the
    file, in grading's words, and the file is not decoded: what would not be graded is not
    trained on. A PNG, JPEG, TIFF or BMP whose name says another of them (a JPEG named
    ``.png``) is decoded by its content, with a warning (``misnamed``)."""
    record = FileRecord(task.rel)
    try:
        with open(task.path, "rb") as fh:
            stat = os.fstat(fh.fileno())
            # an empty file is the decoder's to say (as in read_image)
            too_large = bytes_refusal(stat.st_size, LOCAL_FILE_LIMITS, larger_limits=False)
            data = fh.read() if too_large is None or too_large.kind == "empty" else b""
    except OSError as exc:
        record.issues.append((f"cannot read the file ({exc.strerror or exc})",
                              "check that it exists and is readable", "error", "read"))
        return record
    record.size, record.mtime_ns = stat.st_size, stat.st_mtime_ns
    record.identity = (stat.st_ino, stat.st_ctime_ns)
    if too_large is not None and too_large.kind != "empty":
        return _refused(record, too_large, task.path)
    record.sha256 = sha256_of(data)
    if record.sha256 == task.known_sha256:
        return record  # content unchanged (only touched): the caller reuses the cached rows
    record.decoded = True
    name = os.path.basename(task.path)
    header, refused = content_refusal(data, LOCAL_FILE_LIMITS, name=name)
    if refused is not None:
        return _refused(record, refused, task.path)
    said = misnamed(header[0], name) if header is not None else None
    if said is not None:
        record.issues.append((*said, "warning", "misnamed"))
    options = task.options
    try:
        image = inspect_image(data, task.path, channels=1 if options.target == "gray" else None,
                              expected_side=options.expected_side or None,
                              grey_is_chosen=options.grey_is_chosen)
        return _fill(record, image, task.sizes, options, task.path)
    except (cv2.error, ValueError, MemoryError) as exc:  # a decoder failing on bad bytes
        record.issues.append((f"corrupt image ({type(exc).__name__}: {exc})".replace("\n", " "),
                              "re-copy or re-download the image from the original data", "error",
                              "corrupt"))
        return record


def process_array_rows(images: np.ndarray, rels: Sequence[str], display: Sequence[str],
                       sizes: Sequence[int], options: CacheOptions,
                       spill: RowSpill | None = None) -> list[FileRecord]:
    """Records of images that come as array rows (a MedMNIST ``.npz``), in this process.

    ``images``: uint8 ``(N, H, W)``, ``(N, H, W, 1)`` or ``(N, H, W, 3)`` RGB; row ``i`` is
    reported as ``display[i]``. The sha256 is that of the row's bytes (no file holds it); the
    ``pixels_sha256`` that of its pixels (:func:`data_prep.validate.pixels_sha256`), which a
    PNG written from the row shares. With a ``spill``, each
    record's rows go to it at once (``record.spill_row``) instead of staying in memory.
    """
    records = []
    for row, rel, shown in zip(images, rels, display, strict=True):
        pixels = array_row_pixels(row)
        record = FileRecord(rel, size=pixels.nbytes, sha256=sha256_of(pixels.tobytes()),
                            decoded=True)
        converted, problems, colour = array_row_image(pixels, shown, 1 if options.target == "gray" else None,
                                                      options.grey_is_chosen)
        height, width = pixels.shape[:2]
        image = DecodedImage(converted, width, height, "RGB" if pixels.ndim == 3 else "L",
                             problems, "npz", colour)
        records.append(_spilled(_fill(record, image, sizes, options, shown), spill, kept=False))
    return records


def _spilled(record: FileRecord, spill: RowSpill | None, kept: bool = True) -> FileRecord:
    """``record`` with its new rows moved to ``spill`` (:meth:`RowSpill.keep`: journaled for a
    rerun when ``kept`` and the spill is resumable; array rows are not: no file holds them)."""
    if spill is not None and record.resized is not None:
        record.spill_row = spill.keep(record) if kept else spill.put(record.resized)
        record.resized = None
    return record


POOL_MIN_FILES = 64
"""With ``workers=0`` (the usable cores), fewer files than this are decoded in this process."""


def resolve_workers(workers: int) -> int:
    """``0`` means every core this process may use: :func:`drac_ssl.cpu_threads.usable_cores`,
    the affinity mask (``taskset``, Slurm, a Kubernetes cpuset) capped by a cgroup v2 CPU quota
    (``docker --cpus``), not ``os.cpu_count()``, the machine's CPUs."""
    return workers if workers > 0 else usable_cores()


def _init_worker() -> None:
    cv2.setNumThreads(1)  # one image per process; avoid oversubscribing the cores


@dataclass
class DecodeCount:
    """How far the latest :func:`process_files` got: ``done`` of ``total`` files; and, for the
    interrupt message of ``python -m data_prep ingest``, of the ``wanted`` images the ingest had
    to decode (those not reused from a finished cache), how many are ``kept`` in a resumable
    :class:`RowSpill` (exact: counted as each journal line is written) and where (``folder``).
    ``wanted`` is -1 before the ingest set it; ``reused``: the images of the finished cache the
    ingest reuses (not decoded again, by this run nor its rerun)."""

    done: int = 0
    total: int = 0
    kept: int = 0
    wanted: int = -1
    folder: str = ""
    reused: int = 0


DECODED = DecodeCount()
"""This process's count, updated by :func:`process_files` as each file is done."""


def process_files(tasks: Sequence[FileTask], workers: int,
                  spill: RowSpill | None = None) -> list[FileRecord]:
    """Run :func:`process_file` over ``tasks`` (results in task order) with a progress bar on
    a terminal, and off one (a log, a pipe) a plain line on stderr at most a minute
    (:class:`drac_ssl.console.ProgressLines`: ``[ingest] 12,000 of 35,126 images (211 img/s,
    about 2 min left)``).

    With a ``spill``, each record's new rows go to it as the record arrives
    (``record.spill_row``), so the records do not hold the images.

    More than one worker: a spawn-started process pool (:func:`data_prep.pool.spawn_pool`:
    safe when torch is already loaded, and its workers end with the command);
    one worker, one task, or under :data:`POOL_MIN_FILES` with ``workers=0``: in this process.
    If the pool cannot start its workers (e.g. the
    caller's ``__main__`` cannot be re-imported), the files are processed in this process.
    """
    # a process pool costs seconds to start (each worker imports numpy, OpenCV, Pillow): with
    # few files, and workers left to the default (0), it cost more than it saved (a trial:
    # 4.0 s for 60 small images against 0.5 s in this process)
    n_workers = 1 if workers == 0 and len(tasks) < POOL_MIN_FILES else min(resolve_workers(workers), len(tasks))
    # off a terminal no tqdm at all: even a disabled one fixes a host's multiprocessing start method
    bar = progress_bar(len(tasks), "ingest", "img", leave=False)
    lines = ProgressLines(sys.stderr, "ingest")  # off a terminal, where the bar is off too
    records: list[FileRecord] = []
    DECODED.done, DECODED.total = 0, len(tasks)
    try:
        if n_workers > 1:
            chunksize = max(1, min(8, len(tasks) // (n_workers * 8)))
            try:
                with spawn_pool(n_workers, initializer=_init_worker) as pool:
                    for record in pool.map(process_file, tasks, chunksize=chunksize):
                        records.append(_spilled(record, spill))
                        DECODED.done = len(records)
                        bar.update()
                        lines.count(len(records), len(tasks))
            except BrokenProcessPool as exc:
                print(f"note: the process pool failed ({exc}); continuing in this process",
                      file=sys.stderr)
        for task in tasks[len(records):]:
            records.append(_spilled(process_file(task), spill))
            DECODED.done = len(records)
            bar.update()
            lines.count(len(records), len(tasks))
    finally:
        bar.close()
    return records


# --------------------------------------------------------------------------------------
# State of the previous run


REBUILD_WORDS = "rebuilding it; manifest.csv will be replaced"
"""What the ingest does with a cache it cannot use (:attr:`CacheState.reason`: another version,
root, decoding options, a missing or changed array ...), its note's words after "->": said
before the rebuild, so in the future tense (a review of oldrun_fx: "rebuilt; manifest.csv
replaced -> nothing to do" was printed before either happened; a reader: every other reason
still said "..., rebuilding -> nothing to do")."""


@dataclass
class CacheState:
    """The previous run's files and arrays (empty when there is nothing to trust)."""

    files: dict[str, FileRecord] = field(default_factory=dict)
    arrays: dict[int, np.ndarray] = field(default_factory=dict)  # read-only memory maps
    n_rows: int = 0
    reason: str = ""  # why nothing could be reused, for a note
    # what the ingest does about it, the note's words after "->" (printed before the rebuild)
    action: str = REBUILD_WORDS
    channels: int = 1  # of the arrays
    # read from the state a killed run held aside (:func:`hold_state`): its arrays are the
    # ``.held-*`` ones and the real names may hold that run's half-written rows, so the arrays
    # are always written again (:func:`unchanged` is False)
    held: bool = False


def _array_stamp(path: Path) -> dict[str, int]:
    stat = path.stat()
    return {"bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _same_content(file: Path, meta: dict[str, Any]) -> bool:
    """Whether an array whose time is not the recorded one (a copy without its time) still has
    the recorded byte count and SHA-256 (``meta``: the state's record of it); if so its time is
    set back to the recorded one (best effort), so that the next run needs only a stat: the
    stages' reader's rule (:func:`drac_ssl.io.recorded_content`, which
    :func:`drac_ssl.datasets.check_cache_array` calls too). An unreadable file is not the same."""
    if not isinstance(meta.get("sha256"), str):
        return False
    try:
        digest, _ = drac_io.recorded_content(file, int(meta["bytes"]), meta["sha256"], int(meta["mtime_ns"]))
    except OSError:
        return False
    return digest == meta["sha256"]


HELD_PREFIX = ".held-"
"""The finished cache an ingest is replacing, held while it writes the new one
(:func:`hold_state`): ``.held-state.json`` and ``.held-{size}px.npy`` (hard links to the old
arrays, no copy), in the cache folder."""


def hold_state(cache_dir: Path) -> None:
    """Before the arrays are replaced: keep the finished cache under :data:`HELD_PREFIX` names
    (each array hard-linked, so that its ``os.replace`` leaves the old rows readable; then the
    state renamed: the state that names the arrays is gone either way, as
    :func:`invalidate_state` leaves it), so that a run killed while writing the new arrays loses
    no reuse: the rerun's :func:`load_state` reads the held one. Nothing to hold (no state), or
    one held already (a rerun of a killed rerun, whose reused rows come from it): left as it is.
    Where hard links cannot be made, the state is only removed (:func:`invalidate_state`)."""
    state = cache_dir / STATE_NAME
    if not state.is_file():
        return
    try:
        release_held(cache_dir)
        for array in cache_dir.glob("[0-9]*px.npy"):
            os.link(array, cache_dir / f"{HELD_PREFIX}{array.name}")
        os.replace(state, cache_dir / f"{HELD_PREFIX}{STATE_NAME}")
    except OSError:
        release_held(cache_dir)
        invalidate_state(cache_dir)


def release_held(cache_dir: Path) -> None:
    """Remove what :func:`hold_state` kept (the new cache is written, or it could not be held)."""
    for path in cache_dir.glob(f"{HELD_PREFIX}*"):
        with contextlib.suppress(OSError):
            path.unlink()


def load_state(cache_dir: Path, root: Path, sizes: Sequence[int],
               options: CacheOptions = CacheOptions()) -> CacheState:
    """The previous run's state if it matches ``root`` and ``options``, covers ``sizes`` and
    its arrays; without a state, the finished cache a killed run was replacing, when it held
    one (:func:`hold_state`). The root matches when its real path (``os.path.realpath``, now)
    is the one :func:`save_state` recorded (``root_realpath``): the same folder reached through
    a symlink is the same root, and a symlink re-pointed to other data since is not. A state
    without ``root_realpath`` (older) matches the same string, or a root recorded as written
    (``/tmp/repo/../d2``, before :func:`data_prep.layout.data_root` took ``..`` out) the same
    folder written clean."""
    path = cache_dir / STATE_NAME
    prefix = ""
    if not path.exists() and (cache_dir / f"{HELD_PREFIX}{STATE_NAME}").is_file():
        path, prefix = cache_dir / f"{HELD_PREFIX}{STATE_NAME}", HELD_PREFIX
    if not path.exists():
        return CacheState()
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        if state.get("version") != STATE_VERSION:  # the ingest's only caller rebuilds it
            return CacheState(reason=other_version_words(state.get("version")))
        if isinstance(state.get("root_realpath"), str):
            # the real path recorded when it was built, never state["root"] resolved now: a
            # symlink re-pointed to other data since then is another root (review 3 F2)
            other_root = state["root_realpath"] != os.path.realpath(root)
        else:  # an older state: an ingest before roots were recorded with '..' taken out
            # (repo/../d2) keeps its cache
            other_root = state["root"] != str(root) and drac_io.readable_absolute(state["root"]) != root
        if other_root:
            return CacheState(reason=f"cache was built from {state['root']}")
        if changes := options.changes_from(state.get("options")):
            return CacheState(reason=f"cache was built with other decoding options "
                                     f"({'; '.join(changes)})")
        n_rows = int(state["n_rows"])
        channels = int(state.get("channels", 1))
        arrays: dict[int, np.ndarray] = {}
        for size in sizes:
            meta = state["arrays"].get(str(size))
            file = cache_dir / f"{prefix}{array_path(cache_dir, size).name}"
            if meta is None:
                return CacheState(reason=f"no {size}px array in the cache yet")
            if not file.exists() or (_array_stamp(file) != {k: meta[k] for k in ("bytes", "mtime_ns")}
                                     and not _same_content(file, meta)):
                return CacheState(reason=f"{file.name} does not match the cache state")
            array = np.load(file, mmap_mode="r")
            expected = (n_rows, size, size) + ((3,) if channels == 3 else ())
            if array.shape != expected or array.dtype != np.uint8:
                return CacheState(reason=f"{file.name} has shape {array.shape}")
            arrays[size] = array
        files = {
            rel: FileRecord.from_state(rel, entry) for rel, entry in state["files"].items()
        }
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return CacheState(reason=f"cache state unreadable ({exc})")
    if any(not 0 <= r.cache_index < n_rows for r in files.values()):
        return CacheState(reason="cache state points outside its arrays")
    return CacheState(files, arrays, n_rows, channels=channels, held=bool(prefix))


def other_version_words(version: object) -> str:
    """Why a cache whose ``state.json`` says ``version`` (not :data:`STATE_VERSION`) is not
    used, as the ingest's note says it before :data:`REBUILD_WORDS` (an upgrade review: "cache
    state of another version, rebuilding -> nothing to do" read as a contradiction)."""
    if isinstance(version, int) and not isinstance(version, bool):
        age = "an older" if version < STATE_VERSION else "a newer"
        return f"cache of {age} version (state {version}, now {STATE_VERSION})"
    return f"cache state of no known version ({version!r}, now {STATE_VERSION})"


def invalidate_state(cache_dir: Path) -> None:
    """Remove the state before anything it describes is replaced."""
    (cache_dir / STATE_NAME).unlink(missing_ok=True)


def _array_digests(cache_dir: Path, sizes: Sequence[int], verbose: bool = False) -> dict[int, str]:
    """Each array's SHA-256 (of the whole ``.npy`` file), for :func:`save_state`: the one the
    state in ``cache_dir`` records when the array's byte count and time are still the recorded
    ones (an incremental rerun that rewrote nothing reads nothing), else hashed
    (:func:`drac_ssl.io.sha256_file`, once per ingest that writes the arrays: APTOS's 4.4 GB at 512 px
    took 3.1 s here, 1.3 GiB/s from the page cache just after the 24 s of writing it). Readers compare it when an array's time changed but
    not its size (:func:`drac_ssl.datasets.check_cache_array`: a copy that kept the bytes).
    The hashing shows its progress in MiB (:class:`drac_ssl.console.LoopProgress`: EyePACS's
    87 GB at 256,512 px take minutes); with ``verbose`` a line says when it starts (arrays of
    :data:`ANNOUNCED_BYTES` or more)."""
    try:
        old = json.loads((cache_dir / STATE_NAME).read_text(encoding="utf-8"))["arrays"]
    except (OSError, ValueError, KeyError, TypeError):
        old = {}
    digests, to_hash = {}, []
    for size in sizes:
        path = array_path(cache_dir, size)
        meta = old.get(str(size)) if isinstance(old, dict) else None
        if (isinstance(meta, dict) and isinstance(meta.get("sha256"), str)
                and {k: meta.get(k) for k in ("bytes", "mtime_ns")} == _array_stamp(path)):
            digests[size] = meta["sha256"]
        else:
            to_hash.append(size)
    if not to_hash:
        return digests
    sizes_bytes = [array_path(cache_dir, size).stat().st_size for size in to_hash]
    mib = sum(-(-n // HASH_BLOCK_BYTES) for n in sizes_bytes)
    start = (f"[ingest] hashing the cache arrays for its state ({', '.join(f'{s} px' for s in to_hash)}: "
             f"{bytes_words(sum(sizes_bytes))})")
    announce = verbose and sum(sizes_bytes) >= ANNOUNCED_BYTES
    with LoopProgress(mib, "ingest", "hashing the cache", "MiB", "MiB", start=start if announce else None) as progress:
        for size in to_hash:
            digests[size] = drac_io.sha256_file(array_path(cache_dir, size), lambda: progress.update(1),
                                                HASH_BLOCK_BYTES)
    return {size: digests[size] for size in sizes}


ANNOUNCED_BYTES = 1 << 30
"""Cache arrays of at least this many bytes in all have their writing and hashing announced
on stderr (verbose ingest: ``[ingest] writing the cache arrays ...``): under it they take
seconds, and a small ingest's output stays as it was."""

HASH_BLOCK_BYTES = 1 << 20
"""The cache arrays are hashed this many bytes at a time (:func:`_array_digests`: 1 MiB, a
progress unit)."""


def save_state(cache_dir: Path, root: Path, sizes: Sequence[int],
               records: Sequence[FileRecord], options: CacheOptions = CacheOptions(),
               channels: int = 1, verbose: bool = False) -> Path:
    """Write the state LAST, after the arrays and the manifest are in place; each array's
    ``shape``, ``bytes``, ``mtime_ns`` and ``sha256`` (:func:`_array_digests`), and the root
    as given (``root``) and its real path now (``root_realpath``: what :func:`load_state`
    compares). ``verbose``: the hashing says when it starts (:func:`_array_digests`)."""
    digests = _array_digests(cache_dir, sizes, verbose)
    arrays = {str(size): {"shape": list(array_shape(len(records), size, channels)),
                          **_array_stamp(array_path(cache_dir, size)), "sha256": digests[size]}
              for size in sizes}
    state = {
        "version": STATE_VERSION,
        "root": str(root),
        "root_realpath": os.path.realpath(root),
        "options": options.state(),
        "channels": channels,
        "sizes": list(sizes),
        "n_rows": len(records),
        "arrays": arrays,
        "files": {r.rel: r.state_entry(i) for i, r in enumerate(records)},
    }
    return atomic_write_json(cache_dir / STATE_NAME, state)


# --------------------------------------------------------------------------------------
# Arrays


def array_shape(n: int, size: int, channels: int) -> tuple[int, ...]:
    """``(n, size, size)`` for 1 channel, ``(n, size, size, 3)`` for 3."""
    return (n, size, size) + ((3,) if channels == 3 else ())


def unchanged(records: Sequence[FileRecord], previous: CacheState, channels: int = 1) -> bool:
    """True when every row is reused in place, so the old arrays are already correct. Never for
    a state read from the held one (``previous.held``): the arrays under the real names may be
    those a killed run was writing (a review: a rerun after the changed files were restored
    kept the killed run's rows, stamped as correct)."""
    return bool(previous.arrays) and not previous.held and previous.channels == channels and \
        len(records) == previous.n_rows and all(
            r.resized is None and r.spill_row < 0 and r.cache_index == i for i, r in enumerate(records))


def _fit(rows: np.ndarray, channels: int, rgb: bool) -> np.ndarray:
    """One image's rows (RGB when ``rgb``) in ``channels``: grey replicated, or RGB to grey
    (OpenCV's ``COLOR_RGB2GRAY``, exact for the RGB rows of a grey image, whose three channels
    are equal; a colour image reaches here only from a ``data.unlabelled`` folder beside grey
    labelled images, and the ingest warns of it)."""
    if channels == 3 and not rgb:
        return np.repeat(rows[..., None], 3, axis=-1)
    if channels == 1 and rgb:
        return cv2.cvtColor(np.ascontiguousarray(rows), cv2.COLOR_RGB2GRAY)
    return rows


RESUME_JOURNAL = ".resume.jsonl"
"""The journal of the rows an ingest keeps for its rerun (:meth:`RowSpill.resume`), in the cache folder."""
RESUME_VERSION = 2  # 2: a line's sha256 covers its record (:func:`_kept_digest`)


def resume_key(root: Path, sizes: Sequence[int], options: CacheOptions) -> dict[str, Any]:
    """What kept rows depend on besides the file itself (:meth:`RowSpill.resume`): the state's
    version (:data:`STATE_VERSION`: what a record holds), the data root, the cache sizes in
    order, and the decoding options (:meth:`CacheOptions.state`: channels, expected side, fundus
    crop, Graham filter ...), and the package's version (``drac_ssl.__version__``: its decoder
    may differ). Rows kept under another key are never used. The root is its real path
    (``os.path.realpath``): the same folder reached through a symlink is the same root."""
    from drac_ssl import __version__

    return {"resume": RESUME_VERSION, "state": STATE_VERSION, "package": __version__,
            "root": os.path.realpath(root), "sizes": [int(s) for s in sizes], "options": options.state()}


def recorded_root(cache_dir: Path) -> str | None:
    """The data root an ingest into ``cache_dir``'s ``--out`` recorded in its cache: the
    state's (:data:`STATE_NAME`), the held one's (:func:`hold_state`) or the kept rows'
    journal key (:data:`RESUME_JOURNAL`); None when none of them is there, readable and a real
    record: a state of this version (:data:`STATE_VERSION`) with the keys :func:`save_state`
    writes, or a journal whose first line has exactly the keys of :func:`resume_key` (any
    version: a rerun after an upgrade). Any other JSON naming a root is not trusted (review 3
    F1: a hand-made ``cache/state.json`` of ``{"root": ...}`` let an ingest replace a user's
    ``manifest.csv``). What tells an ingest killed after its manifest but before its summary
    (the summary is the usual record of the root) from a folder of other files; the caller
    checks the folder's other files too (:func:`data_prep.ingest.out_in_use`)."""
    for name in (STATE_NAME, f"{HELD_PREFIX}{STATE_NAME}", RESUME_JOURNAL):
        try:
            with open(Path(cache_dir) / name, "rb") as fh:
                record = json.loads(fh.read() if name != RESUME_JOURNAL else fh.readline())
        except (OSError, ValueError):
            continue
        if not isinstance(record, dict) or not isinstance(record.get("root"), str):
            continue
        if name == RESUME_JOURNAL:
            real = set(record) == _JOURNAL_KEYS and isinstance(record.get("sizes"), list) \
                and isinstance(record.get("options"), dict)
        else:
            real = record.get("version") == STATE_VERSION and _STATE_KEYS <= set(record) and all(
                isinstance(record.get(k), dict) for k in ("options", "arrays", "files"))
        if real:
            return record["root"]
    return None


_STATE_KEYS = frozenset({"version", "root", "options", "channels", "sizes", "n_rows", "arrays", "files"})
"""The keys every state :func:`save_state` writes has (``root_realpath`` is newer: not required)."""
_JOURNAL_KEYS = frozenset({"resume", "state", "package", "root", "sizes", "options"})
"""The keys of a kept rows' journal's first line (:func:`resume_key`)."""


def _kept_digest(entry: dict[str, Any]) -> Any:
    """The SHA-256 a kept row's journal line records (``sha256``), begun with its record's
    canonical JSON (``entry``: :meth:`FileRecord.state_entry`, keys sorted, no spaces) and then
    fed the rows of every size in the key's order: a record damaged in the journal (the file's
    sha256, size or issues) fails the check as damaged rows do (review 3 F3)."""
    return hashlib.sha256(json.dumps(entry, sort_keys=True, separators=(",", ":")).encode() + b"\n")


INGEST_LOCK = ".ingest.lock"
"""The file an ingest holds an exclusive ``flock`` on while it runs (:meth:`RowSpill.resume`),
in the cache folder; removed, while still held, with the kept rows."""


bytes_words = drac_io.bytes_words  # moved to drac_ssl.io: the checkpoints' disk estimate says sizes alike


def kept_bytes(folder: Path) -> int:
    """The bytes the rows kept for a rerun take in ``folder`` (the cache folder): its
    ``.resume-{size}px.rows`` files and journal (0 when there are none)."""
    total = 0
    for path in [Path(folder) / RESUME_JOURNAL, *Path(folder).glob(".resume-*px.rows")]:
        with contextlib.suppress(OSError):
            total += path.stat().st_size
    return total


def discard_words(folder: Path) -> str:
    """How to discard the kept rows of ``folder``: ``rm FOLDER/.resume*`` (shell-quoted)."""
    import shlex

    return f"rm {shlex.quote(str(folder))}/.resume*"


class RowSpill:
    """New cache rows on disk while the ingest is still checking the other files.

    One raw file per size in ``folder``, each image's rows appended as they come (grey
    ``size * size`` bytes, RGB three times that), with their offsets kept here. Written with
    plain file writes and read back with plain reads (no memory map), so the rows never count
    in the process's memory. A context manager.

    Two modes:

    * temporary (the default): ``.spill-{size}px.tmp-PID`` files, removed on exit (a killed
      run's are removed by :func:`remove_stale_temporaries`), and so are the folders it had to
      create when nothing else was put in them.
    * resumable (after :meth:`resume`, as the ingest uses it): ``.resume-{size}px.rows`` files
      plus a journal, :data:`RESUME_JOURNAL`, one JSON line per image kept (:meth:`keep`): its
      file's record (path relative to the root, byte count, ``mtime_ns``, sha256, what decoding
      found) and where its rows lie, with the SHA-256 of those rows. They stay after an
      interrupt (Ctrl-C, SIGTERM, ``kill -9``) or a failed run, so the rerun of the same
      ingest decodes only the other images (:meth:`take`); :meth:`finished` removes them
      when the cache is written.

    Trust of kept rows (why no fsync): the rows of an image are written and flushed to the
    operating system first, its journal line after them, and each line is trusted only when
    (1) the journal's first line, its key (:func:`resume_key`), equals this run's (same data
    root, sizes, channels and decoding options, package version), (2) the line is whole (a
    JSON object ending in a newline: a line cut by a kill is skipped), (3) the file on disk
    still has the byte count, ``mtime_ns``, inode and ``ctime_ns`` recorded (a same-size
    rewrite within one mtime tick, or a file swapped in with ``mv``, changes the last two), or
    else its sha256 is the recorded one (the state's own rule, :func:`load_state`), and (4) the rows read back hash to the recorded SHA-256. A row
    half-written by a kill, or lost with the page cache in a power cut (the order of writes is
    then not guaranteed), fails (4) and is decoded again: a per-row checksum instead of an
    fsync per image (an fsync per image would cost more than some decodes).

    One ingest per cache folder: :meth:`resume` first takes an exclusive ``flock`` on
    :data:`INGEST_LOCK` (POSIX), before it decodes, writes or removes kept files; a second ingest into the
    same ``--out`` is refused and touches nothing. Only the holder removes kept files, while it
    still holds the lock (a file system without locks, NFS without lockd: a note, and the run
    goes on unlocked). Rows kept under another data root, sizes or decoding options are never
    removed by a run: it is refused, naming the difference and ``rm FOLDER/.resume*`` (a typo in
    the rerun command would otherwise throw away hours of decoding).

    Args:
        folder: where the files go (created on the first write).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.rgb: list[bool] = []
        self._files: dict[int, Any] = {}
        self._offsets: dict[int, list[int]] = {}
        self._created: list[Path] = []  # folders made here, outermost first
        self._key: dict[str, Any] | None = None  # resumable when set
        self._journal: Any = None
        self._lines: dict[str, dict[str, Any]] = {}  # rel -> its latest journal line
        self._done = False
        self._wanted: set[str] = set()
        self._doubtful: set[str] = set()  # kept, but their file's size or mtime changed since
        self._lock: Any = None  # the open INGEST_LOCK this process holds
        self._owner = False  # this process may remove the kept files (holds the lock, or none can be had)
        self.lock_note = ""  # why no lock could be taken (a file system without flock), for a note
        # the ingest's estimate of the disk it writes at its peak, in words (data_prep.ingest._check_disk:
        # "about 2.9 MB of disk at its peak if the images are colour, 983 kB if grey"), said by its
        # error when a write fails on a full disk; "" before it is made
        self.disk_needed = ""

    @property
    def resumable(self) -> bool:
        return self._key is not None

    def path(self, size: int) -> Path:
        if self._key is not None:
            return self.folder / f".resume-{size}px.rows"
        return self.folder / f".spill-{size}px.tmp-{os.getpid()}"

    @property
    def journal_path(self) -> Path:
        return self.folder / RESUME_JOURNAL

    def _make_folder(self) -> None:
        if not self.folder.is_dir():
            missing = [p for p in (self.folder, *self.folder.parents) if not p.exists()]
            self.folder.mkdir(parents=True, exist_ok=True)
            self._created = missing[::-1]

    def _file(self, size: int) -> Any:
        if size not in self._files:
            self._make_folder()
            path = self.path(size)
            # a kept rows file is appended to (its kept rows stay where the journal says)
            mode = "r+b" if self._key is not None and path.is_file() else "w+b"
            self._files[size] = open(path, mode)  # noqa: SIM115 - closed in close()
            self._offsets[size] = []
        return self._files[size]

    def _remove_kept(self) -> None:
        for path in [self.journal_path, *self.folder.glob(".resume-*px.rows")]:
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)

    def _take_lock(self) -> None:
        """Hold :data:`INGEST_LOCK` (exclusive ``flock``, not waiting), or refuse (IngestError)
        when another process holds it. The file locked must still be the one named: an ingest
        that ends removes it while holding it (and the cache folder it made, when empty), so a
        lock taken on the removed file is let go and taken again, the folder made again. Other errors than "held" (ENOLCK, EOPNOTSUPP ... of a network file
        system): :attr:`lock_note`, and the run goes on unlocked."""
        from data_prep.validate import IngestError

        self._make_folder()
        path = self.folder / INGEST_LOCK
        try:
            import fcntl
        except ImportError:  # no flock (Windows): one ingest per --out is the user's to keep
            self._owner = True
            return
        for _ in range(100):
            # an ingest that ended meanwhile removes the lock file and, when it made the cache
            # folder and nothing else is in it, the folder: made again here, not a full disk
            self._make_folder()
            try:
                fh = open(path, "ab")  # noqa: SIM115 - closed in close()
            except FileNotFoundError:
                continue
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                fh.close()
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise IngestError(f"{path}: another ingest is writing into this --out now (it "
                                      "holds this lock) -> wait for it to end, or give --out another "
                                      "folder") from None
                self.lock_note = (f"no lock could be taken ({exc.strerror or exc}; a file system "
                                  "without flock, such as NFS without its lock service): a second "
                                  "ingest into this --out at the same time is not refused, run one "
                                  "at a time")
                self._owner = True
                return
            try:
                locked, named = os.fstat(fh.fileno()), os.stat(path)
                same = (locked.st_ino, locked.st_dev) == (named.st_ino, named.st_dev)
            except OSError:
                same = False
            if same:
                self._lock, self._owner = fh, True
                return
            fh.close()  # removed by an ingest that ended meanwhile: lock the new one
        raise IngestError(f"{path}: another ingest keeps replacing this lock -> wait for it to end, "
                          "or give --out another folder")

    def _refuse_other_key(self, header: dict[str, Any], now: dict[str, Any], n_lines: int) -> None:
        """Raise IngestError: ``n_lines`` images are kept under ``header``, a key of another
        data root, sizes or decoding options than ``now``, this run's; nothing is removed."""
        from data_prep.validate import IngestError

        what = []
        if header.get("root") != now["root"]:
            what.append(f"data root {header.get('root')} (now {now['root']})")
        if header.get("sizes") != now["sizes"]:
            was = ",".join(map(str, header.get("sizes") or []))
            what.append(f"--cache-sizes {was} (now {','.join(map(str, now['sizes']))})")
        if header.get("options") != now["options"]:
            changes = CacheOptions(**now["options"]).changes_from(header.get("options"))
            what.append("decoding options: " + ("; ".join(f"{c.replace(' -> ', ' (now ')})" for c in changes)
                                               or "other ones"))
        if not what:
            what.append("other settings")
        raise IngestError(
            f"{self.journal_path}: {n_lines:,} images decoded by a stopped ingest (interrupted, or stopped by a bad file) are kept in "
            f"{self.folder} ({bytes_words(kept_bytes(self.folder))}) for a rerun with its "
            f"{'; '.join(what)} -> rerun with those options to use them (only the other images are "
            f"decoded), or, to start over with these, discard them first: "
            f"{discard_words(self.folder)}")

    def resume(self, key: dict[str, Any]) -> str:
        """Make this spill resumable under ``key`` (:func:`resume_key`) and read the rows an
        interrupted or failed run with the same key kept (:meth:`take` hands them out). Call it
        before the first :meth:`put`. The lock comes first (:meth:`_take_lock`): nothing is read
        or removed without it. Returns why kept rows were not used ('' when they were, or when
        there were none): an unreadable journal, or another package or format version (they are
        removed: no run of this version can use them).

        Raises:
            IngestError: another live process holds the lock (a second ingest into the same
                ``--out``: nothing is touched); or rows are kept under another data root, cache
                sizes or decoding options (a typo in the rerun command must not throw away
                hours of decoding: the message names the difference and ``rm FOLDER/.resume*``).
        """
        if self._key is not None or self.rgb:
            raise ValueError("RowSpill.resume: call it once, before any row is put")
        self._take_lock()
        key = json.loads(json.dumps(key))  # as it reads back from the journal
        reason = ""
        lines: list[bytes] = []
        if not self.journal_path.is_file():
            self._key = key
            self._remove_kept()  # rows without their journal: nothing says what they are
        else:
            try:
                lines = self.journal_path.read_bytes().split(b"\n")
                header = json.loads(lines[0])
            except (OSError, ValueError, IndexError) as exc:
                header, reason = None, f"the kept rows' journal is unreadable ({exc})"
            self._key = key
            for raw in lines[1:-1]:  # the last piece follows the last newline: whole lines only
                with contextlib.suppress(ValueError, TypeError, AttributeError):
                    line = json.loads(raw)
                    if isinstance(line.get("rel"), str) and isinstance(line.get("at"), dict):
                        self._lines[line["rel"]] = line
            if header != key:
                was = header if isinstance(header, dict) else {}
                same_version = all(was.get(k) == key.get(k) for k in ("resume", "state", "package"))
                if not reason and same_version and self._lines:
                    self._key, n_kept = None, len(self._lines)  # nothing of theirs is removed on the way out
                    self._lines = {}
                    self._refuse_other_key(was, key, n_kept)
                self._lines = {}
                if not reason and not same_version:
                    reason = "kept by another version of drac_ssl"
                self._remove_kept()
                lines = []
        self._make_folder()
        new = not self.journal_path.is_file()
        self._journal = open(self.journal_path, "ab")  # noqa: SIM115 - closed in close()
        if new:
            self._journal.write(json.dumps(self._key).encode() + b"\n")
            self._journal.flush()
        if len(lines) > 1 and lines[-1]:  # a line cut by a kill: ended, so the next one is whole
            self._journal.write(b"\n")
            self._journal.flush()
        return reason

    def kept(self, rels: Sequence[str] | None = None) -> int:
        """How many images (of ``rels``, default all) have rows in the journal: what a rerun
        of the same ingest does not decode again (unless its file changed; one whose file was
        seen changed, and not yet proven the same by its sha256, is not counted)."""
        chosen = self._lines.keys() if rels is None else rels
        return sum(1 for rel in chosen if rel in self._lines and rel not in self._doubtful)

    def want(self, rels: Sequence[str], reused: int = 0) -> None:
        """The images this ingest must decode (not the ``reused`` ones of a finished cache): from
        now on :data:`DECODED` counts how many of them are kept (``wanted``, ``kept``,
        ``folder``, ``reused``), for the interrupt message."""
        self._wanted = set(rels)
        DECODED.wanted, DECODED.kept = len(self._wanted), self.kept(list(self._wanted))
        DECODED.reused = reused
        DECODED.folder = str(self.folder)

    def kept_sha256(self, rel: str) -> str:
        """The sha256 of ``rel``'s file as kept, once its kept rows are read back and hash to
        the recorded SHA-256 ('' when none is kept, or its rows are damaged: the line is then
        dropped and the file decoded again). What a worker compares the file's hash with
        (:attr:`FileTask.known_sha256`): a file whose hash matches is not decoded, so its rows
        must be there to take (:meth:`take`)."""
        line = self._lines.get(rel)
        if line is None:
            return ""
        try:
            self._read_rows(line)
            return str(line["record"]["sha256"])
        except (OSError, ValueError, KeyError, TypeError):
            self._drop(rel)
            return ""

    def _read_rows(self, line: dict[str, Any]) -> tuple[bool, list[int]]:
        """Read back a journal line's rows (every size of the key) and check them against its
        SHA-256 (:func:`_kept_digest`: its record, then its rows); returns whether they are RGB
        and the sizes. Raises ValueError (short, or they
        differ), OSError, KeyError or TypeError (a malformed line)."""
        rgb = bool(line["rgb"])
        sizes = [int(s) for s in self._key["sizes"]]
        digest = _kept_digest(line["record"])
        for s in sizes:
            n = s * s * (3 if rgb else 1)
            fh = self._file(s)
            fh.seek(int(line["at"][str(s)]))
            data = fh.read(n)
            if len(data) != n:
                raise ValueError("short")
            digest.update(data)
        if digest.hexdigest() != line["sha256"]:
            raise ValueError("rows differ")
        return rgb, sizes

    def _drop(self, rel: str) -> None:
        """Forget ``rel``'s kept rows (not trusted: decoded again, and counted as not kept)."""
        self._lines.pop(rel, None)
        if rel in self._doubtful:
            self._doubtful.discard(rel)  # already not counted
        else:
            DECODED.kept -= rel in self._wanted

    def take(self, rel: str, size: int, mtime_ns: int | None, sha256: str = "",
             identity: tuple[int, int] | None = None) -> FileRecord | None:
        """The record of ``rel`` with its kept rows added to this spill (``spill_row``), when its
        file is provably the one decoded: the recorded byte count ``size``, ``mtime_ns`` and
        ``identity`` (``(st_ino, st_ctime_ns)``; a line without one never matches), or
        (``mtime_ns`` None) the recorded ``sha256``; and its rows read back hash to the recorded
        SHA-256. None otherwise (the line is dropped: the file is decoded again)."""
        line = self._lines.get(rel)
        if line is None:
            return None
        try:
            entry = dict(line["record"])
            if mtime_ns is not None:
                recorded = line.get("identity")
                if (int(entry["size"]), int(entry["mtime_ns"])) != (size, mtime_ns) or identity is None \
                        or not isinstance(recorded, list) or tuple(recorded) != tuple(identity):
                    # its file changed since: not counted as kept, unless its sha256 proves it
                    # the same (the call with ``sha256``, once the file is read)
                    if rel not in self._doubtful:
                        self._doubtful.add(rel)
                        DECODED.kept -= rel in self._wanted
                    return None
            elif not sha256 or entry.get("sha256") != sha256:
                raise ValueError("another file")
            rgb, sizes = self._read_rows(line)
            entry.pop("cache_index", None)
            record = FileRecord.from_state(rel, entry)
            if identity is not None:  # the one just compared (a line of an older record lacks it)
                record.identity = tuple(identity)
        except (OSError, ValueError, KeyError, TypeError):
            self._drop(rel)
            return None
        index = len(self.rgb)
        for s in sizes:
            self._offsets[s].append(int(line["at"][str(s)]))
        self.rgb.append(rgb)
        record.spill_row = index
        if rel in self._doubtful:  # proven the same by its sha256: kept after all
            self._doubtful.discard(rel)
            DECODED.kept += rel in self._wanted
        return record

    def put(self, rows: dict[int, np.ndarray]) -> int:
        """Store one image's rows (``{size: (size, size)`` grey or ``(size, size, 3)`` RGB
        ``uint8}``, all sizes alike); returns its spill row."""
        index = len(self.rgb)
        rgb = next(iter(rows.values())).ndim == 3
        for size, row in rows.items():
            fh = self._file(size)
            fh.seek(0, os.SEEK_END)
            self._offsets[size].append(fh.tell())
            fh.write(memoryview(np.ascontiguousarray(row, dtype=np.uint8)))
        self.rgb.append(rgb)
        return index

    def keep(self, record: FileRecord) -> int:
        """:meth:`put` ``record.resized`` and, when resumable and its rows are those of every
        size of the key, write its journal line after the rows (flushed in that order); returns
        its spill row."""
        rows = record.resized
        assert rows is not None
        index = self.put(rows)
        if self._journal is None or [int(s) for s in rows] != self._key["sizes"]:
            return index
        entry = record.state_entry(-1)
        digest = _kept_digest(entry)
        for size, row in rows.items():
            digest.update(memoryview(np.ascontiguousarray(row, dtype=np.uint8)))
            self._files[size].flush()
        line = {"rel": record.rel, "record": entry, "rgb": self.rgb[index],
                "at": {str(s): self._offsets[s][index] for s in rows}, "sha256": digest.hexdigest(),
                "identity": list(record.identity) if record.identity is not None else None}
        self._journal.write(json.dumps(line).encode() + b"\n")
        self._journal.flush()
        DECODED.kept += record.rel in self._wanted and (record.rel not in self._lines
                                                        or record.rel in self._doubtful)
        self._doubtful.discard(record.rel)
        self._lines[record.rel] = line
        return index

    def get(self, index: int, size: int) -> np.ndarray:
        """The rows of spill row ``index`` at ``size``, as they were put."""
        rgb = self.rgb[index]
        n = size * size * (3 if rgb else 1)
        fh = self._file(size)
        fh.seek(self._offsets[size][index])
        data = fh.read(n)
        if len(data) != n:
            raise OSError(f"{self.path(size)}: spill row {index} is short ({len(data)} of {n} bytes)")
        return np.frombuffer(data, np.uint8).reshape((size, size, 3) if rgb else (size, size))

    def finished(self) -> None:
        """The cache is written: the kept rows are not needed any more (removed on exit)."""
        self._done = True

    def close(self) -> None:
        """Close the files. Temporary: remove every spill file (each one even when another
        fails), then the folders made for them that are empty. Resumable, when this process
        holds the lock (or none could be had) and is :meth:`finished` or holds no kept row: the
        same, and the journal and the lock file too, removed while the lock is still held;
        resumable otherwise (kept rows, or the lock of another ingest): the files stay."""
        temporary = self._key is None
        remove = temporary or (self._owner and (self._done or not self._lines))
        if self._journal is not None:
            with contextlib.suppress(OSError):
                self._journal.close()
            self._journal = None
        for size, fh in self._files.items():
            try:
                with contextlib.suppress(OSError):  # a failed flush (full disk): the file goes anyway
                    fh.close()
            finally:
                if remove:
                    with contextlib.suppress(OSError):
                        self.path(size).unlink(missing_ok=True)
        if remove and not temporary:
            self._remove_kept()
            with contextlib.suppress(OSError):  # nothing kept: the lock file goes too, still held
                (self.folder / INGEST_LOCK).unlink(missing_ok=True)
        if self._lock is not None:
            with contextlib.suppress(OSError):
                self._lock.close()  # its lock goes with it
            self._lock = None
        self._files.clear()
        self._offsets.clear()
        if remove:
            for folder in reversed(self._created):  # innermost first; kept when anything else is in it
                with contextlib.suppress(OSError):
                    folder.rmdir()
        self._created = []

    def __enter__(self) -> RowSpill:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


ROW_BLOCK_BYTES = 32 << 20
"""Rows are assembled and written in blocks of about this many bytes."""


def _row_of(record: FileRecord, size: int, previous: CacheState, spill: RowSpill | None) -> np.ndarray:
    if record.resized is not None:
        return record.resized[size]
    if record.spill_row >= 0:
        if spill is None:
            raise ValueError(f"{record.rel}: its rows are in a spill that was not given")
        return spill.get(record.spill_row, size)
    if record.cache_index < 0 or size not in previous.arrays:
        # a bug, not a row: index -1 would silently be the previous arrays' last image
        raise RuntimeError(f"{record.rel}: no rows at {size} px (neither decoded, kept nor in the "
                           "finished cache) -> please report this; rerun with the cache folder "
                           "removed to decode every image")
    return np.asarray(previous.arrays[size][record.cache_index])


def assemble(records: Sequence[FileRecord], size: int, previous: CacheState,
             channels: int = 1, spill: RowSpill | None = None, start: int = 0,
             stop: int | None = None) -> np.ndarray:
    """Rows ``start:stop`` of the ``(N, size, size[, 3])`` array in ``records`` order: new rows
    (in memory or in ``spill``), plus rows copied from the previous arrays for reused files
    (replicated / reduced when the channels changed)."""
    chosen = records[start:stop]
    out = np.empty(array_shape(len(chosen), size, channels), dtype=np.uint8)
    for i, record in enumerate(chosen):
        row = _row_of(record, size, previous, spill)
        out[i] = _fit(row, channels, row.ndim == 3)
    return out


def write_assembled(path: Path, records: Sequence[FileRecord], size: int, previous: CacheState,
                    channels: int = 1, spill: RowSpill | None = None,
                    progress: Callable[[int], None] | None = None) -> Path:
    """The array of :func:`assemble`, written as a ``.npy`` (to a temporary file, fsync, then
    ``os.replace`` onto ``path``) one block of rows at a time, never all in memory. Not
    ``np.lib.format.open_memmap``: its written pages would count in the process's memory.
    ``progress``: called with the rows of each block written (the ingest's progress)."""
    shape = array_shape(len(records), size, channels)
    row_bytes = max(1, int(np.prod(shape[1:])))
    block = max(1, ROW_BLOCK_BYTES // row_bytes)
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.uint8)), "fortran_order": False,
              "shape": shape}
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, header)
        for start in range(0, len(records), block):
            fh.write(memoryview(assemble(records, size, previous, channels, spill, start, start + block)))
            if progress is not None:
                progress(min(block, len(records) - start))
    return path


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Temporary files a killed run left behind (``.NAME.tmp-PID``); never trusted, removed
    (:func:`drac_ssl.io.remove_stale_temporaries`)."""
    return drac_io.remove_stale_temporaries(folder)
