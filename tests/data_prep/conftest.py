"""Shared fixtures of the data_prep tests (and ``count_decodes``, the decoder call counter): the real samples under ``$DRAC_SSL_SHARED_DATA`` or
``../shared/data`` (tests/helpers/shared_data.py)."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from shared_data import SHARED_DATA, need

from data_prep import validate

DRAC_SAMPLES = SHARED_DATA / "drac_samples"
APTOS_SAMPLES = SHARED_DATA / "aptos_samples"
RETINAMNIST = SHARED_DATA / "retinamnist" / "retinamnist_public.npz"
DRAC_LABELS = SHARED_DATA / "drac_labels" / "DRAC2022_ Diabetic Retinopathy Grading_Training Labels.csv"


@pytest.fixture(scope="session")
def drac_samples() -> list[np.ndarray]:
    """The three real DRAC 2022 UW-OCTA images (1024 x 1024 uint8 grey), grades 0, 1, 2."""
    need(DRAC_SAMPLES, "the real DRAC samples")
    return [np.array(Image.open(DRAC_SAMPLES / f"sample_{i}.png")) for i in range(3)]


@pytest.fixture(scope="session")
def aptos_dir() -> Path:
    """The 30 real APTOS 2019 samples in the Kaggle layout (train.csv + train_images/)."""
    return need(APTOS_SAMPLES, "the real APTOS samples")


@pytest.fixture(scope="module")  # per module: a test may alter the pixels it was given
def aptos(aptos_dir: Path) -> list[tuple[str, int, np.ndarray]]:
    """(id_code, grade, RGB pixels) of the 30 real APTOS samples, in CSV order (the layouts'
    tests build their trees from them: test_layouts.py, test_deepdrid_repacked_and_merged.py)."""
    with open(aptos_dir / "train.csv", newline="", encoding="utf-8") as fh:
        rows = [(r["id_code"], int(r["diagnosis"])) for r in csv.DictReader(fh)]
    return [(code, grade, np.array(Image.open(aptos_dir / "train_images" / f"{code}.png")))
            for code, grade in rows]


@pytest.fixture
def count_decodes(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Count calls of the decoder (the tests run the ingest in-process, workers=1)."""
    counter: Counter[str] = Counter()
    real = validate.decode_image

    def counting(data: bytes) -> np.ndarray | None:
        counter["decodes"] += 1
        return real(data)

    monkeypatch.setattr(validate, "decode_image", counting)
    return counter
