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
from drac_ssl.manifest import REQUIRED_COLUMNS

SOURCE_SIZE = 48

TINY_FINETUNE = {
    "pretrain.epochs": "1", "pretrain.batch_size": "8", "pretrain.num_workers": "0", "pretrain.expander": "32-32",
    "pretrain.augment.image_size": "32", "pretrain.augment.source_size": str(SOURCE_SIZE),
    "pretrain.patience": "0", "pretrain.max_steps_per_epoch": "1", "run.device": "cpu",
    "data.cache_sizes": f"[{SOURCE_SIZE}]", "finetune.image_size": "32", "finetune.epochs": "2",
    "finetune.batch_size": "8", "finetune.head": "conv", "finetune.freeze": "frozen", "finetune.n_boot": "100",
}
"""The tiny pretraining and fine-tuning settings of the fine-tuning tests (key -> value)."""


def make_fake_ingest(root: Path, n_train: int = 30, n_test: int = 6, size: int = 64,
                     n_folds: int = 5, grade_names: tuple[str, ...] = ()) -> Path:
    """An ingest output (manifest.csv, cache/48px.npy, ingest_summary.json) and the source
    PNGs under ``root/images/{train,test}``: smooth texture (no image looks like random noise
    to the export); the grade brightens a central disc. ``grade_names``: the 3 grades' names the
    summary records (``grades.names``, as an ingest under ``--grades`` does; the fine-tuning and
    the bundle take them); none recorded by default (DRAC's then)."""
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
        # smooth texture (blurred noise at the same spread), not iid noise: the export names
        # images whose neighbouring pixels are unrelated (data_prep.validate.looks_like_noise)
        texture = cv2.GaussianBlur(rng.normal(0, 1, (size, size)), (0, 0), 1.0)
        image = 100 + texture * (25 / texture.std())
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
        writer.writerow(REQUIRED_COLUMNS)
        writer.writerows(rows)
    np.save(data / "cache" / f"{SOURCE_SIZE}px.npy", np.stack(cache))
    (data / "ingest_summary.json").write_text(json.dumps({
        "root": str(src), "layout": "plain", "train_dir": str(src / "train"),
        "test_dir": str(src / "test"), "created_utc": "2026-01-01T00:00:00+00:00",
        **({"grades": {"names": list(grade_names), "k": len(grade_names), "source": "data.grades"}}
           if grade_names else {})}))
    return data


def pair_into_patients(manifest: Path) -> list[dict[str, str]]:
    """Rewrite ``manifest`` (a manifest.csv) with its training images paired into patients of
    two, in file order (``P00``, ``P00``, ``P01`` ...); returns the rows as written."""
    with open(manifest, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for i, row in enumerate(r for r in rows if r["split"] == "train"):
        row["patient"] = f"P{i // 2:02d}"
    with open(manifest, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return rows


def make_patient_run(root: Path) -> list[dict[str, str]]:
    """A tiny pretrained run in ``root`` (the fake ingest, 2 folds, 3 grades, its training
    images paired into patients of two by :func:`pair_into_patients`, pretrained with
    :data:`TINY_FINETUNE` on one thread, the caller's thread count given back); returns the
    manifest rows."""
    import torch

    from drac_ssl import pretrain
    from drac_ssl.config import load_config

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        make_fake_ingest(root, n_folds=2)
        rows = pair_into_patients(root / "data" / "manifest.csv")
        pretrain.run(load_config(None, [f"{k}={v}" for k, v in {**TINY_FINETUNE, "data.n_folds": "2"}.items()]),
                     root)
    finally:
        torch.set_num_threads(threads)
    return rows


def make_finished_run(run_dir: Path) -> Path:
    """A fabricated finished run folder: the fake ingest (its cache recorded as the ingest
    records it), config.yaml, stages.json with every stage done, and the files each stage
    leaves (empty: only their existence is checked). Returns ``run_dir``."""
    from drac_ssl import preflight, train
    from drac_ssl.config import save_config

    data = make_fake_ingest(run_dir)
    summary = json.loads((data / "ingest_summary.json").read_text())
    summary["cache"] = {str(SOURCE_SIZE): {"path": f"cache/{SOURCE_SIZE}px.npy"}}
    (data / "ingest_summary.json").write_text(json.dumps(summary))
    cfg = train.load_config(train.DEFAULT_CONFIG, [
        f"data.root={run_dir / 'images'}", f"data.cache_sizes=[{SOURCE_SIZE}]", "data.n_folds=2",
        f"pretrain.augment.source_size={SOURCE_SIZE}", "pretrain.augment.image_size=32",
        "finetune.image_size=32", "pretrain.batch_size=8", "umm.batch_size=8", "run.device=cpu",
        f"run.out_dir={run_dir.parent}", f"run.name={run_dir.name}"])
    save_config(cfg, run_dir / "config.yaml")
    folds = {"folds": [{"fold": k, "weights": [f"fold{k}.safetensors"]} for k in range(2)]}
    files = {"pretrain/backbone.safetensors": "", "pretrain/vicreg_model.safetensors": "",
             "umm/backbone.safetensors": "", "finetune/summary.json": json.dumps({"selected": "vicreg"}),
             "finetune/vicreg/model.json": json.dumps(folds), "bundle/metadata.json": json.dumps(folds),
             "export/submission.csv": "case,class\n"}
    files.update({f"{where}/fold{k}.safetensors": "" for where in ("finetune/vicreg", "bundle") for k in range(2)})
    for name, text in files.items():
        (run_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (run_dir / name).write_text(text)
    stages = {s: {"status": "done", "seconds": 1.0, "outputs": {}} for s in preflight.PIPELINE}
    stages["export"]["outputs"] = {"submission": str(run_dir / "export" / "submission.csv")}
    (run_dir / "stages.json").write_text(json.dumps(stages))
    return run_dir


def make_edited_source(run_dir: Path) -> Path:
    """:func:`make_finished_run` whose pretraining recorded the settings it ran with
    (``pretrain/metadata.json``) and whose ``config.yaml`` was then edited by hand
    (``pretrain.lr`` -> 0.5). Returns the config.yaml's path."""
    from drac_ssl.config import load_config, save_config, to_dict

    source = make_finished_run(run_dir)
    saved = source / "config.yaml"
    (source / "pretrain" / "metadata.json").write_text(json.dumps({"config": to_dict(load_config(saved))}))
    save_config(load_config(saved, ["pretrain.lr=0.5"]), saved)  # the hand edit
    return saved
