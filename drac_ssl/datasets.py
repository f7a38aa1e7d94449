"""Image arrays for pretraining and evaluation: the ingested UW-OCTA cache and the
generic correctness-check datasets (MNIST, Fashion-MNIST, CIFAR-10).

Everything here returns plain ``uint8`` numpy arrays: ``(N, H, W)`` for grey images,
``(N, H, W, 3)`` for RGB. Augmentation and tensor conversion live in
:mod:`drac_ssl.augment`. Nothing is ever downloaded: a missing or garbled file raises an
error that says which files were expected and where.

File formats read (see ``shared/data/README.md``):

- MNIST: ``mnist_{split}.npz`` (``x`` uint8 N x 28 x 28, ``y``), the official IDX files
  ``train-images-idx3-ubyte[.gz]`` etc., or ``mnist_train10k.npz`` (the first 10,000
  training images) as a last resort for ``split="train"``.
- Fashion-MNIST: the official IDX files.
- CIFAR-10: a ``.tar.xz`` archive of ``{train,test}/<class>/NNNN.jpg`` streamed with
  :mod:`tarfile`, or the same layout unpacked as a folder; decoded arrays can be cached
  as ``.npz``.
- UW-OCTA: the ingest stage's ``RUN_DATA/manifest.csv`` and memory-mapped
  ``RUN_DATA/cache/{size}px.npy``.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import lzma
import os
import shlex
import sys
import tarfile
import time
import warnings
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

# the normalisation statistics, re-exported: they live in the layer inference shares
# (drac_ssl/eval_input.py, with where each was computed from)
from drac_ssl.eval_input import (  # noqa: F401
    CIFAR10_MEAN,
    CIFAR10_STD,
    FASHION_MNIST_MEAN,
    FASHION_MNIST_STD,
    FUNDUS_MEAN,
    FUNDUS_STD,
    MNIST_MEAN,
    MNIST_STD,
    OCTA_MEAN,
    OCTA_STD,
    normalization_for,
)
from drac_ssl.io import atomic_path, recorded_content
from drac_ssl.manifest import ManifestError, manifest_change, read_manifest, redo_ingest_fix

# --------------------------------------------------------------------------------------
# The common container


class DatasetFormatError(ValueError):
    """A data file exists but is not what it should be (bad magic, wrong shape, ...)."""


@dataclass
class ArrayDataset:
    """A labelled (or unlabelled) stack of uint8 images held in memory (or memory-mapped).

    ``images`` is ``(N, H, W)`` for grey or ``(N, H, W, 3)`` for RGB; ``labels`` is int64
    ``(N,)`` or ``None``; ``class_names[k]`` names label ``k``.
    """

    images: np.ndarray  # uint8 (N,H,W) gray or (N,H,W,3) RGB
    labels: np.ndarray | None  # int64 (N,) or None
    class_names: list[str]
    name: str

    def __post_init__(self) -> None:
        if self.images.dtype != np.uint8:
            raise DatasetFormatError(f"{self.name}: images must be uint8, got {self.images.dtype}")
        if self.images.ndim not in (3, 4) or (self.images.ndim == 4 and self.images.shape[-1] != 3):
            raise DatasetFormatError(
                f"{self.name}: images must be (N,H,W) or (N,H,W,3), got {self.images.shape}"
            )
        if self.labels is not None:
            self.labels = np.asarray(self.labels, dtype=np.int64)
            if self.labels.shape != (len(self.images),):
                raise DatasetFormatError(
                    f"{self.name}: {len(self.images)} images but labels of shape "
                    f"{self.labels.shape}"
                )

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def channels(self) -> int:
        """1 for grey images, 3 for RGB."""
        return 1 if self.images.ndim == 3 else int(self.images.shape[-1])


# --------------------------------------------------------------------------------------
# IDX (the MNIST file format)

_IDX_DTYPES: dict[int, np.dtype[Any]] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


CHECKSUM_FILE = "SHA256SUMS"
"""The checksum list a data folder may carry (``sha256sum`` format, paths relative to its
folder), as the project's shared data folder does beside ``mnist/`` and ``fashion_mnist/``."""


def damaged_file_fix(path: Path) -> str:
    """The fix line for a data file that cannot be read whole (a truncated or damaged copy):
    copy it again from its source; where :data:`CHECKSUM_FILE` sits in the file's folder or the
    one above, the ``sha256sum -c`` command that names every damaged file of that folder."""
    words = (f"copy {path.name} again from where it came from (a copy cut short is the usual cause: "
             f"compare its size with the source's)")
    for folder in (path.parent, path.parent.parent):
        if (folder / CHECKSUM_FILE).is_file():
            words += (f"; the source folder lists checksums: `cd {folder} && sha256sum -c --ignore-missing "
                      f"{CHECKSUM_FILE}` names each damaged file")
            break
    return words


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (``.gz`` or raw), validating the magic number and the size.

    The magic number is 4 bytes: two zero bytes, a type code (0x08 = ubyte, ...) and the
    number of dimensions; then one big-endian uint32 per dimension, then the data.
    """
    p = Path(path)
    try:
        if p.suffix == ".gz":
            with gzip.open(p, "rb") as fh:
                raw = fh.read()
        else:
            raw = p.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"IDX file not found: {p}") from None
    except (OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError
        raise DatasetFormatError(f"{p}: cannot decompress ({exc}); the file is damaged\n"
                                 f"  fix: {damaged_file_fix(p)}") from None
    if len(raw) < 4:
        raise DatasetFormatError(f"{p}: {len(raw)} bytes, too short to be an IDX file")
    zero0, zero1, code, ndim = raw[0], raw[1], raw[2], raw[3]
    if zero0 != 0 or zero1 != 0 or code not in _IDX_DTYPES or not 1 <= ndim <= 4:
        raise DatasetFormatError(
            f"{p}: bad IDX magic number {raw[:4].hex()} (expected 0000 + type code "
            f"08/09/0b/0c/0d/0e + 1..4 dims, e.g. 00000803 for images, 00000801 for labels); "
            f"not an IDX file or damaged"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetFormatError(f"{p}: truncated IDX header")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_DTYPES[code]
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DatasetFormatError(
            f"{p}: IDX header says shape {shape} ({expected} data bytes) but the file holds "
            f"{len(raw) - header}; truncated or damaged\n  fix: {damaged_file_fix(p)}"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="), copy=True)


def _find_first(root: Path, names: Iterable[str]) -> Path | None:
    for name in names:
        candidate = root / name
        if candidate.is_file():
            return candidate
    return None


def _candidate_dirs(root: Path, torchvision_folder: str) -> list[Path]:
    """``root`` itself, ``root/raw`` and torchvision's ``root/<Name>/raw``."""
    return [root, root / "raw", root / torchvision_folder / "raw"]


def _find_idx_pair(root: Path, split: str, dataset: str, torchvision_folder: str) -> tuple[Path, Path] | None:
    """The (images, labels) IDX files of ``split`` in the first candidate folder that holds
    either; None when none does. Raises FileNotFoundError for half a pair."""
    prefix = {"train": "train", "test": "t10k"}[split]
    images_names = [f"{prefix}-images-idx3-ubyte.gz", f"{prefix}-images-idx3-ubyte"]
    labels_names = [f"{prefix}-labels-idx1-ubyte.gz", f"{prefix}-labels-idx1-ubyte"]
    for folder in _candidate_dirs(root, torchvision_folder):
        images_path = _find_first(folder, images_names)
        labels_path = _find_first(folder, labels_names)
        if images_path is None and labels_path is None:
            continue
        if images_path is None or labels_path is None:
            missing = images_names if images_path is None else labels_names
            raise FileNotFoundError(
                f"{dataset} {split}: found only one of the IDX pair in {folder}; "
                f"missing {' or '.join(missing)}"
            )
        return images_path, labels_path
    return None


def _load_idx_pair(root: Path, split: str, dataset: str, torchvision_folder: str) -> tuple[np.ndarray, np.ndarray] | None:
    found = _find_idx_pair(root, split, dataset, torchvision_folder)
    if found is not None:
        images_path, labels_path = found
        images = read_idx(images_path)
        labels = read_idx(labels_path)
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DatasetFormatError(
                f"{dataset} {split}: {images_path.name} has shape {images.shape} and "
                f"{labels_path.name} {labels.shape}; expected (N,H,W) and (N,)"
            )
        return images.astype(np.uint8, copy=False), labels.astype(np.int64)
    return None


def _load_npz_pair(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(path) as data:
            x, y = data["x"], data["y"]
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise DatasetFormatError(f"{path}: not a readable .npz file ({exc})") from None
    except KeyError:
        raise DatasetFormatError(f"{path}: expected arrays 'x' and 'y' in the .npz") from None
    if x.dtype != np.uint8 or x.ndim != 3 or y.shape != (len(x),):
        raise DatasetFormatError(
            f"{path}: expected x uint8 (N,H,W) and y (N,), got x {x.dtype} {x.shape}, y {y.shape}"
        )
    return x, y.astype(np.int64)


def _check_split(split: str) -> None:
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")


def _check_labels(labels: np.ndarray, n_classes: int, where: str) -> None:
    if len(labels) and (labels.min() < 0 or labels.max() >= n_classes):
        raise DatasetFormatError(
            f"{where}: labels outside 0..{n_classes - 1} (min {labels.min()}, max {labels.max()})"
        )


MNIST_CLASSES = [str(d) for d in range(10)]
FASHION_MNIST_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]  # fmt: skip
CIFAR10_CLASSES = [
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
]  # fmt: skip


def mnist_files(root: str | os.PathLike[str], split: str = "train") -> list[Path]:
    """The files :func:`load_mnist` reads for ``split``, found without reading them:
    ``[mnist_{split}.npz]``, else the IDX pair ``[images, labels]``, else (train only)
    ``[mnist_train10k.npz]``.

    Raises:
        FileNotFoundError: none of them is there, or half an IDX pair (names what is missing).
    """
    _check_split(split)
    folder = Path(root)
    npz = folder / f"mnist_{split}.npz"
    if npz.is_file():
        return [npz]
    pair = _find_idx_pair(folder, split, "MNIST", "MNIST")
    if pair is not None:
        return list(pair)
    subset = folder / "mnist_train10k.npz"
    if split == "train" and subset.is_file():
        return [subset]
    prefix = {"train": "train", "test": "t10k"}[split]
    extra = " or mnist_train10k.npz" if split == "train" else ""
    raise FileNotFoundError(
        f"MNIST {split} not found under {folder} (also looked in raw/ and MNIST/raw/). "
        f"Expected mnist_{split}.npz{extra}, or the IDX pair "
        f"{prefix}-images-idx3-ubyte[.gz] + {prefix}-labels-idx1-ubyte[.gz]. "
        f"Nothing is downloaded: copy the files there or fix data.root."
    )


def load_mnist(root: str | os.PathLike[str], split: str = "train") -> ArrayDataset:
    """MNIST from ``root``: ``mnist_{split}.npz``, else the IDX files, else (train only)
    ``mnist_train10k.npz`` (the first 10,000 training images, official order).

    The IDX files may be gzipped or raw, in ``root``, ``root/raw`` or ``root/MNIST/raw``.
    """
    files = mnist_files(root, split)
    name = f"mnist-{split}"
    if len(files) == 2:
        pair = _load_idx_pair(Path(root), split, "MNIST", "MNIST")
        assert pair is not None
        x, y = pair
    else:
        x, y = _load_npz_pair(files[0])
        if files[0].name == "mnist_train10k.npz":
            name = "mnist-train10k"
    _check_labels(y, 10, name)
    return ArrayDataset(np.ascontiguousarray(x), y, list(MNIST_CLASSES), name)


def fashion_mnist_files(root: str | os.PathLike[str], split: str = "train") -> list[Path]:
    """The IDX pair ``[images, labels]`` :func:`load_fashion_mnist` reads for ``split``, found
    without reading them.

    Raises:
        FileNotFoundError: neither file is there, or only one (names what is missing).
    """
    _check_split(split)
    folder = Path(root)
    pair = _find_idx_pair(folder, split, "Fashion-MNIST", "FashionMNIST")
    if pair is None:
        prefix = {"train": "train", "test": "t10k"}[split]
        raise FileNotFoundError(
            f"Fashion-MNIST {split} not found under {folder} (also looked in raw/ and "
            f"FashionMNIST/raw/). Expected {prefix}-images-idx3-ubyte[.gz] and "
            f"{prefix}-labels-idx1-ubyte[.gz]. Nothing is downloaded: copy the files there "
            f"or fix data.root."
        )
    return list(pair)


def load_fashion_mnist(root: str | os.PathLike[str], split: str = "train") -> ArrayDataset:
    """Fashion-MNIST from the official IDX files (gzipped or raw) in ``root``,
    ``root/raw`` or ``root/FashionMNIST/raw``."""
    fashion_mnist_files(root, split)  # a clear error when they are not there
    pair = _load_idx_pair(Path(root), split, "Fashion-MNIST", "FashionMNIST")
    assert pair is not None
    x, y = pair
    _check_labels(y, 10, f"fashion_mnist-{split}")
    return ArrayDataset(x, y, list(FASHION_MNIST_CLASSES), f"fashion_mnist-{split}")


# --------------------------------------------------------------------------------------
# CIFAR-10 (JPEG archive or folder)

_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
CIFAR10_ARCHIVE_NAME = "cifar10_jpeg.tar.xz"


def _decode_rgb(data: bytes, where: str) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise DatasetFormatError(f"{where}: not a decodable image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _stack(records: list[tuple[int, str, np.ndarray]], where: str) -> tuple[np.ndarray, np.ndarray]:
    """Sort by (class, file name) so archive and folder give the same order; stack."""
    records.sort(key=lambda r: (r[0], r[1]))
    shapes = {r[2].shape for r in records}
    if len(shapes) != 1:
        raise DatasetFormatError(f"{where}: images of different sizes {sorted(shapes)[:4]}")
    images = np.stack([r[2] for r in records]).astype(np.uint8, copy=False)
    labels = np.fromiter((r[0] for r in records), dtype=np.int64, count=len(records))
    return images, labels


def _split_class_file(member_name: str) -> tuple[str, str, str] | None:
    """``[prefix/]split/class/file`` -> (split, class, file), else None."""
    parts = [p for p in member_name.replace("\\", "/").split("/") if p not in ("", ".")]
    if len(parts) < 3:
        return None
    return parts[-3], parts[-2], parts[-1]


def _read_cifar_archive(archive: Path, splits: Iterable[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Stream the archive once and decode every image of the requested splits."""
    wanted = set(splits)
    class_index = {c: i for i, c in enumerate(CIFAR10_CLASSES)}
    records: dict[str, list[tuple[int, str, np.ndarray]]] = {s: [] for s in wanted}
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                parsed = _split_class_file(member.name)
                if parsed is None:
                    continue
                split, cls, filename = parsed
                if split not in wanted or not filename.lower().endswith(_IMAGE_SUFFIXES):
                    continue
                if cls not in class_index:
                    raise DatasetFormatError(
                        f"{archive}: unknown CIFAR-10 class folder {cls!r} in {member.name}; "
                        f"expected one of {', '.join(CIFAR10_CLASSES)}"
                    )
                fh = tar.extractfile(member)
                assert fh is not None
                image = _decode_rgb(fh.read(), f"{archive}:{member.name}")
                records[split].append((class_index[cls], filename, image))
            # Read to the end of the compressed stream: its checksum (xz CRC64, gzip CRC32)
            # is only verified there, and a lenient JPEG decoder would not notice damage.
            stream = tar.fileobj
            while stream is not None and stream.read(1 << 20):
                pass
    except (tarfile.TarError, lzma.LZMAError, EOFError, OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise DatasetFormatError(f"{archive}: cannot read the archive ({exc}); damaged?") from None
    out = {}
    for split, recs in records.items():
        if not recs:
            raise DatasetFormatError(
                f"{archive}: no images under {split}/<class>/*.jpg; expected the layout "
                f"train/<class>/NNNN.jpg and test/<class>/NNNN.jpg"
            )
        out[split] = _stack(recs, f"{archive} {split}")
    return out


def _read_cifar_folder(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    split_dir = folder / split
    present = sorted(p.name for p in split_dir.iterdir() if p.is_dir())
    unknown = [c for c in present if c not in CIFAR10_CLASSES]
    if unknown:
        raise DatasetFormatError(
            f"{split_dir}: unknown class folders {unknown}; expected {', '.join(CIFAR10_CLASSES)}"
        )
    records: list[tuple[int, str, np.ndarray]] = []
    for label, cls in enumerate(CIFAR10_CLASSES):
        class_dir = split_dir / cls
        if not class_dir.is_dir():
            continue
        for file in sorted(class_dir.iterdir()):
            if file.suffix.lower() in _IMAGE_SUFFIXES:
                records.append((label, file.name, _decode_rgb(file.read_bytes(), str(file))))
    if not records:
        raise DatasetFormatError(f"{split_dir}: no images under <class>/*.jpg")
    return _stack(records, str(split_dir))


def _source_signature(path: Path) -> str:
    """Identifies a source file's version (path, size, mtime) for cache invalidation."""
    stat = path.stat()
    text = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def _cache_file(cache_dir: Path, archive: Path, split: str) -> Path:
    return cache_dir / f"cifar10_{split}_{_source_signature(archive)}.npz"


def _read_cache(path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    if not path.is_file():
        return None
    try:
        with np.load(path) as data:
            return data["images"], data["labels"].astype(np.int64)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, EOFError) as exc:
        warnings.warn(f"ignoring unreadable cache {path} ({exc}); decoding again", stacklevel=3)
        return None


def _write_cache(path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:  # a file object: no '.npz' appended
        np.savez(fh, images=images, labels=labels)


def cifar10_source(path: str | os.PathLike[str], split: str = "train") -> Path:
    """What :func:`load_cifar10` reads for ``split``, found without reading it: the archive
    (``path``, or ``path/cifar10_jpeg.tar.xz``; its members are checked only when read) or
    the folder whose ``split/`` subfolder holds the images.

    Raises:
        FileNotFoundError: neither is there.
    """
    _check_split(split)
    source = Path(path)
    if source.is_dir() and not (source / split).is_dir() and (source / CIFAR10_ARCHIVE_NAME).is_file():
        source = source / CIFAR10_ARCHIVE_NAME
    if source.is_dir():
        if not (source / split).is_dir():
            raise FileNotFoundError(
                f"CIFAR-10 {split}: {source} has no {split}/ folder. Expected either the "
                f"archive {CIFAR10_ARCHIVE_NAME} or the ImageFolder layout "
                f"{source}/{split}/<class>/NNNN.jpg with classes {', '.join(CIFAR10_CLASSES)}."
            )
        return source
    if not source.is_file():
        raise FileNotFoundError(
            f"CIFAR-10 not found at {source}. Expected the archive {CIFAR10_ARCHIVE_NAME} "
            f"(train/<class>/NNNN.jpg, test/<class>/NNNN.jpg inside) or a folder with that "
            f"layout. Nothing is downloaded."
        )
    return source


def load_cifar10(
    path: str | os.PathLike[str], split: str = "train", cache_dir: str | os.PathLike[str] | None = None
) -> ArrayDataset:
    """CIFAR-10 as uint8 ``(N, 32, 32, 3)`` RGB with labels in the standard class order
    (airplane, automobile, ..., truck), sorted by (class, file name).

    ``path`` is the ``.tar.xz`` archive (streamed, never unpacked to disk), a folder with
    ``train/<class>/*.jpg`` and ``test/<class>/*.jpg``, or a folder that holds
    ``cifar10_jpeg.tar.xz``. With ``cache_dir`` the decoded arrays of an archive are saved
    there as ``cifar10_<split>_<source-signature>.npz`` (written atomically; both splits in
    one pass over the archive) and reused while the archive is unchanged.
    """
    source = cifar10_source(path, split)
    name = f"cifar10-{split}"
    if source.is_dir():
        images, labels = _read_cifar_folder(source, split)
        return ArrayDataset(images, labels, list(CIFAR10_CLASSES), name)
    if cache_dir is not None:
        cache_root = Path(cache_dir)
        cached = _read_cache(_cache_file(cache_root, source, split))
        if cached is not None:
            return ArrayDataset(cached[0], cached[1], list(CIFAR10_CLASSES), name)
        decoded = _read_cifar_archive(source, ("train", "test"))
        for split_name, (images, labels) in decoded.items():
            _write_cache(_cache_file(cache_root, source, split_name), images, labels)
    else:
        decoded = _read_cifar_archive(source, (split,))
    images, labels = decoded[split]
    return ArrayDataset(images, labels, list(CIFAR10_CLASSES), name)


GENERIC_DATASETS = ("mnist", "fashion_mnist", "cifar10")
GENERIC_DATASET_WORDS = {"mnist": ("MNIST", "handwritten digits"), "fashion_mnist": ("Fashion-MNIST", "clothing"),
                         "cifar10": ("CIFAR-10", "colour photographs of 10 object classes")}
"""The generic data sets' names as written for a reader, and what their images show (the run
report and the README's bench tables both use them)."""


def generic_files(name: str, root: str | os.PathLike[str], split: str = "train") -> list[Path]:
    """The files (or folder) :func:`load_generic` reads for ``split`` of data set ``name``,
    found without reading them (the preflight's check, with the loaders' own messages).

    Raises:
        FileNotFoundError: what the loader would raise for missing files.
        ValueError: an unknown data set.
    """
    if name == "mnist":
        return mnist_files(root, split)
    if name == "fashion_mnist":
        return fashion_mnist_files(root, split)
    if name == "cifar10":
        return [cifar10_source(root, split)]
    raise ValueError(f"unknown dataset {name!r}; expected one of {', '.join(GENERIC_DATASETS)}")


def _idx_count(path: Path) -> int:
    """The first dimension of an IDX file (``.gz`` or raw), from its 8-byte header alone."""
    with (gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")) as fh:
        head = fh.read(8)
    if len(head) < 8 or head[0] != 0 or head[1] != 0 or not 1 <= head[3] <= 4:
        raise DatasetFormatError(f"{path}: not an IDX file (header {head[:4].hex()})")
    return int.from_bytes(head[4:8], "big")


def check_idx_whole(path: str | os.PathLike[str], chunk_bytes: int = 1 << 20) -> int:
    """Decompress an IDX file (``.gz`` or raw) to its end in chunks, keeping nothing, and check
    its length against its header; return the first dimension (images or labels). What the
    preflight runs before a pretraining on MNIST / Fashion-MNIST: a truncated ``.gz`` otherwise
    fails only inside the pretraining stage (:func:`read_idx`). Cost: the largest file,
    Fashion-MNIST's 26 MB ``train-images-idx3-ubyte.gz`` (47 MB unpacked), took 0.23 CPU s here
    (measured by hand on one thread, 2026-12-06; not a bench figure).

    Raises:
        DatasetFormatError: the file does not decompress to its end, or its header is not an
            IDX header, or its data bytes are not the header's count (with
            :func:`damaged_file_fix`'s fix line).
    """
    p = Path(path)
    head, total = b"", 0
    try:
        with (gzip.open(p, "rb") if p.suffix == ".gz" else p.open("rb")) as fh:
            while chunk := fh.read(chunk_bytes):
                if len(head) < 20:
                    head += chunk[:20 - len(head)]
                total += len(chunk)
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise DatasetFormatError(f"{p}: cannot decompress ({exc}); the file is damaged\n"
                                 f"  fix: {damaged_file_fix(p)}") from None
    ndim = head[3] if len(head) >= 4 else 0
    if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] not in _IDX_DTYPES or not 1 <= ndim <= 4 \
            or len(head) < 4 + 4 * ndim:
        raise DatasetFormatError(f"{p}: not an IDX file (header {head[:4].hex()}); damaged or another file\n"
                                 f"  fix: {damaged_file_fix(p)}")
    shape = [int.from_bytes(head[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    expected = int(np.prod(shape)) * _IDX_DTYPES[head[2]].itemsize
    if total - 4 - 4 * ndim != expected:
        raise DatasetFormatError(
            f"{p}: IDX header says shape {tuple(shape)} ({expected} data bytes) but the file holds "
            f"{total - 4 - 4 * ndim}; truncated or damaged\n  fix: {damaged_file_fix(p)}")
    return shape[0]


def _npz_count(path: Path, member: str) -> int:
    """The first dimension of array ``member`` of an ``.npz``, from its ``.npy`` header alone."""
    with zipfile.ZipFile(path) as archive, archive.open(f"{member}.npy") as fh:
        version = np.lib.format.read_magic(fh)
        read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                       else np.lib.format.read_array_header_2_0)
        shape = read_header(fh)[0]
    if not shape:
        raise DatasetFormatError(f"{path}: {member} is a scalar, not an array of images")
    return int(shape[0])


def generic_train_count(name: str, root: str | os.PathLike[str]) -> int | None:
    """How many training images :func:`load_generic` will read for data set ``name``, counted
    without decoding an image: the IDX images file's header (MNIST, Fashion-MNIST), the
    ``x`` array's ``.npy`` header in an ``.npz`` (MNIST: ``mnist_train.npz`` or
    ``mnist_train10k.npz``), the files under ``train/`` of an unpacked CIFAR-10 folder. None
    when that cannot be told cheaply (the CIFAR-10 archive, whose listing means decompressing
    it all) or the files are missing or unreadable (the loader says why)."""
    try:
        if name == "cifar10":
            source = cifar10_source(root, "train")
            if not source.is_dir():
                return None
            return sum(1 for p in (source / "train").glob("*/*") if p.suffix.lower() in _IMAGE_SUFFIXES)
        files = generic_files(name, root, "train")
        if len(files) == 2:  # the IDX pair: images, labels
            return _idx_count(files[0])
        return _npz_count(files[0], "x")
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None


def load_generic(
    name: str,
    root: str | os.PathLike[str],
    split: str = "train",
    cache_dir: str | os.PathLike[str] | None = None,
) -> ArrayDataset:
    """Load one of the correctness-check datasets by its ``DataConfig.dataset`` name."""
    if name == "mnist":
        return load_mnist(root, split)
    if name == "fashion_mnist":
        return load_fashion_mnist(root, split)
    if name == "cifar10":
        return load_cifar10(root, split, cache_dir=cache_dir)
    raise ValueError(f"unknown dataset {name!r}; expected one of {', '.join(GENERIC_DATASETS)}")


# --------------------------------------------------------------------------------------
# UW-OCTA: the ingest stage's manifest and memory-mapped cache

def _sizes_written(run_data: Path) -> list[int] | None:
    """The cache sizes ``ingest_summary.json`` says its ingest wrote (its ``cache`` keys), or
    None without a readable summary (a cache written by hand or by a test)."""
    try:
        summary = json.loads((run_data / "ingest_summary.json").read_text(encoding="utf-8"))
        return sorted(int(s) for s in summary["cache"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


CACHE_STATE_NAME = "state.json"
"""The ingest's record of its cache (:mod:`data_prep.cache`): per array its ``shape``, byte
count (``bytes``), modification time (``mtime_ns``) and, since the ingest records it,
``sha256`` (of the whole ``.npy`` file), as written."""

COPIED_WITHOUT_TIMES = ("cp -r without -a or -p, tar or zip (they keep whole seconds, zip two), scp "
                        "without -p, rsync without -t, or a copy to another file system")
"""The copies that keep a file's bytes but not its modification time, as the messages name them."""


@dataclass(frozen=True)
class CacheArrayCheck:
    """What :func:`check_cache_array` found of one cache array: ``refusal``, why it is not the
    array the ingest wrote (None: it is, or nothing is recorded); ``note``, a line to print
    when it is accepted with a doubt said (its time changed: its content matched the recorded
    SHA-256, or an ingest made before that record has none to compare)."""

    refusal: str | None = None
    note: str | None = None


def touch_words(path: Path, mtime_ns: int) -> str:
    """The command that sets ``path``'s modification time back to ``mtime_ns`` (GNU touch
    reads ``@SECONDS.NANOSECONDS``), quoted for a POSIX shell."""
    return f"touch -d @{mtime_ns // 10**9}.{mtime_ns % 10**9:09d} {shlex.quote(str(path))}"


def _time_words(now_ns: int, recorded_ns: int) -> str:
    """``modified at T, not when the ingest wrote it (T0)``, and what a time in whole seconds
    means: tar, zip and some file systems keep no fraction of a second."""
    words = f"its file time is {_utc(now_ns)}, not the {_utc(recorded_ns)} the ingest wrote it at"
    if now_ns % 10**9 == 0 and recorded_ns % 10**9:
        same = abs(now_ns - recorded_ns) < 2 * 10**9
        words += (f" ({'the recorded time cut to' if same else 'a time in'} whole seconds, "
                  f".000000: a copy through tar or zip, or a file system that keeps whole seconds, "
                  f"{'which keeps the bytes' if same else 'with its time changed too'})")
    return words


def check_cache_array(run_data: str | os.PathLike[str], size: int, *, read_content: bool = True,
                      restore_time: bool = True) -> CacheArrayCheck:
    """Whether ``RUN_DATA/cache/{size}px.npy`` is the array the ingest wrote, by what
    ``cache/state.json`` records of it (:data:`CACHE_STATE_NAME`):

    - nothing recorded (no state, a state without this size: a cache written by hand or by a
      test) or no file (said by the reader): nothing to say;
    - another byte count: refused (cut short: truncated, or a copy that did not finish);
    - the recorded byte count and ``mtime_ns``: the array, from a stat (no read);
    - the byte count but another time (written to in place, or copied without its time:
      :data:`COPIED_WITHOUT_TIMES`): with a recorded ``sha256`` and ``read_content``, the file
      is read whole and hashed (``hashlib.file_digest``: APTOS's 4.4 GB at 512 px took 3.1 s
      from the page cache here, 1.3 GiB/s; a cold read is bound by the disk): the recorded digest is the array, accepted with a note, and
      ``restore_time`` sets its time back to the recorded one on the file descriptor it hashed
      (as ``touch -d`` would; best effort: a read-only folder keeps its time and each load
      hashes again), so the next load is a stat; another digest is refused (its pixels are not
      the images'). Without ``read_content`` nothing is said of it. An ingest made before the digest was recorded: accepted with a note (its
      content cannot be checked; the byte count and the array's shape still are), naming the
      ``touch -d`` that restores its time.

    Never writes ``state.json`` (a stage may read it while another runs)."""
    run_data = Path(run_data)
    try:
        state = json.loads((run_data / "cache" / CACHE_STATE_NAME).read_text(encoding="utf-8"))
        meta = state["arrays"][str(int(size))]
        recorded_bytes, recorded_ns = int(meta["bytes"]), int(meta["mtime_ns"])
        recorded_sha = meta.get("sha256")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return CacheArrayCheck()
    path = run_data / "cache" / f"{int(size)}px.npy"
    try:
        stat = path.stat()
    except OSError:
        return CacheArrayCheck()
    if stat.st_size != recorded_bytes:
        return CacheArrayCheck(refusal=(
            f"it holds {stat.st_size} bytes, not the {recorded_bytes} the ingest wrote"
            + (" (cut short: truncated, or a copy that did not finish)" if stat.st_size < recorded_bytes else "")))
    if stat.st_mtime_ns == recorded_ns:
        return CacheArrayCheck()
    when = _time_words(stat.st_mtime_ns, recorded_ns)
    if not isinstance(recorded_sha, str) or not recorded_sha:
        return CacheArrayCheck(note=(
            f"{path}: {when}; this ingest recorded no SHA-256 of its arrays (made before that "
            f"record), so its content is not checked, only its byte count and shape. A copy "
            f"that kept the bytes but not the time ({COPIED_WITHOUT_TIMES}) is harmless: "
            f"{touch_words(path, recorded_ns)} sets the recorded time back and ends this note; "
            f"if the file may have been written to since, its rows may not be the images': "
            f"{redo_ingest_fix(run_data)}"))
    if not read_content:
        return CacheArrayCheck()
    started = time.perf_counter()
    try:  # the ingest's rule too (data_prep.cache reuses a copied array by it)
        digest, restored = recorded_content(path, recorded_bytes, recorded_sha, recorded_ns, restore_time)
    except OSError as exc:
        return CacheArrayCheck(refusal=f"{when}, and it cannot be read to compare its content "
                                       f"({exc.strerror or exc})")
    seconds = time.perf_counter() - started
    if not digest:  # its byte count changed between the stat and the read
        return CacheArrayCheck(refusal=f"{when}, and it was written to while it was read (another byte count)")
    if digest != recorded_sha:
        return CacheArrayCheck(refusal=(
            f"{when}, and its content changed: its SHA-256 {digest[:12]}... is not the "
            f"{recorded_sha[:12]}... the ingest recorded (written to since: its pixels are not "
            f"the images')"))
    then = ("its time is set back to the recorded one, so the next load reads no pixels" if restored
            else f"each load hashes it again until its time is set back: {touch_words(path, recorded_ns)}")
    return CacheArrayCheck(note=(
        f"{path}: {when}; its SHA-256 is the one the ingest recorded (read in {seconds:.1f} s), so "
        f"it is the ingest's array, copied without its file time ({COPIED_WITHOUT_TIMES}): "
        f"used; {then}"))


def cache_array_change(run_data: str | os.PathLike[str], size: int) -> str | None:
    """Why ``RUN_DATA/cache/{size}px.npy`` is not the array the ingest wrote
    (:func:`check_cache_array`'s refusal: another byte count than ``cache/state.json``
    records, or another time and content); None when it is, or nothing is recorded. Its
    note is left to the stage's load, which says it (a copy whose time was set back here
    loads from a stat)."""
    return check_cache_array(run_data, size).refusal


def _utc(mtime_ns: int) -> str:
    """A file time in ns as ``2026-12-06 08:50:20.707963 UTC``."""
    import datetime as _dt

    return _dt.datetime.fromtimestamp(mtime_ns / 1e9, _dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f UTC")


def _grades_recorded(run_data: Path) -> int | None:
    """K, the number of grades ``ingest_summary.json`` records (``grades.names``), or None
    without a readable record (a cache written by hand or by a test)."""
    try:
        summary = json.loads((run_data / "ingest_summary.json").read_text(encoding="utf-8"))
        names = summary["grades"]["names"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return len(names) if isinstance(names, list) and len(names) >= 2 else None


def load_octa_cache(
    run_data_dir: str | os.PathLike[str], size: int
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """The ingested UW-OCTA images at ``size`` px and their manifest rows.

    Reads ``RUN_DATA/manifest.csv`` (:func:`drac_ssl.manifest.read_manifest`) and
    ``RUN_DATA/cache/{size}px.npy`` (uint8 ``(N, size, size)`` grey, or ``(N, size, size, 3)``
    RGB when the ingest kept colour; row ``i`` = ``cache_index i``) memory-mapped read-only. Rows come back as dicts in file order with ``grade``
    int or None (test rows), ``fold`` int (-1 for test), ``cache_index`` int,
    ``orig_width``/``orig_height`` int, everything else a string.

    Raises:
        FileNotFoundError: no manifest or no array of ``size`` (names the sizes there are).
        DatasetFormatError: a manifest without its columns or with a bad value (an id on two
            rows, a grade outside the ``0..K-1`` the ingest recorded), or whose SHA-256 is not
            the one ``ingest_summary.json`` records (:func:`drac_ssl.manifest.manifest_change`:
            edited by hand); an array whose byte count is not the one ``cache/state.json``
            records, or whose time and content are not (:func:`check_cache_array`: truncated,
            overwritten; a copy without its time is hashed, accepted with a note on stderr
            when its SHA-256 is the recorded one), or that is not a readable
            ``.npy`` (with :func:`redo_ingest_fix`); an array not uint8 of that shape, of a size ``ingest_summary.json`` does not list (a leftover
            of an earlier ingest, whose rows follow another manifest), or too short for the
            manifest's ``cache_index`` values.
    """
    run_data = Path(run_data_dir)
    manifest = run_data / "manifest.csv"
    cache = run_data / "cache" / f"{size}px.npy"
    missing = [str(p) for p in (manifest, cache) if not p.is_file()]
    if missing:
        available = sorted(p.name for p in (run_data / "cache").glob("[0-9]*px.npy"))  # not .held-*
        raise FileNotFoundError(
            f"The ingest's image cache is incomplete in {run_data}: missing {', '.join(missing)}. "
            f"Expected manifest.csv and cache/{size}px.npy written by the ingest stage "
            f"(available sizes: {', '.join(available) or 'none'}); run the 'ingest' stage "
            f"first or add {size} to data.cache_sizes."
        )
    changed = manifest_change(run_data)  # an edited manifest: refused, whatever its rows say
    if changed:
        raise DatasetFormatError(f"{changed}\n  fix: {redo_ingest_fix(run_data)}")
    try:
        rows = read_manifest(manifest, num_grades=_grades_recorded(run_data))
    except ManifestError as exc:
        raise DatasetFormatError(str(exc)) from None
    checked = check_cache_array(run_data, size)
    if checked.refusal:  # before np.load: a truncated array's own error would say nothing of why
        raise DatasetFormatError(
            f"{cache}: not the array the ingest wrote (cache/{CACHE_STATE_NAME} records it): "
            f"{checked.refusal}; its rows would not be the images of {manifest}\n"
            f"  fix: {redo_ingest_fix(run_data)}")
    if checked.note and os.environ.get("RANK", "0") == "0":  # once, not per torchrun process
        print(f"[data] note: {checked.note}", file=sys.stderr, flush=True)
    try:
        images = np.load(cache, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise DatasetFormatError(f"{cache}: not a readable .npy array ({exc}): damaged or cut "
                                 f"short since the ingest wrote it\n  fix: {redo_ingest_fix(run_data)}") from None
    if images.dtype != np.uint8 or images.shape[1:3] != (size, size) or not (
            images.ndim == 3 or (images.ndim == 4 and images.shape[3] == 3)):
        raise DatasetFormatError(
            f"{cache}: expected uint8 (N, {size}, {size}) or RGB (N, {size}, {size}, 3), got "
            f"{images.dtype} {images.shape}"
        )
    written = _sizes_written(run_data)
    if written is not None and size not in written:
        raise DatasetFormatError(
            f"{cache}: not one of the sizes the last ingest wrote ({', '.join(map(str, written)) or 'none'}, "
            f"ingest_summary.json): a leftover whose rows follow an earlier manifest; rerun the "
            f"ingest with {size} in data.cache_sizes"
        )
    if rows:
        top = max(r["cache_index"] for r in rows)
        low = min(r["cache_index"] for r in rows)
        if low < 0 or top >= len(images):
            raise DatasetFormatError(
                f"{manifest}: cache_index range {low}..{top} does not fit {cache} with "
                f"{len(images)} rows; the cache is stale, rerun the ingest stage"
            )
    return images, rows
