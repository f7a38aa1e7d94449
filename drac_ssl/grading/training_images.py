"""Which graded images trained the model: the bundle's compact list of its training images'
SHA-256 hashes, and of the images its backbone was pretrained on (standard library only).

A score on images the model was fine-tuned on is not a test (a trial graded the model's own
training images and ``--score`` printed its figures without a word). The bundle's
``metadata.json`` holds, under :data:`TRAINING_IMAGES_KEY`, the first :data:`HASH_HEX` hex
digits of the SHA-256 of every labelled training image's source file (the ingest manifest's
``sha256`` of the rows the cross-validation used, :func:`drac_ssl.manifest.labelled_rows`),
sorted and joined by spaces (:func:`training_images_record`, written by
:func:`drac_ssl.grading.bundle.build_bundle`): 17 characters an image, so a 35,000-image
EyePACS run adds about 600 kB, and a standalone bundle can tell without its run folder. 64 bits
of the hash make a chance match between different files negligible (about 1 in 10^10 for a
million pairs). A bundle built before the key has no list (:func:`training_hashes` None): the
export and ``--score`` then say nothing.

A file's hash tells only that very file: a PNG written from a row of a MedMNIST ``.npz``, or
a training image saved again without loss, has other bytes (a trial graded 30 RetinaMNIST
images it had trained on, written as PNG, and the check said nothing). So the record also
holds, under ``pixels_sha256_prefixes``, the first :data:`HASH_HEX` hex digits of each training
image's decoded-pixel hash (the manifest's ``pixels_sha256``,
:func:`data_prep.validate.pixels_sha256`: the SHA-256 of a canonical header and the pixels'
bytes, grey ``(H, W)`` or RGB ``(H, W, 3)``, as the ingest decoded the image, before any crop,
filter or resize), and an image is a training image when its file's hash *or* its decoded
pixels' hash is listed (:func:`is_training_image`): the export of ``--images`` hashes the
pixels it graded, :func:`drac_ssl.grading.predict.grade_images` the arrays it is given (no
file needed), the app the upload's pixels. A resized, cropped or lossy re-encoded copy has
other pixels and is not recognised. A bundle built from a manifest made before the column has
file hashes only (:func:`training_pixel_hashes` None): the checks compare the files alone and
say once that the decoded-pixel check needs a new ingest (:data:`PIXELS_CHECK_NEEDS_INGEST`).

The export of ``--images`` hashes each graded file (:func:`file_prefix`) and says
:func:`training_images_line` when some match; ``--score`` says it when the notes file beside
the grades records it, or, given a run or bundle and the images' folder, from the files. The
app says :data:`TRAINING_IMAGE_NOTE` of such an upload (a note, not a refusal) and the batch
summary :func:`training_images_line` (:meth:`app.predict.Predictor.training_image`).

The self-supervised pretraining of a bundle's backbone (VICReg, and UMM after it) reads more
images than the labelled ones: the ingest's test images (``pretrain.use_test_images``, true
by default: transductive, their pixels without their grades) and the ``data.unlabelled``
pool. A trial scored IDRiD's public test grades with ``--score`` and got a clean-looking test
figure from a backbone pretrained on those very test images. The bundle's ``metadata.json``
holds, under :data:`PRETRAINING_IMAGES_KEY`, the hash prefixes of the images that pretraining
read beyond the labelled training images, one list per split (test, ``data.unlabelled``), so
that the fix said names the setting that leaves that split out (:func:`pretraining_images_record`,
written by :func:`drac_ssl.grading.bundle.build_bundle` with :func:`pretraining_images_of`, from
the ingest manifest and the stages' recorded settings; absent for the ``scratch`` variant, whose
backbone was never pretrained; a bundle built before it is read from its run folder,
:func:`pretraining_record`, and rebuilt by ``export RUN --variant NAME`` without ``--images``;
with ``--images`` it is reused, writing nothing into the run).
:func:`pretraining_splits` reads it back; the export of ``--images`` counts the graded files
among them and marks them in the notes file's ``pretraining_image`` column, and ``--score``
says :func:`pretraining_images_line` when scored files are among them (by content: a renamed
copy is still recognised, a resized or re-encoded one not). Where the manifest has the
``pixels_sha256`` column the record lists the decoded-pixel hashes per split too
(:func:`record_pixel_splits`), compared as the training images' are, so that a PNG of a test row
of a MedMNIST ``.npz`` is one; a record made from a manifest before that column has file hashes
only.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from drac_ssl import PRETRAIN_METHOD
from drac_ssl.grading.image_notes import TRAINING_IMAGE
from drac_ssl.io import read_json_dict, sha256_file
from drac_ssl.manifest import MANIFEST_FILE, PIXELS_COLUMN, labelled_rows, read_manifest
from drac_ssl.run_state import read_stages_record

__all__ = ["BY_PIXELS", "EXACT_COPIES_ONLY", "HASH_HEX", "PIXELS_CHECK_NEEDS_INGEST", "PRETRAINED_VARIANTS", "PRETRAINING_IMAGES_KEY", "PRETRAINING_SPLITS", "TRAINING_IMAGES_KEY",
           "TRAINING_IMAGE_NOTE", "training_image_note", "file_prefix", "fix_words", "has_pretraining_records", "is_current_pretraining_record",
           "pretraining_images_line", "pretraining_images_of", "pretraining_images_record", "pretraining_record",
           "file_pixels_prefix", "ingest_pixel_digests", "is_training_image", "match_words", "pixels_prefix", "pretraining_splits", "record_pixel_splits", "record_splits", "run_of_bundle",
           "splits_of", "training_hashes", "training_images_line", "training_images_record", "training_match",
           "training_pixel_hashes"]

TRAINING_IMAGES_KEY = "training_images"
"""The bundle ``metadata.json`` key of :func:`training_images_record`."""

HASH_HEX = 16
"""Hex digits of each SHA-256 kept (64 bits)."""

PRETRAINING_IMAGES_KEY = "pretraining_images"
"""The bundle ``metadata.json`` key of :func:`pretraining_images_record`."""

CLEAN_TEST_FIX = "pretrain.use_test_images=false"
"""The setting that keeps a run's test images out of its pretraining (and UMM)."""


def _prefixes(digests: Iterable[str]) -> list[str]:
    """The :data:`HASH_HEX`-digit prefixes of hex ``digests`` (empty ones left out), sorted and unique."""
    return sorted({d.strip().lower()[:HASH_HEX] for d in digests if d and d.strip()})


def training_images_record(digests: Iterable[str], pixel_digests: Iterable[str] | None = None) -> dict[str, Any]:
    """The metadata entry of the training images whose full SHA-256 hex digests are
    ``digests`` (of their files; empty ones, an image without a file, are left out):
    ``{"images": n, "sha256_prefix_hex": 16, "sha256_prefixes": "0a1b... 2c3d...", "what":
    ...}``, the prefixes sorted and unique; with ``pixel_digests`` (the manifest's
    ``pixels_sha256`` of the same images, :func:`data_prep.validate.pixels_sha256`) also
    ``"pixels_sha256_prefixes"`` and ``"pixels_images"`` (their count), so that a copy of a
    training image in another file is recognised (:func:`is_training_image`). None (a manifest
    made before the column): the file hashes alone."""
    prefixes = _prefixes(digests)
    pixels = None if pixel_digests is None else _prefixes(pixel_digests)
    return {"images": len(prefixes), "sha256_prefix_hex": HASH_HEX,
            "sha256_prefixes": " ".join(prefixes),
            **({} if pixels is None else {"pixels_images": len(pixels), "pixels_sha256_prefixes": " ".join(pixels)}),
            "what": ("the first 16 hex digits of the SHA-256 of each labelled training image's "
                     "file (the fine-tuning's images)"
                     + ("" if pixels is None else
                        " and of its decoded pixels (pixels_sha256_prefixes: data_prep.validate.pixels_sha256, "
                        "shared by a copy of the image in another file, e.g. a PNG of an .npz row)")
                     + ": a graded image with the same hash is one the model was trained on, so a "
                       "score on it is not a test")}


def training_hashes(metadata: Mapping[str, Any]) -> set[str] | None:
    """The set of training-image hash prefixes of a bundle's ``metadata`` (:data:`HASH_HEX`
    hex digits each, of the files); None when the bundle records none (built before the list,
    or an entry that is not this format)."""
    record = metadata.get(TRAINING_IMAGES_KEY)
    if not isinstance(record, Mapping) or record.get("sha256_prefix_hex") != HASH_HEX:
        return None
    text = record.get("sha256_prefixes")
    return set(text.split()) if isinstance(text, str) else None


def training_pixel_hashes(metadata: Mapping[str, Any]) -> set[str] | None:
    """The set of the training images' decoded-pixel hash prefixes of a bundle's ``metadata``
    (:data:`HASH_HEX` hex digits of :func:`data_prep.validate.pixels_sha256` each); None when
    the bundle records none (no training list, or one built from a manifest made before the
    ``pixels_sha256`` column: :data:`PIXELS_CHECK_NEEDS_INGEST`)."""
    if training_hashes(metadata) is None:
        return None
    text = metadata[TRAINING_IMAGES_KEY].get("pixels_sha256_prefixes")
    return set(text.split()) if isinstance(text, str) else None


def pixels_prefix(pixels: Any) -> str:
    """The first :data:`HASH_HEX` hex digits of :func:`data_prep.validate.pixels_sha256` of a
    uint8 image (grey ``(H, W)`` or RGB ``(H, W, 3)``, as decoded); ValueError for another
    array (that function's)."""
    from data_prep.validate import pixels_sha256  # numpy: not at this module's import

    return pixels_sha256(pixels)[:HASH_HEX]


BY_PIXELS = "pixels"
"""What :func:`training_match` says of an image whose file's hash is not listed but whose
decoded pixels' is (a PNG of an ``.npz`` row, a copy saved again): a mark of it reads ``yes
(same decoded pixels)``, not ``yes (same SHA-256)`` (:func:`drac_ssl.submission.training_image_cell`)."""


def training_match(files: set[str] | None, pixels: set[str] | None, file_hash: str | None = None,
                   pixels_hash: str | None = None) -> str | bool | None:
    """:func:`is_training_image`, saying how it matched: True for the file's hash (``same
    SHA-256``), :data:`BY_PIXELS` for the decoded pixels' hash alone (``same decoded pixels``),
    False for neither, None when that cannot be told. Truthy exactly where
    :func:`is_training_image` is True."""
    by_file = None if files is None or file_hash is None else file_hash in files
    by_pixels = None if pixels is None or pixels_hash is None else pixels_hash in pixels
    if by_file:
        return True
    if by_pixels:
        return BY_PIXELS
    return None if by_file is None and by_pixels is None else False


def is_training_image(files: set[str] | None, pixels: set[str] | None, file_hash: str | None = None,
                      pixels_hash: str | None = None) -> bool | None:
    """Whether a graded image is one of a bundle's training images: its file's hash prefix
    ``file_hash`` (:func:`file_prefix`) is among ``files`` (:func:`training_hashes`) or its
    decoded pixels' ``pixels_hash`` (:func:`pixels_prefix`) among ``pixels``
    (:func:`training_pixel_hashes`). None when that cannot
    be told: no list to compare with, or nothing of the image to compare (no file read, no
    pixel list). A match of either is True; False needs a comparison that could have matched
    (:func:`training_match` says which matched)."""
    found = training_match(files, pixels, file_hash, pixels_hash)
    return None if found is None else bool(found)


def file_pixels_prefix(path: str | os.PathLike[str], channels: int) -> str | None:
    """:func:`pixels_prefix` of the image file ``path`` decoded as the export's
    :func:`drac_ssl.grading.predict.read_image` decodes it for a model of ``channels`` (1: a
    colour file to its luminance; 3: as the file is, a grey file's hash being that of its grey
    pixels whether replicated or not, :func:`data_prep.validate.pixels_sha256`), and as the
    ingest decoded its images (:func:`data_prep.validate.inspect_image`), without torch
    (``--score`` loads none). None for a file that holds no image the decoder reads.

    Raises:
        OSError: the file cannot be read (gone, no permission)."""
    # numpy, OpenCV, Pillow: not at this module's import
    from data_prep.validate import inspect_image

    decoded = inspect_image(Path(path).read_bytes(), str(path), channels=1 if channels == 1 else None,
                            expected_side=None)
    return None if decoded.pixels is None else pixels_prefix(decoded.pixels)


def ingest_pixel_digests(data_dir: str | os.PathLike[str], rows: Iterable[Mapping[str, Any]]) -> list[str] | None:
    """Per manifest row of the ingest in ``data_dir`` (a ``RUN/data`` folder; ``rows`` read from
    its manifest, holding ``path`` and ``sha256``), the decoded-pixel hash the ingest writes as
    ``pixels_sha256`` (:func:`data_prep.validate.pixels_sha256`), for a manifest made before that
    column, so that a bundle built from it still tells a training image held in another file. A
    row ``NAME.npz:KEY[i]`` (a MedMNIST ``.npz``: ``ingest_summary.json``'s ``source_files.npz``,
    else its ``root``) is row ``i`` of the array ``KEY``; a file is decoded from the ingest's
    ``root`` (:func:`data_prep.validate.inspect_image`), each in the ingest's channels (grey with
    ``data.channels=1``, else as held), as :mod:`data_prep.cache` decodes them. Each image is
    first held to the manifest's ``sha256`` (of the file's bytes, or of the row's): None when any
    one is gone, unreadable or changed since the ingest, or the ingest's record cannot be read
    (then the bundle lists file hashes only: :data:`PIXELS_CHECK_NEEDS_INGEST`); "" for a file
    that holds no image the decoder reads. Decodes every image given: a few ms a small image,
    tens of ms a photograph (a 3,662-image APTOS training set: about a minute on 2 cores)."""

    import numpy as np

    from data_prep.validate import (
        ARRAY_ROW,
        array_row_image,
        array_row_pixels,
        inspect_image,
        pixels_sha256,
        sha256_of,
    )

    data_dir = Path(data_dir)
    summary = read_json_dict(data_dir / "ingest_summary.json") or {}
    if not summary.get("root"):
        return None
    root = Path(str(summary["root"]))
    channels = summary.get("channels") if isinstance(summary.get("channels"), Mapping) else {}
    grey = str(channels.get("setting")) == "1"  # data_prep.ingest._plan: target "gray" only then
    recorded = ((summary.get("source_files") or {}).get("npz") or {}).get("path")
    archives: dict[Path, Any] = {}
    arrays: dict[tuple[Path, str], Any] = {}
    digests: list[str] = []
    try:
        for row in rows:
            rel, want = str(row.get("path") or ""), str(row.get("sha256") or "").strip().lower()
            match = ARRAY_ROW.match(rel)
            if match is None:
                try:
                    data = (root / rel).read_bytes()
                except OSError:
                    return None
                if not rel or sha256_of(data) != want:
                    return None
                decoded = inspect_image(data, str(root / rel), channels=1 if grey else None, expected_side=None)
                digests.append("" if decoded.pixels is None else pixels_sha256(decoded.pixels))
                continue
            npz = next((c for c in (Path(str(recorded)) if recorded else None, root, root / match["file"],
                                    root.parent / match["file"])
                        if c is not None and c.name == match["file"] and c.is_file()), None)
            if npz is None:
                return None
            if npz not in archives:
                archives[npz] = np.load(npz, allow_pickle=False)
            key = (npz, match["key"])
            if key not in arrays:
                if match["key"] not in archives[npz].files:
                    return None
                arrays[key] = archives[npz][match["key"]]
            images, i = arrays[key], int(match["index"])
            if i >= len(images):
                return None
            pixels = array_row_pixels(images[i])
            if pixels.dtype != np.uint8 or sha256_of(pixels.tobytes()) != want:
                return None
            digests.append(pixels_sha256(array_row_image(pixels, rel, 1 if grey else None)[0]))
    except (OSError, ValueError):  # an .npz that is no archive, a damaged one
        return None
    finally:
        for archive in archives.values():
            archive.close()
    return digests


PIXELS_CHECK_NEEDS_INGEST = (
    "this model's list of training images holds file hashes only (its ingest was made before the "
    "decoded-pixel hashes): a training image in another file (a PNG written from an .npz row, a "
    "copy saved again) is not recognised as one, and the images it was trained on could not be "
    "read again to hash them; to check decoded pixels too, ingest the data again in a new run "
    "folder, without run.reuse (which takes the old ingest as it is), and train there")
"""Said once by a check of graded images against a bundle whose training list has no
decoded-pixel hashes (:func:`training_pixel_hashes` None where :func:`training_hashes` is not)."""


PRETRAINING_SPLITS = ("test", "unlabelled")
"""The ingest splits whose images the self-supervised pretraining reads without grades: the
run's test images (``pretrain.use_test_images``) and the ``data.unlabelled`` pool."""

SPLIT_FIXES = {"test": f"with {CLEAN_TEST_FIX}", "unlabelled": "without these images in data.unlabelled"}
"""What keeps the images of each of :data:`PRETRAINING_SPLITS` out of a run's pretraining."""


def pretraining_images_record(digests: Mapping[str, Iterable[str]], *, stages: str,
                              test_read: bool, initial_weights: str = "",
                              pixel_digests: Mapping[str, Iterable[str]] | None = None) -> dict[str, Any]:
    """The metadata entry of the images a bundle's backbone was pretrained on (self-supervised,
    without grades) beyond its labelled training images (those are :func:`training_images_record`'s).

    ``digests``: per split of :data:`PRETRAINING_SPLITS` (``"test"``, ``"unlabelled"``), the
    full SHA-256 hex digests of the images read (the ingest manifest's ``sha256``: of the file's
    bytes, or for a row of a MedMNIST ``.npz`` of its pixels' bytes, which no graded file
    matches; empty ones are left out), kept as :data:`HASH_HEX`-digit prefixes, sorted and
    unique, one list per split (``test_sha256_prefixes``, ``unlabelled_sha256_prefixes``), so
    that the fix said of a match names the setting that leaves that split out
    (:data:`SPLIT_FIXES`; a file in both lists is in both). ``stages``: the stages that read
    them (``"VICReg"``, ``"VICReg, then UMM"``); ``test_read``: whether the test images were
    read (``pretrain.use_test_images``); ``initial_weights``: the weights the pretraining
    started from (``pretrain.backbone.weights``, an outside ``umm.source``), whose own images
    are not known ("" for none). ``images``, ``test`` and ``unlabelled`` count the prefixes.
    ``pixel_digests``: per split the same images' decoded-pixel hashes (the manifest's
    ``pixels_sha256``, :func:`data_prep.validate.pixels_sha256`), kept as
    ``test_pixels_sha256_prefixes`` and ``unlabelled_pixels_sha256_prefixes``, so that a copy of
    such an image in another file (a PNG of a MedMNIST test row) is recognised
    (:func:`record_pixel_splits`); None (a manifest made before that column): the file hashes alone."""
    lists = {split: _prefixes(digests.get(split, ())) for split in PRETRAINING_SPLITS}
    pixels = None if pixel_digests is None else {
        split: _prefixes(pixel_digests.get(split, ())) for split in PRETRAINING_SPLITS}
    return {"images": len(set(lists["test"]) | set(lists["unlabelled"])), "sha256_prefix_hex": HASH_HEX,
            **{f"{split}_sha256_prefixes": " ".join(lists[split]) for split in PRETRAINING_SPLITS},
            **({} if pixels is None else {
                f"{split}_pixels_sha256_prefixes": " ".join(pixels[split]) for split in PRETRAINING_SPLITS}),
            "stages": stages, "test": len(lists["test"]), "unlabelled": len(lists["unlabelled"]),
            "test_read": bool(test_read),
            **({"initial_weights": initial_weights} if initial_weights else {}),
            "what": ("the first 16 hex digits of the SHA-256 of each image the self-supervised "
                     "pretraining of this backbone read without its grade, beyond the labelled "
                     "training images, per split (the run's test images unless "
                     "pretrain.use_test_images=false; its data.unlabelled images)"
                     + ("" if pixels is None else
                        ", and of its decoded pixels (*_pixels_sha256_prefixes: data_prep.validate.pixels_sha256, "
                        "shared by a copy of the image in another file, e.g. a PNG of an .npz row)")
                     + ": a score on such an image is transductive, not a clean held-out test")}


def _stage_read_test(stage_meta: dict[str, Any]) -> bool:
    """Whether a pretraining stage (VICReg or UMM) read the ingest's test images, from its
    ``metadata.json`` (``stage_meta``): its recorded ``config`` (``data.dataset`` an ingested
    set, ``drac``, and ``pretrain.use_test_images`` not false,
    :func:`drac_ssl.pretrain.load_pretrain_data`'s rule), else its ``training_data`` words
    ("test images left out" says not); else True, the default being to read them (a warning
    too many rather than one missed)."""
    cfg = stage_meta.get("config")
    if isinstance(cfg, dict) and isinstance(cfg.get("pretrain"), dict) and isinstance(cfg.get("data"), dict):
        return (cfg["data"].get("dataset", "drac") == "drac"
                and cfg["pretrain"].get("use_test_images", True) is not False)
    return "test images left out" not in str(stage_meta.get("training_data") or "")


PRETRAINED_VARIANTS = {"vicreg": ("pretrain",), "vicreg_umm": ("pretrain", "umm")}
"""The fine-tuned variants whose backbone was pretrained, and the run's stage folders that made
it (``scratch`` is never pretrained)."""


def _own_pretrain_folders(run_dir: Path) -> list[Path]:
    """The folders that held this run's own VICReg pretraining (``pretrain/``) wherever it was
    made: the run's ``pretrain/`` now; the ``pretrain/`` of the runs its ``stages.json`` says
    the pretrain or UMM stage was taken from (``run.reuse``: ``reused_from``, ``via``), whose
    files it copied verbatim (``umm/metadata.json``'s ``umm.source`` names theirs); and the
    ``pretrain/`` folders of the paths its stages recorded as their outputs when they ran (a run
    folder moved or renamed since keeps them). Only reads; an unreadable ``stages.json`` adds none."""
    folders = [run_dir / "pretrain"]
    stages = read_stages_record(run_dir)
    for stage in ("pretrain", "umm"):
        entry = stages.get(stage)
        if not isinstance(entry, dict):
            continue
        folders += [Path(str(entry[key])) / "pretrain" for key in ("reused_from", "via") if entry.get(key)]
        outputs = entry.get("outputs")
        texts = list(outputs.values()) if isinstance(outputs, dict) else [outputs]
        for text in texts:
            parts = Path(text).parts if isinstance(text, str) else ()
            if "pretrain" in parts[:-1]:
                at = len(parts) - 1 - parts[::-1].index("pretrain")
                folders.append(Path(*parts[:at + 1]))
    return folders


def _same_weights(source: Path, run_dir: Path) -> bool:
    """Whether the file ``source`` has the content of the run's own ``pretrain/`` file of the
    same path below its ``pretrain`` folder (``vicreg_model.safetensors``, a checkpoint): the
    same file (a reuse's hard link) or the same SHA-256 (hashed only when the sizes agree).
    False when either cannot be read."""
    parts = source.parts
    if "pretrain" not in parts[:-1]:
        return False
    at = len(parts) - 1 - parts[::-1].index("pretrain")
    mine = run_dir / "pretrain" / Path(*parts[at + 1:])
    try:  # sizes first: two weights files of other runs nearly always differ in size, no hash read
        return mine.is_file() and source.is_file() and (
            os.path.samefile(mine, source)
            or (mine.stat().st_size == source.stat().st_size and sha256_file(mine) == sha256_file(source)))
    except OSError:
        return False


def _initial_weights(run_dir: Path, read: Mapping[str, dict[str, Any]]) -> str:
    """The outside weights the stages in ``read`` (stage folder -> its ``metadata.json``)
    started from, in words, "" for none: ``pretrain.backbone.weights`` (their
    ``initial_weights``), and a UMM start (``umm.source``, recorded resolved) outside the run's
    own pretraining: not in one of :func:`_own_pretrain_folders` (the run's ``pretrain/``, that
    of the run a ``run.reuse`` took it from, the folder it had before a move or rename), nor
    the same weights as the run's own file there (:func:`_same_weights`), nor under a
    ``pretrain`` folder of a run of this run's name (:func:`drac_ssl.umm.source.resolve_start`
    starts from ``vicreg_model.safetensors`` or a checkpoint there)."""
    said: list[str] = []
    for meta in read.values():
        if (weights := str(meta.get("initial_weights") or "")) and weights not in said:
            said.append(weights)
    source = str(((read.get("umm") or {}).get("umm") or {}).get("source") or "")
    if source:
        path = Path(source)
        parts = path.parts
        folders = _own_pretrain_folders(run_dir)
        own = (any(path.is_relative_to(f) or path.resolve().is_relative_to(f.resolve()) for f in folders)
               or any(parts[i:i + 2] == (run_dir.resolve().name, "pretrain") for i in range(len(parts) - 1))
               or _same_weights(path, run_dir))
        if not own:
            said.append(f"umm.source {source}")
    return "; ".join(said)


def _pretraining_sources(run_dir: Path, variant: str) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]] | None:
    """What :func:`pretraining_images_of` builds its record from: the ``metadata.json`` of each
    stage that made the ``variant``'s backbone and is there (stage -> its metadata, in
    :data:`PRETRAINED_VARIANTS`' order) and the rows of ``data/manifest.csv``; None when it
    gives no record (the ``scratch`` variant, no stage's ``metadata.json``, a manifest missing
    or unreadable)."""
    stages = PRETRAINED_VARIANTS.get(variant)
    if stages is None:
        return None
    read = {stage: meta for stage in stages if (meta := read_json_dict(run_dir / stage / "metadata.json"))}
    if not read:
        return None
    try:
        rows = read_manifest(run_dir / "data" / MANIFEST_FILE, ("grade", "split", "fold", "sha256"))
    except (OSError, ValueError, KeyError):
        return None
    return read, rows


def pretraining_images_of(run_dir: str | os.PathLike[str], variant: str) -> dict[str, Any] | None:
    """The bundle's record of the images its backbone's self-supervised pretraining read
    beyond the labelled training images
    (:func:`pretraining_images_record`), from the run folder
    ``run_dir``: the stages that made the ``variant``'s backbone (:data:`PRETRAINED_VARIANTS`:
    ``vicreg``: ``pretrain/``; ``vicreg_umm``: ``pretrain/`` and ``umm/``, the union of what
    each read), each one's ``metadata.json`` telling whether it read the test images
    (:func:`_stage_read_test`) and the weights it started from (:func:`_initial_weights`, which
    may hash two weights files), and
    ``data/manifest.csv``: every row they read (the ``data.unlabelled`` rows always, the test
    rows when read) whose hash is not a labelled training image's
    (:func:`drac_ssl.manifest.labelled_rows`), per split. None for the ``scratch`` variant
    (never pretrained), when no stage's ``metadata.json`` is there, or when the manifest is
    missing or unreadable (:func:`has_pretraining_records` tells which without building it).
    Each call reads the run's files again: a caller that needs the record twice (the check
    whether a bundle lacks it, then the build that writes it) passes it along."""
    run_dir = Path(run_dir)
    sources = _pretraining_sources(run_dir, variant)
    if sources is None:
        return None
    read, rows = sources
    test_read = any(_stage_read_test(meta) for meta in read.values())
    splits = ("test", "unlabelled") if test_read else ("unlabelled",)

    def listed(column: str) -> dict[str, list[str]]:  # per split, the column's digests of no training image
        trained = {str(r.get(column) or "").strip().lower()[:HASH_HEX] for r in labelled_rows(rows)}
        return {split: [d for r in rows if r.get("split") == split
                        and (d := str(r.get(column) or "").strip().lower()) and d[:HASH_HEX] not in trained]
                for split in splits}

    # the decoded-pixel hashes where the manifest has them (an ingest made before: files only)
    pixels = listed(PIXELS_COLUMN) if rows and all(PIXELS_COLUMN in r for r in rows) else None
    return pretraining_images_record(
        listed("sha256"), stages=", then ".join({"pretrain": PRETRAIN_METHOD, "umm": "UMM"}[s] for s in read),
        test_read=test_read, initial_weights=_initial_weights(run_dir, read), pixel_digests=pixels)


def has_pretraining_records(run_dir: str | os.PathLike[str], variant: str) -> bool:
    """Whether :func:`pretraining_images_of` gives a record for ``variant`` of the run folder
    ``run_dir`` (not None), told without building it: the stages' ``metadata.json`` and the
    manifest are read, no hash list is made and no weights file hashed (:func:`_initial_weights`).
    For a caller that needs only whether a build would write the record
    (:func:`drac_ssl.grading.bundle.pretraining_record_missing`)."""
    return _pretraining_sources(Path(run_dir), variant) is not None


def pretraining_splits(metadata: Mapping[str, Any]) -> dict[str, set[str]] | None:
    """The pretraining-image hash prefixes of a bundle's ``metadata``
    (:func:`pretraining_images_record`, :data:`HASH_HEX` hex digits each) per split of
    :data:`PRETRAINING_SPLITS`: ``{"test": {...}, "unlabelled": {...}}``; empty sets for the
    ``scratch`` variant (its backbone was never pretrained); ``{"either": {...}}`` for a record
    of the first version, one list of both splits (which one a hash came from is not known);
    None when the bundle records none (built before the list, or an entry that is not this
    format)."""
    if metadata.get("variant") == "scratch":
        return {split: set() for split in PRETRAINING_SPLITS}
    record = metadata.get(PRETRAINING_IMAGES_KEY)
    if not isinstance(record, Mapping) or record.get("sha256_prefix_hex") != HASH_HEX:
        return None
    if all(isinstance(record.get(f"{split}_sha256_prefixes"), str) for split in PRETRAINING_SPLITS):
        return {split: set(record[f"{split}_sha256_prefixes"].split()) for split in PRETRAINING_SPLITS}
    text = record.get("sha256_prefixes")
    return {"either": set(text.split())} if isinstance(text, str) else None


def is_current_pretraining_record(metadata: Mapping[str, Any]) -> bool:
    """Whether a bundle's ``metadata`` holds this version's pretraining record (a list per
    split, :func:`pretraining_images_record`), or needs none (the ``scratch`` variant); False
    for a bundle built before the list or with its first version's one list."""
    splits = pretraining_splits(metadata)
    return splits is not None and "either" not in splits


def run_of_bundle(bundle_dir: str | os.PathLike[str]) -> Path | None:
    """The run folder a bundle lies in, by where :mod:`drac_ssl.export` puts it: ``RUN/bundle``
    (the selected variant's) or ``RUN/bundles/NAME`` (``--variant NAME``), when that folder
    holds the ingest's ``data/manifest.csv``; else None (a bundle copied elsewhere)."""
    bundle_dir = Path(bundle_dir).resolve()
    for run, where in ((bundle_dir.parent, bundle_dir.name == "bundle"),
                       (bundle_dir.parent.parent, bundle_dir.parent.name == "bundles")):
        if where and (run / "data" / MANIFEST_FILE).is_file():
            return run
    return None


def pretraining_record(bundle_dir: str | os.PathLike[str],
                       metadata: Mapping[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """The record of the images the pretraining of a bundle's backbone read
    (:func:`pretraining_images_record`) and where it was read: the bundle's ``metadata.json``
    when it holds this version's (:func:`is_current_pretraining_record`); else, for a bundle
    built before it that lies in its run folder (:func:`run_of_bundle`), the run's records of
    its variant (:func:`pretraining_images_of`: a bundle reused as it is says as much as a new
    one); else the bundle's first-version record, if any; else ``(None, "")``. ``({}, ...)``
    for the ``scratch`` variant (never pretrained)."""
    bundle_dir = Path(bundle_dir)
    variant = str(metadata.get("variant") or "")
    if variant == "scratch":
        return {}, f"{bundle_dir}: the scratch variant, whose backbone was never pretrained"
    if is_current_pretraining_record(metadata):
        return dict(metadata[PRETRAINING_IMAGES_KEY]), f"{bundle_dir / 'metadata.json'}"
    run = run_of_bundle(bundle_dir)
    if run is not None and (record := pretraining_images_of(run, variant)) is not None:
        return record, f"the run folder {run} (its {variant} variant's pretraining records and ingest manifest)"
    if pretraining_splits(metadata) is not None:
        return dict(metadata[PRETRAINING_IMAGES_KEY]), f"{bundle_dir / 'metadata.json'}"
    return None, ""


def record_splits(record: Mapping[str, Any]) -> dict[str, set[str]]:
    """:func:`pretraining_splits` of a record (:func:`pretraining_record`'s): ``{}`` for none."""
    if not record:
        return {}
    return pretraining_splits({PRETRAINING_IMAGES_KEY: record}) or {}


def record_pixel_splits(record: Mapping[str, Any] | None) -> dict[str, set[str]] | None:
    """The decoded-pixel hash prefixes of a pretraining record (:func:`pretraining_images_record`'s
    ``*_pixels_sha256_prefixes``) per split of :data:`PRETRAINING_SPLITS`; None for a record
    without them (made from a manifest before the ``pixels_sha256`` column, or by an earlier
    version), for none and for the ``scratch`` variant's ``{}``."""
    if not record or record.get("sha256_prefix_hex") != HASH_HEX:
        return None
    lists = [record.get(f"{split}_pixels_sha256_prefixes") for split in PRETRAINING_SPLITS]
    if not all(isinstance(text, str) for text in lists):
        return None
    return {split: set(text.split()) for split, text in zip(PRETRAINING_SPLITS, lists, strict=True)}


def splits_of(prefix: str | None, splits: Mapping[str, set[str]], pixels_prefix: str | None = None,
              pixel_splits: Mapping[str, set[str]] | None = None) -> list[str]:
    """The splits (keys of :func:`pretraining_splits`) whose lists hold the file's hash prefix
    ``prefix``, or whose decoded-pixel lists (``pixel_splits``, :func:`record_pixel_splits`)
    hold the image's ``pixels_prefix`` (:func:`pixels_prefix`), in :data:`PRETRAINING_SPLITS`'
    order; [] for none or None prefixes."""
    found = [] if prefix is None else [split for split, hashes in splits.items() if prefix in hashes]
    if pixels_prefix is not None and pixel_splits:
        found += [split for split, hashes in pixel_splits.items() if pixels_prefix in hashes and split not in found]
    order = list(splits) + [split for split in PRETRAINING_SPLITS if split not in splits]
    return sorted(found, key=order.index)


def fix_words(splits: Iterable[str]) -> str:
    """How to keep images of ``splits`` out of the pretraining, for a clean test figure:
    ``"train again with pretrain.use_test_images=false"`` (the test images),
    ``"train again without these images in data.unlabelled"``, both joined by ``and``;
    ``"either"`` (a first-version record: the split not known) names both, each for its own."""
    wanted = set(splits)
    if "either" in wanted:
        return (f"train again with {CLEAN_TEST_FIX} (for the run's test images) and without these "
                f"images in data.unlabelled (for those from there)")
    return "train again " + " and ".join(SPLIT_FIXES[s] for s in PRETRAINING_SPLITS if s in wanted)


def match_words(n_matched: int, by_pixels: int = 0) -> str:
    """How ``n_matched`` images were matched, of which ``by_pixels`` by their decoded pixels
    alone (:data:`BY_PIXELS`): ``"same SHA-256"`` (none), ``"same decoded pixels"`` (all), else
    ``"same SHA-256 or, for 2 of them, same decoded pixels"``."""
    if by_pixels <= 0:
        return "same SHA-256"
    if by_pixels >= n_matched:
        return "same decoded pixels"
    return f"same SHA-256 or, for {by_pixels} of them, same decoded pixels"


def pretraining_images_line(n_pretrained: int, n_images: int, stages: str = "",
                            splits: Iterable[str] = ("test",), scored: bool = True, by_pixels: int = 0) -> str:
    """``"2 of 5 scored images were among those the self-supervised pretraining (VICReg) of
    this model's backbone read, without their grades (same SHA-256): the figures are
    transductive, not a clean held-out test figure; for a clean one, train again with
    pretrain.use_test_images=false"``; "" for ``n_pretrained`` 0. ``stages``: the stages that
    pretrained (:func:`pretraining_images_record`'s); ``splits``: those the matched images
    came from, whose fixes are named (:func:`fix_words`); ``scored`` False: the export's words
    of graded images (``2 of 5 graded images were ...: a score of their grades (--score) is
    transductive, ...``); ``by_pixels``: how many matched by their decoded pixels alone (a PNG of
    an ``.npz`` row), said in the parentheses (:func:`match_words`)."""
    if n_pretrained <= 0:
        return ""
    verb = "was" if n_pretrained == 1 else "were"
    which = f" ({stages})" if stages else ""
    what = ("the figures are transductive" if scored else
            "a score of their grades (export --score) is transductive")
    return (f"{n_pretrained} of {n_images} {'scored' if scored else 'graded'} images {verb} among those "
            f"the self-supervised pretraining{which} of this model's backbone read, without their grades "
            f"({match_words(n_pretrained, by_pixels)}): {what}, not a clean held-out test figure; for a clean one, "
            f"{fix_words(splits)}")


def file_prefix(path: str | os.PathLike[str]) -> str:
    """The first :data:`HASH_HEX` hex digits of the SHA-256 of the file ``path``'s bytes;
    OSError when it cannot be read."""
    return sha256_file(path)[:HASH_HEX]


EXACT_COPIES_ONLY = "exact copies (same decoded pixels) only; re-encoded or resized copies are not detected"
"""What the training-image check finds, said on its count (:func:`training_images_line`): a file
of the same bytes or the same decoded pixels; a JPEG saved again or a resized copy of a
training image is not matched (a multi-site review: 15 of 30 found where all 30 were re-encoded
copies), so the count is a floor."""


def training_images_line(n_trained: int, n_images: int, by_pixels: int = 0) -> str:
    """``"2 of 5 images were used to train this model (same SHA-256): scores on them are not a
    test; exact copies (same decoded pixels) only; re-encoded or resized copies are not
    detected"`` (:data:`EXACT_COPIES_ONLY`: the count is a floor); "" for ``n_trained`` 0.
    ``by_pixels``: how many of them matched by their decoded pixels alone (:data:`BY_PIXELS`:
    ``(same decoded pixels)``, :func:`match_words`)."""
    if n_trained <= 0:
        return ""
    verb = "was" if n_trained == 1 else "were"
    return (f"{n_trained} of {n_images} images {verb} used to train this model "
            f"({match_words(n_trained, by_pixels)}): scores on them are not a test; {EXACT_COPIES_ONLY}")


def training_image_note(found: bool | str = True) -> str:
    """The app's note on an upload that is one of the bundle's training images, saying which
    matched (:func:`training_match`'s ``found``): its file's hash (True: ``(same SHA-256)``) or
    its decoded pixels' alone (:data:`BY_PIXELS`: ``(same decoded pixels)``, a PNG of an
    ``.npz`` row or a copy saved again, whose bytes differ), as :func:`match_words` says it for
    the export. A plain note (:func:`drac_ssl.grading.image_notes.is_plain_note`), said as
    "Note: ..." on the page and in the batch's notes column
    (:meth:`app.predict.Predictor.upload_warnings`)."""
    return (f"{TRAINING_IMAGE}: this file is one of the images this model was trained on "
            f"({match_words(1, 1 if found == BY_PIXELS else 0)}), so its grade is no test of the model.")


TRAINING_IMAGE_NOTE = training_image_note(True)
"""The app's note on an upload whose file's hash is among the bundle's training images
(:func:`training_image_note`; ``(same decoded pixels)`` for one matched by its pixels alone)."""
