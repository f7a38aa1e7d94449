"""A tiny fake ingest output shared by the fine-tuning and export tests (no real images).

30 labelled 64 px images (10 per grade, stratified into 5 folds) and 6 test images, cached
at ``SOURCE_SIZE`` px; the grade brightens a central disc so a head can learn it.
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import cv2
import numpy as np

from data_prep.cache import resize_gray
from drac_ssl.datasets import MANIFEST_COLUMNS

SOURCE_SIZE = 48


def make_fake_ingest(root: Path, n_train: int = 30, n_test: int = 6, size: int = 64,
                     n_folds: int = 5) -> Path:
    """An ingest output (manifest.csv, cache/48px.npy, ingest_summary.json) and the source
    PNGs under ``root/images/{train,test}``; the grade brightens a central disc."""
    src, data = root / "images", root / "data"
    for folder in (src / "train", src / "test", data / "cache"):
        folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size]
    disc = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size / 4) ** 2
    rows, cache, per_grade = [], [], {0: 0, 1: 0, 2: 0}
    for i in range(n_train + n_test):
        train = i < n_train
        grade = i % 3 if train else None
        image = rng.normal(100, 25, (size, size))
        image[disc] += 50 * (grade if grade is not None else int(rng.integers(0, 3)))
        image = np.clip(image, 0, 255).astype(np.uint8)
        name = f"{i + 1:03d}.png"
        rel = f"{'train' if train else 'test'}/{name}"
        cv2.imwrite(str(src / rel), image)
        fold = -1
        if grade is not None:
            fold, per_grade[grade] = per_grade[grade] % n_folds, per_grade[grade] + 1
        rows.append([name, rel, "" if grade is None else grade, "train" if train else "test", fold, "",
                     hashlib.sha256((src / rel).read_bytes()).hexdigest(), size, size, "L", i])
        cache.append(resize_gray(image, SOURCE_SIZE))
    with open(data / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(MANIFEST_COLUMNS)
        writer.writerows(rows)
    np.save(data / "cache" / f"{SOURCE_SIZE}px.npy", np.stack(cache))
    (data / "ingest_summary.json").write_text(json.dumps({
        "root": str(src), "layout": "plain", "train_dir": str(src / "train"),
        "test_dir": str(src / "test"), "created_utc": "2026-01-01T00:00:00+00:00"}))
    return data
