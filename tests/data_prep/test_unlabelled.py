"""Tests of ``data.unlabelled`` (``--unlabelled``): folders of ungraded images that join the
self-supervised pool only (manifest split ``unlabelled``), validated like every image."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from test_ingest import SIZE, config, expect_error, make_plain, smooth_image, write_png

from data_prep import ingest
from data_prep.problems import as_config_keys
from data_prep.source_check import source_changes

GRADES = {f"{i:03d}.png": i % 3 for i in range(1, 7)}


def manifest(out: Path) -> list[dict[str, str]]:
    with open(out / ingest.MANIFEST_NAME, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_unlabelled_folders_join_the_pool_never_the_folds(tmp_path: Path) -> None:
    """Two folders (one sharing its name with... nothing, one holding a copy of a training
    image and of its own image): their images are cached with split 'unlabelled', no grade,
    no fold, an id FOLDER/NAME; the copies are left out with one note; the counts, the
    summary and the printed table say how many."""
    root = make_plain(tmp_path / "d", GRADES, test=("t1.png",))
    task1 = tmp_path / "task1"
    for i in range(3):
        write_png(task1 / f"{i + 1}.png", smooth_image(500 + i))
    task2 = tmp_path / "task2"
    write_png(task2 / "001.png", smooth_image(600))  # a training image's name, another image
    shutil.copy(root / "002.png", task2 / "copy_of_002.png")  # the same bytes as a training image
    shutil.copy(task1 / "1.png", task2 / "again.png")  # the same bytes as a pool image
    out = tmp_path / "out"
    result = ingest.run(config(root, unlabelled=[str(task1), str(task2)]), out, verbose=False)

    rows = manifest(out)
    pool = [r for r in rows if r["split"] == "unlabelled"]
    assert [r["id"] for r in pool] == ["task1/1.png", "task1/2.png", "task1/3.png", "task2/001.png"]
    assert all(r["grade"] == "" and r["fold"] == "-1" and r["origin"] == "unlabelled" for r in pool)
    assert len({r["id"] for r in rows}) == len(rows)  # no id collides with training 001.png
    assert {r["split"] for r in rows} == {"train", "test", "unlabelled"}
    assert [int(r["cache_index"]) for r in rows] == list(range(len(rows)))
    assert (result.n_train, result.n_test, result.n_unlabelled) == (6, 1, 4)
    assert sum(sum(g.values()) for g in result.counts_per_fold.values()) == 6  # folds: training only
    copies = [n for n in result.notes if "byte-identical" in n]
    assert len(copies) == 1 and "2 images of the --unlabelled folders left out" in copies[0], result.notes
    assert "copy_of_002.png" in copies[0] and "(train)" in copies[0]

    summary = json.loads((out / ingest.SUMMARY_NAME).read_text())
    assert summary["counts"]["per_split"] == {"train": 6, "test": 1, "unlabelled": 4}
    assert summary["n_images"] == 11
    assert summary["unlabelled_dirs"] == [str(task1), str(task2)]
    assert summary["cache"][str(SIZE)]["shape"][0] == 11
    import numpy as np
    assert np.load(out / "cache" / f"{SIZE}px.npy").shape[0] == 11
    assert "unlabelled" in ingest.format_summary(result)

    # a resume's data check knows the pool (and the copies it left out): nothing changed ...
    assert source_changes(out) == []
    assert sorted(summary["unlabelled_copies"]) == ["../task2/again.png", "../task2/copy_of_002.png"]
    # ... until an image is added to, or removed from, a pool folder
    write_png(task1 / "4.png", smooth_image(510))
    (task2 / "001.png").unlink()
    changes = source_changes(out)
    assert any("1 image added" in c and "task1/4.png" in c for c in changes), changes
    assert any("1 image removed" in c and "task2/001.png" in c for c in changes), changes

    # put back as it was: a rerun reuses every cached image of the manifest, the pool's too
    (task1 / "4.png").unlink()
    write_png(task2 / "001.png", smooth_image(600))
    again = ingest.run(config(root, unlabelled=[str(task1), str(task2)]), out, verbose=False)
    assert again.n_unlabelled == 4 and again.n_decoded == 0
    assert manifest(out) == rows


def test_a_bad_unlabelled_folder_or_file_is_an_error_with_its_fix(tmp_path: Path) -> None:
    """A missing folder, and a corrupt image in a pool folder, stop the ingest like any bad
    input (file, what, fix), said as the train command's setting there."""
    root = make_plain(tmp_path / "d", GRADES)
    missing = tmp_path / "nowhere"
    message = expect_error(config(root, unlabelled=[str(missing)]), tmp_path / "out",
                           f"{missing}: --unlabelled folder 1 of 1 does not exist -> point "
                           "--unlabelled at a folder of images without grades")
    assert "data.unlabelled at a folder" in as_config_keys(message)
    pool = tmp_path / "pool"
    write_png(pool / "ok.png", smooth_image(700))
    (pool / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    expect_error(config(root, unlabelled=[str(pool)]), tmp_path / "out", str(pool / "broken.png"))


def test_an_image_without_a_label_row_is_told_it_may_join_the_pool_and_that_works(tmp_path: Path) -> None:
    """A trial: an image with no row in the label CSV was told to get a row or leave the folder;
    its fix now names the third way, keeping it for the pretraining only: moved into a folder
    passed as --unlabelled, which the ingest then reads as the pool (no 'subfolder ignored,
    move its images up' note for that folder, which would undo it)."""
    root = make_plain(tmp_path / "d", GRADES)
    write_png(root / "P999_OD.png", smooth_image(900))
    message = expect_error(config(root), tmp_path / "out",
                           f"{root / 'P999_OD.png'}: image without label: no row for P999_OD.png in "
                           "labels.csv -> add a row with its grade or move the image out of the "
                           "folder; to keep it for the self-supervised pretraining only, without a "
                           "grade, move it into a folder passed as --unlabelled")
    assert "a folder passed as data.unlabelled" in as_config_keys(message)
    pool = root / "pretrain_only"
    pool.mkdir()
    (root / "P999_OD.png").rename(pool / "P999_OD.png")
    result = ingest.run(config(root, unlabelled=[str(pool)]), tmp_path / "out", verbose=False)
    assert (result.n_train, result.n_unlabelled) == (6, 1)
    assert [r["id"] for r in manifest(tmp_path / "out") if r["split"] == "unlabelled"] == [
        "pretrain_only/P999_OD.png"]
    assert not [n for n in result.notes if "subfolder ignored" in n], result.notes
    # a subfolder not passed as --unlabelled is still said
    other = root / "later"
    write_png(other / "x.png", smooth_image(901))
    again = ingest.run(config(root, unlabelled=[str(pool)]), tmp_path / "out2", verbose=False)
    assert [n for n in again.notes if "subfolder ignored" in n and str(other) in n], again.notes


def test_folders_sharing_a_name_get_distinct_ids(tmp_path: Path) -> None:
    root = make_plain(tmp_path / "d", GRADES)
    a, b = tmp_path / "a" / "images", tmp_path / "b" / "images"
    write_png(a / "1.png", smooth_image(800))
    write_png(b / "1.png", smooth_image(801))
    out = tmp_path / "out"
    ingest.run(config(root, unlabelled=[str(a), str(b)]), out, verbose=False)
    assert [r["id"] for r in manifest(out) if r["split"] == "unlabelled"] == ["1-images/1.png",
                                                                             "2-images/1.png"]


def test_the_ingest_command_takes_repeated_unlabelled_flags(tmp_path: Path) -> None:
    import argparse

    parser = argparse.ArgumentParser()
    ingest.add_arguments(parser)
    args = parser.parse_args(["--root", "r", "--out", "o", "--unlabelled", "x", "--unlabelled", "y"])
    assert ingest.config_from_args(args).unlabelled == ["x", "y"]
    assert ingest.config_from_args(parser.parse_args(["--root", "r", "--out", "o"])).unlabelled == []


@pytest.mark.parametrize("written", ["data.unlabelled=/a/task1", "data.unlabelled=[/a/task1,/b/task2]"])
def test_the_setting_reads_one_folder_or_a_list(written: str) -> None:
    from drac_ssl.config import load_config

    cfg = load_config(None, [written])
    assert cfg.data.unlabelled[0] == "/a/task1"


def test_the_labelled_images_decide_the_channels_not_the_pool(tmp_path: Path) -> None:
    """A review: one colour photograph in --unlabelled made a grey set's cache RGB (and its
    modality fundus) under --channels auto. The labelled and test images decide; a colour pool
    image is converted to grey with a warning."""
    import cv2
    import numpy as np

    root = make_plain(tmp_path / "d", GRADES)
    pool = tmp_path / "pool"
    colour = np.zeros((64, 64, 3), np.uint8)
    colour[..., 2] = 200  # red (OpenCV writes BGR)
    write_png(pool / "red.png", colour)
    out = tmp_path / "out"
    result = ingest.run(config(root, channels="auto", unlabelled=[str(pool)]), out, verbose=False)
    assert result.channels == 1
    summary = json.loads((out / ingest.SUMMARY_NAME).read_text())
    assert summary["modality"]["value"] == "octa"
    (warned,) = [w for w in result.warnings if "--unlabelled folders converted to grey" in w]
    assert "1 colour image" in warned and "red.png" in warned
    row = np.load(out / "cache" / f"{SIZE}px.npy")[-1]
    assert row.ndim == 2 and int(row.mean()) == int(cv2.cvtColor(np.full((1, 1, 3), (200, 0, 0), np.uint8),
                                                                 cv2.COLOR_RGB2GRAY)[0, 0])


def test_a_grey_cache_that_becomes_colour_decodes_the_pools_colour_images_again(tmp_path: Path) -> None:
    """A review: after the grey ingest above, a rerun with --channels 3 reused the pool image's
    grey row and replicated it, where a fresh ingest keeps its colour. Its colour comes back."""
    import numpy as np

    root = make_plain(tmp_path / "d", GRADES)
    pool = tmp_path / "pool"
    colour = np.zeros((64, 64, 3), np.uint8)
    colour[..., 2] = 200  # red (OpenCV writes BGR)
    write_png(pool / "red.png", colour)
    out, fresh = tmp_path / "out", tmp_path / "fresh"
    assert ingest.run(config(root, channels="auto", unlabelled=[str(pool)]), out, verbose=False).channels == 1
    again = ingest.run(config(root, channels="3", unlabelled=[str(pool)]), out, verbose=False)
    ingest.run(config(root, channels="3", unlabelled=[str(pool)]), fresh, verbose=False)
    rows = np.load(out / "cache" / f"{SIZE}px.npy")
    assert rows.shape[-1] == 3 and rows[-1, ..., 0].mean() > 150 and rows[-1, ..., 1].max() == 0  # red
    np.testing.assert_array_equal(rows, np.load(fresh / "cache" / f"{SIZE}px.npy"))
    assert again.n_decoded == 1  # the grey images' rows are reused (replicated), as fresh would make them


def test_a_resume_sees_no_change_for_left_out_rows_or_a_medmnist_pool(tmp_path: Path) -> None:
    """A review: rows left out as ungradable were 'added images' on every resume, and the pool
    of a MedMNIST .npz ingest was read from beside the .npz path as if it were a folder."""
    import numpy as np

    root = make_plain(tmp_path / "d", GRADES)
    with open(root / "labels.csv", "a", encoding="utf-8") as fh:
        fh.write("ungraded.png,\n")
    write_png(root / "ungraded.png", smooth_image(900))
    out = tmp_path / "out"
    ingest.run(config(root, ungradable="leave_out"), out, verbose=False)
    assert source_changes(out) == []

    npz = tmp_path / "m" / "tiny.npz"
    npz.parent.mkdir()
    rng = np.random.default_rng(0)
    np.savez(npz, train_images=rng.integers(0, 255, (10, 28, 28, 3), dtype=np.uint8),
             train_labels=(np.arange(10) % 2).reshape(-1, 1),
             test_images=rng.integers(0, 255, (2, 28, 28, 3), dtype=np.uint8))
    pool = tmp_path / "pool"
    for i in range(3):
        write_png(pool / f"{i}.png", smooth_image(950 + i, side=28))
    out = tmp_path / "out_npz"
    ingest.run(config(npz, layout="medmnist", cache_sizes=[28], grades=["a", "b"],
                      unlabelled=[str(pool)]), out, verbose=False)
    assert [r["path"] for r in manifest(out) if r["split"] == "unlabelled"] == \
        ["../pool/0.png", "../pool/1.png", "../pool/2.png"]
    assert source_changes(out) == []
    write_png(pool / "3.png", smooth_image(960, side=28))
    assert any("1 image added" in c for c in source_changes(out))


def test_an_ingest_that_drops_the_earlier_pool_says_so(tmp_path: Path) -> None:
    """A trial ingested with --unlabelled, then reran into the same folder without it (the
    train command's settings lacked data.unlabelled): the pool's images left without a word."""
    root = make_plain(tmp_path / "d", GRADES)
    pool = tmp_path / "clinic"
    for i in range(3):
        write_png(pool / f"{i}.png", smooth_image(970 + i))
    out = tmp_path / "out"
    ingest.run(config(root, unlabelled=[str(pool)]), out, verbose=False)
    kept = ingest.run(config(root, unlabelled=[str(pool)]), out, verbose=False)
    assert not [w for w in kept.warnings if "earlier ingest" in w]
    dropped = ingest.run(config(root), out, verbose=False)
    (line,) = [w for w in dropped.warnings if "earlier ingest" in w]
    assert f"pooled 3 ungraded image(s) from --unlabelled {pool}; these settings leave out {pool}" in line
    assert f"add --unlabelled {pool} to keep it" in line
    assert "data.unlabelled" in as_config_keys(line)


def test_a_root_one_level_too_high_is_no_images_even_with_an_unlabelled_folder(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A review: ``ingest --root study --unlabelled unl`` (``study/`` holding ``labels.csv``
    and ``images/``) exited 0 with 0 training images, the 10 label rows never reported. The
    unlabelled images are no training images: the likely root is said, exit 2; a missing
    unlabelled folder is said beside it."""
    from data_prep.__main__ import main

    study = tmp_path / "study"
    for i in range(10):
        write_png(study / "images" / f"{i:03d}.png", smooth_image(i, 64))
    (study / "labels.csv").write_text("image name,DR grade\n" + "".join(
        f"{i:03d}.png,{i % 3}\n" for i in range(10)))
    unl = tmp_path / "unl"
    for i in range(3):
        write_png(unl / f"u{i}.png", smooth_image(100 + i, 64))
    assert main(["ingest", "--root", str(study), "--unlabelled", str(unl),
                 "--out", str(tmp_path / "out"), "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert f"did you mean --root {study / 'images'}" in err, err
    missing = tmp_path / "missing"
    assert main(["ingest", "--root", str(study), "--unlabelled", str(missing),
                 "--out", str(tmp_path / "out2"), "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert f"did you mean --root {study / 'images'}" in err and str(missing) in err, err
