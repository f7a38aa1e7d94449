"""Which graded images trained the model: the bundle's compact list of its training images'
SHA-256 hashes (standard library only).

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
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from drac_ssl.grading.image_notes import TRAINING_IMAGE
from drac_ssl.io import sha256_file

__all__ = ["HASH_HEX", "TRAINING_IMAGES_KEY", "TRAINING_IMAGE_NOTE", "file_prefix", "training_hashes",
           "training_images_line", "training_images_record"]

TRAINING_IMAGES_KEY = "training_images"
"""The bundle ``metadata.json`` key of :func:`training_images_record`."""

HASH_HEX = 16
"""Hex digits of each SHA-256 kept (64 bits)."""


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
