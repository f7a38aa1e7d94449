"""The ungraded pool (``data.unlabelled``) against the test images: a copy of a test image
in another file (a PNG re-save, a PNG of a MedMNIST ``.npz`` row) is left out of the pool, so
that ``pretrain.use_test_images=false`` keeps every test picture out of the pretraining, and
the pretraining's words say what was left out (a trial user's review: 400 copies of test
images pretrained on under 'test images left out')."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from test_ingest import config, make_plain, smooth_image, write_png

from data_prep import ingest
from data_prep.near_duplicates import comparison_rows, nearest_neighbours, twins_across
from drac_ssl.pretrain import held_out_words


def _pool_rows(out: Path) -> list[dict[str, str]]:
    with open(out / ingest.MANIFEST_NAME, newline="", encoding="utf-8") as fh:
        return [r for r in csv.DictReader(fh) if r["split"] == "unlabelled"]


def test_a_png_resave_of_a_test_image_in_the_pool_is_left_out(tmp_path: Path) -> None:
    root = make_plain(tmp_path / "d", {f"{i:03d}.png": i % 2 for i in range(1, 7)}, test=("t1.png",))
    pool = tmp_path / "pool"
    pixels = cv2.imread(str(root / "test" / "t1.png"), cv2.IMREAD_UNCHANGED)
    # the same pixels in other bytes: another compression level
    pool.mkdir()
    assert cv2.imwrite(str(pool / "resaved.png"), pixels, [cv2.IMWRITE_PNG_COMPRESSION, 0])
    assert (pool / "resaved.png").read_bytes() != (root / "test" / "t1.png").read_bytes()
    write_png(pool / "own.png", smooth_image(700))
    out = tmp_path / "out"
    result = ingest.run(config(root, unlabelled=[str(pool)]), out, verbose=False)
    assert [r["id"] for r in _pool_rows(out)] == ["pool/own.png"]
    (said,) = [n for n in result.notes if "left out" in n and "test image" in n]
    assert "1 image of the --unlabelled folders left out: the same picture as a test image" in said
    assert f"{pool / 'resaved.png'} = {root / 'test' / 't1.png'}, same pixels" in said
    summary = json.loads((out / ingest.SUMMARY_NAME).read_text())
    assert summary["unlabelled_copies"] == ["../pool/resaved.png"]


def _npz_and_pool(tmp_path: Path, seed: int) -> tuple[np.random.Generator, np.ndarray, Path, Path]:
    """A tiny npz data set (6 training rows, test rows 6 and 7 of ``images``) and an empty pool
    folder beside it: (the generator drawn from, images, the npz, the pool)."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (8, 28, 28, 3), dtype=np.uint8)
    npz = tmp_path / "tiny.npz"
    labels = (np.arange(8) % 2).reshape(-1, 1).astype(np.uint8)
    np.savez(npz, train_images=images[:6], train_labels=labels[:6], test_images=images[6:],
             test_labels=labels[6:])
    pool = tmp_path / "pool"
    pool.mkdir()
    return rng, images, npz, pool


def test_a_pool_png_of_an_npz_row_is_left_out(tmp_path: Path) -> None:
    rng, images, npz, pool = _npz_and_pool(tmp_path, 3)
    Image.fromarray(images[7]).save(pool / "test_row.png")  # a test row
    Image.fromarray(images[0]).save(pool / "train_row.png")  # a training row
    Image.fromarray(rng.integers(0, 256, (28, 28, 3), dtype=np.uint8)).save(pool / "new.png")
    out = tmp_path / "out"
    result = ingest.run(config(npz, cache_sizes=[16], unlabelled=[str(pool)]), out, verbose=False)
    assert [r["id"] for r in _pool_rows(out)] == ["pool/new.png"]
    (of_test,) = [n for n in result.notes if "as a test image" in n]
    assert f"{pool / 'test_row.png'} = {npz}:test_images[1], same pixels" in of_test
    (of_train,) = [n for n in result.notes if "as a training or an earlier" in n]
    assert "train_row.png" in of_train


def test_the_note_of_pool_copies_of_test_images_comes_before_the_other_copies(tmp_path: Path) -> None:
    """The leak a reader must see first: the note of pool copies of test images is said before
    the note of copies of training images, in the printed notes and ingest_summary.json's,
    whatever the pool's file order (a mutation audit M1: the notes' order swapped lived)."""
    _, images, npz, pool = _npz_and_pool(tmp_path, 4)
    Image.fromarray(images[0]).save(pool / "a_train_row.png")  # first in the pool, a training row
    Image.fromarray(images[7]).save(pool / "z_test_row.png")  # last, a test row
    out = tmp_path / "out"
    result = ingest.run(config(npz, cache_sizes=[16], unlabelled=[str(pool)]), out, verbose=False)
    copies = [n for n in result.notes if "--unlabelled folders left out" in n]
    assert len(copies) == 2 and "as a test image" in copies[0] and "as a training or an earlier" in copies[1]
    summary = json.loads((out / ingest.SUMMARY_NAME).read_text())
    assert [n for n in summary["notes"] if "--unlabelled folders left out" in n] == copies
    assert sorted(summary["unlabelled_copies"]) == ["pool/a_train_row.png", "pool/z_test_row.png"]


def test_the_pretraining_words_say_what_use_test_images_false_left_out() -> None:
    assert held_out_words(400, 0, 0, {}) == "400 test images left out: pretrain.use_test_images=false"
    assert "; 3 ungraded copies of them too" in held_out_words(400, 3, 5, {"near_duplicates": {"mse": 1e-4}})
    near = held_out_words(400, 0, 5, {"near_duplicates": {"mse": 1e-4}, "unlabelled_near_test": ["a", "b"]})
    assert "but 2 ungraded images are near copies of test images, kept" in near
    assert "not near copies (a re-encoding, a resize): data.near_duplicate_mse=0" in held_out_words(
        400, 0, 5, {"near_duplicates": None})


def test_an_older_ingest_with_near_duplicates_on_did_not_look_for_pool_near_copies() -> None:
    # review F3: its summary has near_duplicates but no unlabelled_near_test (the pool was
    # compared with the training images only); an empty list means looked for, none found
    older = held_out_words(400, 0, 5, {"near_duplicates": {"mse": 1e-4}})
    assert "did not look for near copies (a re-encoding, a resize) among the ungraded images" in older
    assert "ingest again" in older
    looked = held_out_words(400, 0, 5, {"near_duplicates": {"mse": 1e-4}, "unlabelled_near_test": []})
    assert looked == "400 test images left out: pretrain.use_test_images=false"
    assert held_out_words(400, 0, 0, {"near_duplicates": {"mse": 1e-4}}) == looked  # no pool


def test_a_near_copy_of_a_test_image_in_the_pool_is_warned_of_and_recorded(tmp_path: Path) -> None:
    root = make_plain(tmp_path / "d", {f"{i:03d}.png": i % 2 for i in range(1, 7)}, test=("t1.png",))
    pool = tmp_path / "pool"
    near = cv2.imread(str(root / "test" / "t1.png"), cv2.IMREAD_UNCHANGED).astype(np.int16)
    near[::7, ::5] += 3  # not the same pixels, a near copy
    write_png(pool / "near.png", np.clip(near, 0, 255).astype(np.uint8))
    write_png(pool / "own.png", smooth_image(700))
    out = tmp_path / "out"
    result = ingest.run(config(root, unlabelled=[str(pool)], near_duplicate_mse=1e-4), out, verbose=False)
    assert [r["id"] for r in _pool_rows(out)] == ["pool/near.png", "pool/own.png"]  # kept
    (said,) = [w for w in result.warnings if "near twin of test images" in w]
    assert f"1 image of the unlabelled pool is a near twin of test images below --near-duplicate-mse 0.0001 " \
           f"(e.g. {pool / 'near.png'} ~ {root / 'test' / 't1.png'}" in said
    assert "sees the test pictures even with pretrain.use_test_images=false" in said
    summary = json.loads((out / ingest.SUMMARY_NAME).read_text())
    assert summary["unlabelled_near_test"] == ["../pool/near.png"]
    assert "1 ungraded image is a near copy of test images" in held_out_words(1, 0, 2, summary)


def test_a_pool_image_exactly_at_the_threshold_from_a_test_image_is_no_near_twin(tmp_path: Path) -> None:
    """data.near_duplicate_mse is a bound a near twin is strictly below (docs/configuration.md
    "below this", the warning's "below --near-duplicate-mse"): a pool image at exactly that
    distance from a test image is neither warned of nor recorded, one a float above is (a
    mutation audit M5: <= for < lived). The distance is the package's own of the cached rows."""
    root = tmp_path / "d"
    for i in range(6):
        write_png(root / f"{i:03d}.png", smooth_image(i, side=256))
    write_png(root / "test" / "t1.png", smooth_image(1000, side=256))
    (root / "labels.csv").write_text("image name,DR grade\n" + "".join(f"{i:03d}.png,{i % 2}\n" for i in range(6)))
    near = smooth_image(1000, side=256).astype(np.int16)
    near[::7, ::5] += 3
    write_png(tmp_path / "pool" / "near.png", np.clip(near, 0, 255).astype(np.uint8))
    out = tmp_path / "out"
    ingest.run(config(root, unlabelled=[str(tmp_path / "pool")], near_duplicate_mse=1e-4), out, verbose=False)
    assert json.loads((out / ingest.SUMMARY_NAME).read_text())["unlabelled_near_test"] == ["../pool/near.png"]
    with open(out / ingest.MANIFEST_NAME, newline="", encoding="utf-8") as fh:
        split = [r["split"] for r in csv.DictReader(fh)]
    cached = np.load(out / ingest.CACHE_DIR / "64px.npy")
    _, (mse,) = nearest_neighbours(comparison_rows(cached[[split.index("unlabelled")]]),
                                   comparison_rows(cached[[split.index("test")]]))
    assert 0 < mse < 1e-4
    for threshold, recorded in ((float(mse), []), (float(np.nextafter(mse, 1.0)), ["../pool/near.png"])):
        result = ingest.run(config(root, unlabelled=[str(tmp_path / "pool")], near_duplicate_mse=threshold),
                            out, verbose=False)
        assert json.loads((out / ingest.SUMMARY_NAME).read_text())["unlabelled_near_test"] == recorded
        assert bool([w for w in result.warnings if "near twin of test images" in w]) == bool(recorded)


def test_each_pool_folder_is_counted_in_the_summary_and_the_report(tmp_path: Path) -> None:
    """report.md's Data section gave the pool's total alone: each folder now gets a line of
    its kept images, copies left out and skipped entries (ingest_summary.json's
    unlabelled_folders)."""
    from drac_ssl.report import pool_lines

    root = make_plain(tmp_path / "d", {f"{i:03d}.png": i % 2 for i in range(1, 7)}, test=("t1.png",))
    one, two = tmp_path / "one", tmp_path / "two"
    write_png(one / "a.png", smooth_image(700))
    write_png(one / "b.png", smooth_image(701))
    write_png(one / "sub" / "c.png", smooth_image(702))  # a subfolder: skipped
    write_png(two / "again.png", smooth_image(700))  # a copy of one/a.png
    write_png(two / "d.png", smooth_image(703))
    out = tmp_path / "out"
    ingest.run(config(root, unlabelled=[str(one), str(two)]), out, verbose=False)
    summary = json.loads((out / ingest.SUMMARY_NAME).read_text())
    assert summary["unlabelled_folders"] == [{"dir": str(one), "kept": 2, "copies": 0, "skipped": 1},
                                             {"dir": str(two), "kept": 1, "copies": 1, "skipped": 0}]
    assert pool_lines(3, summary) == [
        "- ungraded images for pretraining and UMM only (data.unlabelled): 3",
        f"  - `{one}`: 2 kept, 0 left out as copies of other images, 1 skipped (subfolders, hidden files)",
        f"  - `{two}`: 1 kept, 1 left out as copies of other images, 0 skipped (subfolders, hidden files)"]
    near = pool_lines(3, {**summary, "unlabelled_near_test": ["../one/a.png"]})[0]
    assert near.endswith(": 3; 1 of them is a near copy of test images (data.near_duplicate_mse; kept, "
                         "not provably the same picture, and pretrained on even with "
                         "pretrain.use_test_images=false)")


def test_a_pool_folder_given_twice_is_not_skipped_by_its_parent_pool_folder(tmp_path: Path) -> None:
    # review F4: the 'given twice' note of one/sub was counted as one more entry one skipped
    root = make_plain(tmp_path / "d", {f"{i:03d}.png": i % 2 for i in range(1, 7)})
    one = tmp_path / "one"
    write_png(one / "a.png", smooth_image(700))
    write_png(one / "sub" / "c.png", smooth_image(702))  # a subfolder of one, a pool folder too
    out = tmp_path / "out"
    ingest.run(config(root, unlabelled=[str(one), str(one / "sub"), f"{one / 'sub'}/"]), out, verbose=False)
    folders = json.loads((out / ingest.SUMMARY_NAME).read_text())["unlabelled_folders"]
    assert [(f["dir"], f["skipped"]) for f in folders] == [(str(one), 1), (str(one / "sub"), 0)]


def test_the_size_notes_judge_the_graded_images_and_the_pool_gets_its_own_advice(tmp_path: Path) -> None:
    """Pool images of other sizes made 'images of 2 sizes ... check that each grade is spread
    over them' of the graded folder, and each pool thumbnail was told to 'remove its row from
    the label CSV' (it has none): the graded images alone are judged, and the pool's
    thumbnails get one warning with a pool fix."""
    root = make_plain(tmp_path / "d", {f"{i:03d}.png": i % 2 for i in range(1, 7)}, test=("t1.png",))
    pool = tmp_path / "pool"
    for i in range(3):
        write_png(pool / f"small{i}.png", smooth_image(800 + i, side=40))
    write_png(pool / "big.png", smooth_image(810, side=512))
    result = ingest.run(config(root, unlabelled=[str(pool)]), tmp_path / "out", verbose=False)
    said = result.warnings + result.notes
    assert not [w for w in said if "sizes (" in w or "remove its row" in w], said
    (small,) = [w for w in result.warnings if "far smaller" in w]
    assert small.startswith(f"{pool}: 3 images of the unlabelled pool (data.unlabelled) are far smaller "
                            "than the graded images (typically 1024 px): pool/small0.png 40x40 px"), small
    assert "take them out of the --unlabelled folder" in small


def test_the_pool_meets_the_test_images_a_block_at_a_time_with_the_same_twins(monkeypatch) -> None:
    # review F1: the test rows were all kept (and concatenated) to compare the pool with them
    rng = np.random.default_rng(0)
    tests = rng.random((7, 12), dtype=np.float32)
    tests[5] = tests[1]  # a tie across blocks: the first test image is named, as argmin would
    pool = np.stack([tests[1] + 0.001, tests[6] - 0.002, rng.random(12, dtype=np.float32), tests[3]])
    asked: list[int] = []

    def rows_of(records, *_args):
        asked.append(len(records))
        return tests[list(records)]

    monkeypatch.setattr(ingest, "_comparison_rows", rows_of)
    entries = [type("E", (), {"record": i})() for i in range(len(tests))]
    found = ingest._nearest_test_twins(pool, entries, 2, 1e-4, 28, None, 1, None)
    q, r, mse = twins_across(pool, tests, 1e-4)
    assert found == [(int(a), int(b), float(c)) for a, b, c in zip(q, r, mse, strict=True)]
    assert [(a, b) for a, b, _ in found] == [(0, 1), (1, 6), (3, 3)]
    assert max(asked) == 2  # never more than one block of test rows at once
