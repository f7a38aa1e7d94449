"""The rule of one picture held twice (stdlib only): what makes an ungraded pool image a copy of
a test, training or earlier pool image, for the ingest (:func:`data_prep.ingest._pool_copies`,
which leaves such copies out of the pool) and the pretraining
(:func:`drac_ssl.pretrain._without_test_images`, which leaves a test image's copies out of an
older ingest's pool too): one rule, so that the two leave out the same images."""
from __future__ import annotations

__all__ = ["copy_keys"]


def copy_keys(sha256: str | None, pixels_sha256: str | None) -> list[str]:
    """The keys by which two images are one: the file's bytes (``b:`` its ``sha256``) and its
    decoded pixels (``p:`` its ``pixels_sha256``, :func:`data_prep.validate.pixels_sha256`: the
    same for a PNG re-save of a JPEG's decoded pixels, a PNG written from a MedMNIST ``.npz``
    row, or a grey image stored in three equal channels). Two images are copies when they share
    a key; a byte hash never meets a pixel hash. An empty or None digest (not recorded) gives
    no key. A MedMNIST row's ``sha256`` is that of the row's bytes, no file's: only its pixel
    hash can meet a file's."""
    return [key for key in (f"b:{sha256}" if sha256 else "",
                            f"p:{pixels_sha256}" if pixels_sha256 else "") if key]
