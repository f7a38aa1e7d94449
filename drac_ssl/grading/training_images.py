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
read beyond the labelled training images (:func:`pretraining_images_record`, written by
:func:`drac_ssl.grading.bundle.build_bundle` with :func:`pretraining_images_of`, from the ingest
manifest and the stages' recorded settings; absent for the ``scratch`` variant, whose backbone was never pretrained);
:func:`pretraining_hashes` reads it back and ``--score`` says :func:`pretraining_images_line`
when scored files are among them (by content: a renamed copy is still recognised).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from drac_ssl.grading.image_notes import TRAINING_IMAGE
from drac_ssl.io import read_json_dict, sha256_file
from drac_ssl.manifest import MANIFEST_FILE, labelled_rows, read_manifest

__all__ = ["HASH_HEX", "PRETRAINING_IMAGES_KEY", "TRAINING_IMAGES_KEY", "TRAINING_IMAGE_NOTE", "file_prefix",
           "pretraining_hashes", "pretraining_images_line", "pretraining_images_of", "pretraining_images_record", "training_hashes",
           "training_images_line", "training_images_record"]

TRAINING_IMAGES_KEY = "training_images"
"""The bundle ``metadata.json`` key of :func:`training_images_record`."""

HASH_HEX = 16
"""Hex digits of each SHA-256 kept (64 bits)."""

PRETRAINING_IMAGES_KEY = "pretraining_images"
"""The bundle ``metadata.json`` key of :func:`pretraining_images_record`."""

CLEAN_TEST_FIX = "pretrain.use_test_images=false"
"""The setting that keeps a run's test images out of its pretraining (and UMM)."""


def training_images_record(digests: Iterable[str]) -> dict[str, Any]:
    """The metadata entry of the training images whose full SHA-256 hex digests are
    ``digests`` (empty ones, an image without a file, are left out): ``{"images": n,
    "sha256_prefix_hex": 16, "sha256_prefixes": "0a1b... 2c3d...", "what": ...}``, the
    prefixes sorted and unique."""
    prefixes = sorted({d.strip().lower()[:HASH_HEX] for d in digests if d and d.strip()})
    return {"images": len(prefixes), "sha256_prefix_hex": HASH_HEX,
            "sha256_prefixes": " ".join(prefixes),
            "what": ("the first 16 hex digits of the SHA-256 of each labelled training image's "
                     "file (the fine-tuning's images): a graded file with the same hash is one "
                     "the model was trained on, so a score on it is not a test")}


def training_hashes(metadata: Mapping[str, Any]) -> set[str] | None:
    """The set of training-image hash prefixes of a bundle's ``metadata`` (:data:`HASH_HEX`
    hex digits each); None when the bundle records none (built before the list, or an
    entry that is not this format)."""
    record = metadata.get(TRAINING_IMAGES_KEY)
    if not isinstance(record, Mapping) or record.get("sha256_prefix_hex") != HASH_HEX:
        return None
    text = record.get("sha256_prefixes")
    return set(text.split()) if isinstance(text, str) else None


def pretraining_images_record(digests: Iterable[str], *, stages: str, test: int, unlabelled: int,
                              test_read: bool, initial_weights: str = "") -> dict[str, Any]:
    """The metadata entry of the images a bundle's backbone was pretrained on (self-supervised,
    without grades) beyond its labelled training images (those are :func:`training_images_record`'s):
    ``digests``, the full SHA-256 hex digests of their files (empty ones, an image without a
    file such as a MedMNIST ``.npz`` row, are left out), kept as :data:`HASH_HEX`-digit
    prefixes, sorted and unique. ``stages``: the stages that read them (``"VICReg"``,
    ``"VICReg, then UMM"``); ``test`` / ``unlabelled``: how many of the run's test images and
    ``data.unlabelled`` images they read; ``test_read``: whether the test images were read
    (``pretrain.use_test_images``); ``initial_weights``: the ``pretrain.backbone.weights`` file
    the pretraining started from, whose own images are not known ("" for none)."""
    prefixes = sorted({d.strip().lower()[:HASH_HEX] for d in digests if d and d.strip()})
    return {"images": len(prefixes), "sha256_prefix_hex": HASH_HEX, "sha256_prefixes": " ".join(prefixes),
            "stages": stages, "test": int(test), "unlabelled": int(unlabelled), "test_read": bool(test_read),
            **({"initial_weights": initial_weights} if initial_weights else {}),
            "what": ("the first 16 hex digits of the SHA-256 of each image the self-supervised "
                     "pretraining of this backbone read without its grade, beyond the labelled "
                     "training images (the run's test images unless pretrain.use_test_images=false, "
                     "and its data.unlabelled images): a score on such an image is transductive, "
                     "not a clean held-out test")}


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


def pretraining_images_of(run_dir: str | os.PathLike[str], variant: str) -> dict[str, Any] | None:
    """The bundle's record of the images its backbone's self-supervised pretraining read
    beyond the labelled training images
    (:func:`pretraining_images_record`), from the run folder
    ``run_dir``: the stages that made the ``variant``'s backbone (``vicreg``: ``pretrain/``;
    ``vicreg_umm``: ``pretrain/`` and ``umm/``, the union of what each read), each one's
    ``metadata.json`` telling whether it read the test images (:func:`_stage_read_test`), and
    ``data/manifest.csv``: every row they read (the ``data.unlabelled`` rows always, the test
    rows when read) whose hash is not a labelled training image's
    (:func:`drac_ssl.manifest.labelled_rows`). None for the ``scratch`` variant (never
    pretrained), when no stage's ``metadata.json`` is there, or when the manifest is missing or
    unreadable."""
    run_dir = Path(run_dir)
    stages = {"vicreg": ("pretrain",), "vicreg_umm": ("pretrain", "umm")}.get(variant)
    if stages is None:
        return None
    read = {stage: meta for stage in stages if (meta := read_json_dict(run_dir / stage / "metadata.json"))}
    if not read:
        return None
    try:
        rows = read_manifest(Path(run_dir) / "data" / MANIFEST_FILE, ("grade", "split", "fold", "sha256"))
    except (OSError, ValueError, KeyError):
        return None
    test_read = any(_stage_read_test(meta) for meta in read.values())
    trained = {str(r.get("sha256") or "").strip().lower()[:HASH_HEX] for r in labelled_rows(rows)}
    pool = [r for r in rows if r.get("split") == "unlabelled" or (test_read and r.get("split") == "test")]
    digests = [d for r in pool if (d := str(r.get("sha256") or "").strip().lower()) and d[:HASH_HEX] not in trained]
    initial = str((read.get("pretrain") or {}).get("initial_weights") or "")
    return pretraining_images_record(
        digests, stages=", then ".join({"pretrain": "VICReg", "umm": "UMM"}[s] for s in read),
        test=sum(1 for r in pool if r.get("split") == "test"),
        unlabelled=sum(1 for r in pool if r.get("split") == "unlabelled"),
        test_read=test_read, initial_weights=initial)


def pretraining_hashes(metadata: Mapping[str, Any]) -> set[str] | None:
    """The set of pretraining-image hash prefixes of a bundle's ``metadata``
    (:func:`pretraining_images_record`, :data:`HASH_HEX` hex digits each); the empty set for
    the ``scratch`` variant (its backbone was never pretrained); None when the bundle records
    none (built before the list, or an entry that is not this format)."""
    if metadata.get("variant") == "scratch":
        return set()
    record = metadata.get(PRETRAINING_IMAGES_KEY)
    if not isinstance(record, Mapping) or record.get("sha256_prefix_hex") != HASH_HEX:
        return None
    text = record.get("sha256_prefixes")
    return set(text.split()) if isinstance(text, str) else None


def pretraining_images_line(n_pretrained: int, n_images: int, stages: str = "",
                            unlabelled_pool: bool = False) -> str:
    """``"2 of 5 scored images were among those the self-supervised pretraining (VICReg) of
    this model's backbone read, without their grades (same SHA-256): the figures are
    transductive, not a clean held-out test figure; for a clean one, train again with
    pretrain.use_test_images=false"``; "" for ``n_pretrained`` 0. ``stages``: the stages that
    pretrained (:func:`pretraining_images_record`'s); ``unlabelled_pool``: the pretraining read
    ``data.unlabelled`` images too (the fix then also names them)."""
    if n_pretrained <= 0:
        return ""
    verb = "was" if n_pretrained == 1 else "were"
    which = f" ({stages})" if stages else ""
    pool = " and without these images in data.unlabelled" if unlabelled_pool else ""
    return (f"{n_pretrained} of {n_images} scored images {verb} among those the self-supervised "
            f"pretraining{which} of this model's backbone read, without their grades (same SHA-256): "
            f"the figures are transductive, not a clean held-out test figure; for a clean one, "
            f"train again with {CLEAN_TEST_FIX}{pool}")


def file_prefix(path: str | os.PathLike[str]) -> str:
    """The first :data:`HASH_HEX` hex digits of the SHA-256 of the file ``path``'s bytes;
    OSError when it cannot be read."""
    return sha256_file(path)[:HASH_HEX]


def training_images_line(n_trained: int, n_images: int) -> str:
    """``"2 of 5 images were used to train this model (same SHA-256): scores on them are not a
    test"``; "" for ``n_trained`` 0."""
    if n_trained <= 0:
        return ""
    verb = "was" if n_trained == 1 else "were"
    return (f"{n_trained} of {n_images} images {verb} used to train this model (same SHA-256): "
            f"scores on them are not a test")


TRAINING_IMAGE_NOTE = (f"{TRAINING_IMAGE}: this file is one of the images this model was trained on "
                       f"(same SHA-256), so its grade is no test of the model.")
"""The app's note on an upload whose hash is among the bundle's training images
(:meth:`app.predict.Predictor.training_image`); a plain note
(:func:`drac_ssl.grading.image_notes.is_plain_note`), said as "Note: ..." on the page and in
the batch's notes column."""
