"""Loaders of drac_ssl.datasets: real data (tests/helpers/shared_data.py) when present, tiny fakes
built in tmp_path otherwise (archive, ImageFolder tree, IDX files, ingest RUN_DATA)."""

from __future__ import annotations

import csv
import gzip
import io
import os
import struct
import tarfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from shared_data import SHARED_DATA, needs

from drac_ssl import datasets as ds
from drac_ssl.datasets import (
    CIFAR10_CLASSES,
    CIFAR10_MEAN,
    CIFAR10_STD,
    MNIST_MEAN,
    OCTA_MEAN,
    OCTA_STD,
    ArrayDataset,
    DatasetFormatError,
    load_cifar10,
    load_fashion_mnist,
    load_generic,
    load_mnist,
    load_octa_cache,
    normalization_for,
    read_idx,
)
from drac_ssl.manifest import REQUIRED_COLUMNS

DATA = SHARED_DATA


# --------------------------------------------------------------------------------------
# helpers


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array as an IDX file (gzipped when the name ends with .gz)."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    data = header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)


def jpeg_bytes(rgb: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return buf.tobytes()


def fake_cifar_files(rng: np.random.Generator, per_class: int = 2) -> dict[str, bytes]:
    """{'train/<class>/NNNN.jpg': jpeg bytes, 'test/...': ...} for 3 classes (out of order)."""
    files: dict[str, bytes] = {}
    for split in ("train", "test"):
        for cls in ("truck", "airplane", "cat"):  # deliberately not in label order
            for k in range(per_class):
                image = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
                files[f"{split}/{cls}/{k:04d}.jpg"] = jpeg_bytes(image)
    return files


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def write_tar_xz(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:xz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


# --------------------------------------------------------------------------------------
# real data


@needs(DATA / "mnist" / "t10k-images-idx3-ubyte.gz", "the real MNIST test split")
def test_mnist_test_split_npz_equals_idx() -> None:
    test = load_mnist(DATA / "mnist", "test")
    assert len(test) == 10000 and test.images.shape == (10000, 28, 28)
    assert test.images.dtype == np.uint8 and test.labels is not None
    assert test.labels.dtype == np.int64 and set(np.unique(test.labels)) == set(range(10))
    assert test.channels == 1 and test.class_names == [str(d) for d in range(10)]
    idx_images = read_idx(DATA / "mnist" / "t10k-images-idx3-ubyte.gz")
    idx_labels = read_idx(DATA / "mnist" / "t10k-labels-idx1-ubyte.gz")
    np.testing.assert_array_equal(test.images, idx_images)
    np.testing.assert_array_equal(test.labels, idx_labels)


@needs(DATA / "mnist", "the real MNIST")
def test_mnist_train_uses_the_10k_subset_when_that_is_all_there_is() -> None:
    train = load_mnist(DATA / "mnist", "train")
    assert len(train) == 10000 and train.name == "mnist-train10k"


@needs(DATA / "fashion_mnist", "the real Fashion-MNIST")
def test_fashion_mnist_train_real() -> None:
    train = load_fashion_mnist(DATA / "fashion_mnist", "train")
    assert train.images.shape == (60000, 28, 28)
    assert train.labels is not None and np.bincount(train.labels).tolist() == [6000] * 10
    assert train.class_names[0] == "T-shirt/top" and train.class_names[9] == "Ankle boot"


@needs(DATA / "drac_samples", "the real DRAC samples")
def test_octa_normalisation_constants_match_the_real_samples() -> None:
    paths = sorted((DATA / "drac_samples").glob("sample_*.png"))
    assert len(paths) == 3
    pixels = np.stack([cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in paths]) / 255.0
    assert abs(pixels.mean() - OCTA_MEAN[0]) < 1e-3
    assert abs(pixels.std() - OCTA_STD[0]) < 1e-3


@needs(DATA / "cifar10" / "cifar10_jpeg.tar.xz", "the real CIFAR-10 archive")
def test_cifar10_image_folder_from_real_archive_members(tmp_path: Path) -> None:
    """A few real JPEGs (the archive's first members, no full decode) as an ImageFolder."""
    files: dict[str, bytes] = {}
    with tarfile.open(DATA / "cifar10" / "cifar10_jpeg.tar.xz", "r:xz") as tar:
        for member in tar:
            if member.isfile() and member.name.endswith(".jpg"):
                fh = tar.extractfile(member)
                assert fh is not None
                parts = member.name.split("/")[-3:]
                files["test/" + "/".join(parts[1:])] = fh.read()
            if len(files) == 6:
                break
    root = write_tree(tmp_path / "cifar", files)
    data = load_cifar10(root, "test")
    assert data.images.shape == (6, 32, 32, 3) and data.images.dtype == np.uint8
    assert data.class_names == CIFAR10_CLASSES
    assert 40 < data.images.mean() < 220  # real photos, decoded


# --------------------------------------------------------------------------------------
# IDX and MNIST-style folders


def test_idx_round_trip_raw_and_gz(tmp_path: Path) -> None:
    images = np.random.default_rng(0).integers(0, 256, (5, 4, 3), dtype=np.uint8)
    for name in ("a-idx3-ubyte", "a-idx3-ubyte.gz"):
        write_idx(tmp_path / name, images)
        np.testing.assert_array_equal(read_idx(tmp_path / name), images)


def test_idx_bad_magic_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "t10k-images-idx3-ubyte"
    bad.write_bytes(b"\x12\x34\x08\x03" + bytes(100))
    with pytest.raises(DatasetFormatError, match="bad IDX magic number 12340803"):
        read_idx(bad)


def test_idx_truncated_and_not_gzip_are_clear_errors(tmp_path: Path) -> None:
    short = tmp_path / "short-idx1-ubyte"
    short.write_bytes(bytes([0, 0, 8, 1]) + struct.pack(">I", 10) + bytes(3))
    with pytest.raises(DatasetFormatError, match="truncated"):
        read_idx(short)
    fake_gz = tmp_path / "x-idx1-ubyte.gz"
    fake_gz.write_bytes(b"not gzip at all")
    with pytest.raises(DatasetFormatError, match="cannot decompress"):
        read_idx(fake_gz)


def test_mnist_and_fashion_from_idx_folder(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (7, 28, 28), dtype=np.uint8)
    labels = np.arange(7, dtype=np.uint8)
    raw = tmp_path / "FashionMNIST" / "raw"  # torchvision's layout
    raw.mkdir(parents=True)
    write_idx(raw / "t10k-images-idx3-ubyte", images)
    write_idx(raw / "t10k-labels-idx1-ubyte.gz", labels)
    fashion = load_fashion_mnist(tmp_path, "test")
    np.testing.assert_array_equal(fashion.images, images)
    assert fashion.labels is not None and fashion.labels.dtype == np.int64
    assert load_generic("fashion_mnist", tmp_path, "test").name == "fashion_mnist-test"
    # MNIST prefers mnist_<split>.npz over IDX files in the same folder
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", images)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", labels)
    assert len(load_mnist(tmp_path, "test")) == 7
    np.savez(tmp_path / "mnist_test.npz", x=images[:3], y=labels[:3])
    assert len(load_mnist(tmp_path, "test")) == 3


def test_missing_mnist_lists_expected_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as err:
        load_mnist(tmp_path, "test")
    message = str(err.value)
    for expected in ("mnist_test.npz", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", str(tmp_path)):
        assert expected in message
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        load_fashion_mnist(tmp_path, "train")


def test_half_an_idx_pair_and_bad_labels(tmp_path: Path) -> None:
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(FileNotFoundError, match="train-labels-idx1-ubyte"):
        load_fashion_mnist(tmp_path, "train")
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.array([3, 12], np.uint8))
    with pytest.raises(DatasetFormatError, match="labels outside"):
        load_fashion_mnist(tmp_path, "train")


def test_bad_split_and_unknown_dataset(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="split"):
        load_mnist(tmp_path, "val")
    with pytest.raises(ValueError, match="mnist, fashion_mnist, cifar10"):
        load_generic("imagenet", tmp_path)


# --------------------------------------------------------------------------------------
# CIFAR-10


def test_cifar10_image_folder_and_archive_agree(tmp_path: Path) -> None:
    files = fake_cifar_files(np.random.default_rng(2))
    folder = write_tree(tmp_path / "tree", files)
    archive = write_tar_xz(tmp_path / "cifar10_jpeg.tar.xz", files)
    from_folder = load_cifar10(folder, "train")
    from_archive = load_cifar10(archive, "train")
    assert from_folder.images.shape == (6, 32, 32, 3)
    # standard class order: airplane=0, cat=3, truck=9, sorted by (class, file)
    assert from_folder.labels is not None and from_folder.labels.tolist() == [0, 0, 3, 3, 9, 9]
    np.testing.assert_array_equal(from_folder.images, from_archive.images)
    np.testing.assert_array_equal(from_folder.labels, from_archive.labels)
    # decoded as RGB, identical to cv2's decode of the first file
    first = cv2.imdecode(np.frombuffer(files["train/airplane/0000.jpg"], np.uint8), cv2.IMREAD_COLOR)
    np.testing.assert_array_equal(from_folder.images[0], first[..., ::-1])
    # a folder holding the archive works too
    assert len(load_generic("cifar10", tmp_path, "test")) == 6


def test_cifar10_archive_cache_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = fake_cifar_files(np.random.default_rng(3), per_class=1)
    archive = write_tar_xz(tmp_path / "cifar10_jpeg.tar.xz", files)
    cache = tmp_path / "cache"
    first = load_cifar10(archive, "test", cache_dir=cache)
    cached = sorted(p.name for p in cache.iterdir())
    assert len(cached) == 2 and cached[0].startswith("cifar10_test_") and cached[1].startswith("cifar10_train_")
    assert not any(p.name.startswith(".") for p in cache.iterdir())  # no temporary left over

    def no_decoding(*args: object, **kwargs: object) -> None:
        raise AssertionError("the archive was decoded again although a cache exists")

    monkeypatch.setattr(ds, "_read_cifar_archive", no_decoding)
    again = load_cifar10(archive, "test", cache_dir=cache)
    train = load_cifar10(archive, "train", cache_dir=cache)  # cached in the same pass
    np.testing.assert_array_equal(first.images, again.images)
    np.testing.assert_array_equal(first.labels, again.labels)
    assert len(train) == 3
    monkeypatch.undo()
    # a changed archive invalidates the cache (new signature, decoded again)
    os.utime(archive, ns=(1, 1))
    assert len(load_cifar10(archive, "test", cache_dir=cache)) == 3
    assert len(list(cache.glob("cifar10_test_*.npz"))) == 2


def test_cifar10_missing_and_garbled(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="cifar10_jpeg.tar.xz"):
        load_cifar10(tmp_path / "nope.tar.xz")
    with pytest.raises(FileNotFoundError, match=r"train/<class>/NNNN\.jpg"):
        load_cifar10(tmp_path, "train")
    garbled = tmp_path / "bad.tar.xz"
    garbled.write_bytes(b"this is not an xz archive")
    with pytest.raises(DatasetFormatError, match="cannot read the archive"):
        load_cifar10(garbled)
    # damage in the middle of a valid archive is caught by the stream checksum
    good = write_tar_xz(tmp_path / "good.tar.xz", fake_cifar_files(np.random.default_rng(5), 20))
    damaged = bytearray(good.read_bytes())
    middle = len(damaged) // 2
    damaged[middle : middle + 50] = b"x" * 50
    (tmp_path / "damaged.tar.xz").write_bytes(bytes(damaged))
    with pytest.raises(DatasetFormatError, match="damaged"):
        load_cifar10(tmp_path / "damaged.tar.xz", "train")
    (tmp_path / "tree" / "train" / "dog").mkdir(parents=True)
    (tmp_path / "tree" / "train" / "dog" / "0000.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DatasetFormatError, match="not a decodable image"):
        load_cifar10(tmp_path / "tree", "train")


# --------------------------------------------------------------------------------------
# UW-OCTA ingest cache


def write_fake_run_data(root: Path, size: int = 16) -> np.ndarray:
    """A tiny RUN_DATA as the ingest stage writes it: 4 train rows, 2 test rows."""
    (root / "cache").mkdir(parents=True)
    images = np.random.default_rng(4).integers(0, 256, (6, size, size), dtype=np.uint8)
    np.save(root / "cache" / f"{size}px.npy", images)
    with open(root / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(REQUIRED_COLUMNS)
        for i in range(6):
            test = i >= 4
            writer.writerow([
                f"img{i}", f"images/{i}.png", "" if test else i % 3, "test" if test else "train",
                -1 if test else i % 2, f"p{i // 2}", "ab" * 32, 1024, 1024, "L", 5 - i,
            ])  # fmt: skip
    return images


def test_load_octa_cache_reads_the_ingest_outputs(tmp_path: Path) -> None:
    images = write_fake_run_data(tmp_path)
    cache, rows = load_octa_cache(tmp_path, 16)
    assert isinstance(cache, np.memmap) and cache.shape == (6, 16, 16) and cache.dtype == np.uint8
    assert [r["id"] for r in rows] == [f"img{i}" for i in range(6)]
    assert rows[0]["grade"] == 0 and rows[2]["grade"] == 2 and rows[4]["grade"] is None
    assert rows[1]["fold"] == 1 and rows[5]["fold"] == -1
    assert all(isinstance(r["cache_index"], int) for r in rows)
    assert rows[0]["orig_width"] == 1024 and rows[0]["orig_mode"] == "L"
    np.testing.assert_array_equal(cache[rows[0]["cache_index"]], images[5])


def test_load_octa_cache_errors(tmp_path: Path) -> None:
    write_fake_run_data(tmp_path)
    with pytest.raises(FileNotFoundError) as err:
        load_octa_cache(tmp_path, 64)
    assert "64px.npy" in str(err.value) and "16px.npy" in str(err.value)  # lists what exists
    with pytest.raises(FileNotFoundError, match="manifest.csv"):
        load_octa_cache(tmp_path / "empty", 16)
    np.save(tmp_path / "cache" / "16px.npy", np.zeros((3, 16, 16), np.uint8))  # stale cache
    with pytest.raises(DatasetFormatError, match="stale"):
        load_octa_cache(tmp_path, 16)
    (tmp_path / "manifest.csv").write_text("id,path,grade\nx,y,1\n", encoding="utf-8")
    with pytest.raises(DatasetFormatError, match=r"manifest.csv: no column split, fold, patient"):
        load_octa_cache(tmp_path, 16)


# --------------------------------------------------------------------------------------
# containers and constants


def test_array_dataset_channels_and_validation() -> None:
    gray = ArrayDataset(np.zeros((2, 4, 4), np.uint8), None, [], "g")
    rgb = ArrayDataset(np.zeros((2, 4, 4, 3), np.uint8), np.array([0, 1]), ["a", "b"], "c")
    assert (len(gray), gray.channels, rgb.channels) == (2, 1, 3)
    assert rgb.labels is not None and rgb.labels.dtype == np.int64
    with pytest.raises(DatasetFormatError, match="uint8"):
        ArrayDataset(np.zeros((2, 4, 4), np.float32), None, [], "f")
    with pytest.raises(DatasetFormatError, match="labels"):
        ArrayDataset(np.zeros((2, 4, 4), np.uint8), np.array([0]), [], "l")


def test_normalization_for() -> None:
    assert normalization_for("cifar") == (CIFAR10_MEAN, CIFAR10_STD)
    assert normalization_for("cifar10") == normalization_for("cifar")
    assert normalization_for("mnist")[0] == MNIST_MEAN
    assert normalization_for("octa") == (OCTA_MEAN, OCTA_STD) == normalization_for("drac")
    assert normalization_for("fashion_mnist") != normalization_for("mnist")
    with pytest.raises(ValueError, match="octa"):
        normalization_for("imagenet")
