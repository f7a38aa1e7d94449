"""A folder of 20 fundus-like images named by eye, two per patient (``<id>_OD`` then
``<id>_OS``), with their label CSV, ingested (tests/helpers is on the test path: ``from
eye_pairs import ingest_eye_pairs``): for the checks that warn of eye names used as patients."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from data_prep import ingest
from drac_ssl.config import DataConfig


def ingest_eye_pairs(tmp_path: Path, patient_name: Callable[[int], str],
                     patient_column: str | None = None) -> ingest.IngestResult:
    """Ingest (32 px, 2 folds, ICDR grades ``i % 5``) 20 images ``<patient_name(i // 2)>_OD.jpg``
    / ``_OS.jpg`` written under ``tmp_path / "d"`` into ``tmp_path / "out"``; with
    ``patient_column``, the label CSV's first column of that name holds each patient as
    ``{i // 2:03d}``, and the ingest is not told of it (no ``--patient-column``)."""
    root = tmp_path / "d"
    root.mkdir()
    rng = np.random.default_rng(3)
    lines = [f"{patient_column},image name,DR grade" if patient_column else "image name,DR grade"]
    for i in range(20):
        name = f"{patient_name(i // 2)}_{'OD' if i % 2 == 0 else 'OS'}.jpg"
        coarse = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        Image.fromarray(coarse).resize((64, 64), Image.Resampling.BILINEAR).save(root / name)
        lines.append(f"{i // 2:03d},{name},{i % 5}" if patient_column else f"{name},{i % 5}")
    (root / "labels.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return ingest.run(DataConfig(root=str(root), cache_sizes=[32], n_folds=2, workers=1,  # type: ignore[arg-type]
                                 grades=["icdr"]), tmp_path / "out", verbose=False)
