"""The ingest's decoded-pixel hash of each image (manifest ``pixels_sha256``): what tells a copy of
a training image in another file (a PNG written from a MedMNIST ``.npz`` row) at grading.

A trial (F8): a bundle trained on RetinaMNIST's ``.npz`` graded PNGs of its own val images as
external data and nothing said so: the manifest hashed each row's raw bytes, which no file shares.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from test_ingest import config, make_plain, read_manifest, smooth_image

from data_prep import cache, ingest
from data_prep.validate import inspect_image, pixels_sha256
from drac_ssl.manifest import PIXELS_COLUMN


def test_the_canonical_form_is_the_same_for_every_holder_of_the_pixels() -> None:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (9, 7, 3), dtype=np.uint8)
    grey = rgb[..., 1].copy()
    assert pixels_sha256(rgb) == pixels_sha256(np.asfortranarray(rgb))  # the layout in memory: no matter
    assert pixels_sha256(grey) == pixels_sha256(grey[..., None]) == pixels_sha256(np.repeat(grey[..., None], 3, 2))
    assert pixels_sha256(grey) != pixels_sha256(rgb)
    assert pixels_sha256(grey) != pixels_sha256(grey.reshape(7, 9))  # the shape is hashed too
    almost = np.repeat(grey[..., None], 3, 2)
    almost[8, 6, 2] ^= 1  # one value off, away from the sparse grid: colour
    assert pixels_sha256(almost) != pixels_sha256(grey)
    with pytest.raises(ValueError, match="uint8"):
        pixels_sha256(grey.astype(np.uint16))


def test_a_png_of_an_npz_row_has_the_rows_pixel_hash_in_the_manifest(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (6, 28, 28, 3), dtype=np.uint8)
    images[0] = np.repeat(images[0, ..., :1], 3, axis=2)  # a grey picture in three channels
    npz = tmp_path / "tiny.npz"
    np.savez(npz, train_images=images, train_labels=(np.arange(6) % 3).reshape(-1, 1).astype(np.uint8))
    ingest.run(config(npz, cache_sizes=[16], fundus_crop=True), tmp_path / "out", verbose=False)
    rows = read_manifest(tmp_path / "out" / ingest.MANIFEST_NAME)
    assert list(rows[0]) == list(ingest.WRITTEN_COLUMNS) and PIXELS_COLUMN in rows[0]
    for i, row in enumerate(rows):
        png = tmp_path / f"row{i}.png"
        Image.fromarray(images[i]).save(png)
        decoded = inspect_image(png.read_bytes(), str(png), channels=None).pixels
        assert decoded is not None and row[PIXELS_COLUMN] == pixels_sha256(decoded)  # not the crop's
        assert row["sha256"] != row[PIXELS_COLUMN]  # the row's bytes: what no file shares
    assert len({r[PIXELS_COLUMN] for r in rows}) == 6


def test_files_get_it_once_while_decoding_and_a_reused_file_keeps_it(tmp_path: Path) -> None:
    data = make_plain(tmp_path / "d", {f"{i:03d}.png": i % 3 for i in range(1, 7)})
    out = tmp_path / "out"
    ingest.run(config(data), out, verbose=False)
    rows = {r["id"]: r for r in read_manifest(out / ingest.MANIFEST_NAME)}
    assert rows["001.png"][PIXELS_COLUMN] == pixels_sha256(smooth_image(0))
    # the same picture in another format has the same pixel hash, another file hash
    tiff = tmp_path / "copy.tif"
    assert cv2.imwrite(str(tiff), smooth_image(0))
    copy = inspect_image(tiff.read_bytes(), str(tiff)).pixels
    assert copy is not None and pixels_sha256(copy) == rows["001.png"][PIXELS_COLUMN]
    state = json.loads((out / "cache" / cache.STATE_NAME).read_text())
    assert state["version"] == cache.STATE_VERSION >= 6
    assert state["files"]["001.png"]["pixels_sha256"] == rows["001.png"][PIXELS_COLUMN]
    ingest.run(config(data), out, verbose=False)  # nothing changed: every file reused
    again = {r["id"]: r for r in read_manifest(out / ingest.MANIFEST_NAME)}
    assert again == rows
    # a cache state of the version before: rebuilt, so that no reused row lacks its hash
    state["version"] = 5
    for entry in state["files"].values():
        del entry["pixels_sha256"]
    (out / "cache" / cache.STATE_NAME).write_text(json.dumps(state))
    assert cache.load_state(out / "cache", data.absolute(), [64]).reason.startswith("cache of an older version")


def _without_pixels_column(manifest: Path) -> list[dict[str, str]]:
    """Rewrite ``manifest`` as an ingest made before the ``pixels_sha256`` column wrote it; its rows as they were."""
    import csv

    with open(manifest, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    with open(manifest, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, [c for c in rows[0] if c != PIXELS_COLUMN], lineterminator="\n",
                                extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return rows


@pytest.mark.parametrize("held", ["npz", "files"])
def test_a_bundle_from_a_manifest_without_the_column_hashes_the_training_images_itself(
        tmp_path: Path, held: str) -> None:
    """Review F4: a run made before the column (or one whose run.reuse took such an ingest) built
    bundles with file hashes only, and the note told the user to ingest again, which run.reuse
    undoes. The bundle now hashes the decoded pixels of its training images itself, from the .npz
    rows or the files, each held to the manifest's sha256, the same hashes the ingest writes; an
    image gone since leaves the file hashes only, and the note says without run.reuse."""
    from drac_ssl.grading.bundle import training_images_of
    from drac_ssl.grading.training_images import (
        PIXELS_CHECK_NEEDS_INGEST,
        TRAINING_IMAGES_KEY,
        ingest_pixel_digests,
        training_pixel_hashes,
    )

    if held == "npz":
        rng = np.random.default_rng(1)
        images = rng.integers(0, 256, (8, 28, 28, 3), dtype=np.uint8)
        images[0] = np.repeat(images[0, ..., :1], 3, axis=2)
        root = tmp_path / "tiny.npz"
        np.savez(root, train_images=images, train_labels=(np.arange(8) % 3).reshape(-1, 1).astype(np.uint8))
    else:
        root = make_plain(tmp_path / "d", {f"{i:03d}.png": i % 3 for i in range(1, 9)})
    out = tmp_path / "out"
    ingest.run(config(root, cache_sizes=[16]), out, verbose=False)
    new = training_images_of(out)
    assert new is not None and new["pixels_images"] >= 6
    rows = _without_pixels_column(out / ingest.MANIFEST_NAME)
    assert PIXELS_COLUMN not in read_manifest(out / ingest.MANIFEST_NAME)[0]
    assert ingest_pixel_digests(out, rows) == [r[PIXELS_COLUMN] for r in rows]
    assert training_images_of(out) == new  # the same record as from the column
    # an image gone since the ingest: the file hashes alone, and the note says how to get both
    if held == "npz":
        np.savez(root, train_images=images[:4], train_labels=(np.arange(4) % 3).reshape(-1, 1).astype(np.uint8))
    else:
        (root / rows[-1]["path"]).unlink()
    assert ingest_pixel_digests(out, rows) is None
    old = training_images_of(out)
    assert old is not None and old["sha256_prefixes"] == new["sha256_prefixes"]
    assert training_pixel_hashes({TRAINING_IMAGES_KEY: old}) is None
    assert "without run.reuse" in PIXELS_CHECK_NEEDS_INGEST


@pytest.mark.parametrize(("shape", "channels"), [((6, 20, 20, 1), "auto"), ((6, 20, 20), "auto"),
                                                  ((6, 20, 20, 3), "1")])
def test_the_ingest_and_a_bundle_decode_an_npz_row_with_one_function(
        tmp_path: Path, shape: tuple[int, ...], channels: str) -> None:
    """A final read, D3: the row handling of the ingest (cache.process_array_rows) was copied into
    the bundle's pixel hashes of an older manifest (training_images.ingest_pixel_digests) and the
    export's check of a row's sha256; all use validate.array_row_pixels / array_row_image now. A
    (H, W, 1) row, a (H, W) row and colour rows ingested as grey get the same hashes both ways."""
    from data_prep.validate import array_row_image, array_row_pixels, sha256_of
    from drac_ssl.grading.training_images import ingest_pixel_digests

    images = np.random.default_rng(2).integers(0, 256, shape, dtype=np.uint8)
    root = tmp_path / "tiny.npz"
    np.savez(root, train_images=images, train_labels=(np.arange(6) % 3).reshape(-1, 1).astype(np.uint8))
    out = tmp_path / "out"
    ingest.run(config(root, cache_sizes=[16], channels=channels), out, verbose=False)
    rows = read_manifest(out / ingest.MANIFEST_NAME)
    for row, image in zip(rows, images, strict=True):
        pixels = array_row_pixels(image)
        assert pixels.shape == ((20, 20, 3) if shape[-1] == 3 else (20, 20))  # (H, W, 1) read as grey
        assert row["sha256"] == sha256_of(pixels.tobytes())
        converted, _, colour = array_row_image(pixels, row["path"], 1 if channels == "1" else None)
        assert colour == (len(shape) == 4 and shape[3] == 3) and converted.ndim == 2
        assert row[PIXELS_COLUMN] == pixels_sha256(converted)
    assert ingest_pixel_digests(out, _without_pixels_column(out / ingest.MANIFEST_NAME)) == [
        r[PIXELS_COLUMN] for r in rows]


def test_one_pattern_names_an_array_row_for_the_ingest_the_export_and_the_bundle(tmp_path: Path) -> None:
    """``data_prep.validate.ARRAY_ROW`` (read) and ``array_row_path`` (written) are the one
    spelling of a ``.npz`` row's manifest path; the export reads a row of ``X.NPZ`` (the layout
    finds the suffix in any case; the export's own pattern of old took ``.npz`` only)."""
    from data_prep.validate import ARRAY_ROW, array_row_path
    from drac_ssl import export

    rel = array_row_path("RETINA.NPZ", "test_images", 3)
    match = ARRAY_ROW.match(rel)
    assert rel == "RETINA.NPZ:test_images[3]" and match is not None
    assert (match["file"], match["key"], match["index"]) == ("RETINA.NPZ", "test_images", "3")
    assert ARRAY_ROW.match("a:b.npz:train_images[12]")["file"] == "a:b.npz"  # type: ignore[index]
    assert ARRAY_ROW.match("x.npz:train_images") is None and ARRAY_ROW.match("x.png") is None
    rows = np.arange(4 * 5 * 6, dtype=np.uint8).reshape(4, 5, 6)
    with open(tmp_path / "RETINA.NPZ", "wb") as fh:  # a path would get ".npz" added
        np.savez(fh, test_images=rows)
    got = export._original_image(None, tmp_path, rel, {})  # type: ignore[arg-type]
    assert np.array_equal(got, rows[3])
    # the export's test of a manifest row as an array row reads the same pattern: X.NPZ rows too
    # (a review: _array_row still looked for ".npz:" in lower case)
    assert export._array_row({"path": rel}) and export._array_row({"path": "retina.npz:test_images[0]"})
    assert not export._array_row({"path": "test/1.png"}) and not export._array_row({"path": "x.npz:test_images"})
    assert export._check_folder(tmp_path, [{"path": rel}], tmp_path / "s.csv")[1].startswith(
        "the test images are rows of an array file")
