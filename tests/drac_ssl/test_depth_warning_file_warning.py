"""The bit-depth doubt of :func:`drac_ssl.grading.predict.read_image` is a
:class:`~drac_ssl.grading.predict.FileWarning` like every other warning it returns (review of
the bitdepth merge, F1: it was a plain ``NAME: WORDS`` string, so ``.name`` / ``.words`` failed
on it and ``grade_images(file_warnings=...)`` without ``paths`` refused it, its words holding
": " more than once)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from app.demo_bundle import build_demo_bundle
from drac_ssl.grading import FileWarning, grade_images, load_bundle, read_image
from drac_ssl.grading.bundle import Bundle
from drac_ssl.grading.image_notes import OTHER_DEPTH


@pytest.fixture(scope="module")
def eight_bit_bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    """An untrained grey demo bundle whose training images were 8-bit files."""
    folder = build_demo_bundle(tmp_path_factory.mktemp("run"), image_size=32, source_size=48, n_folds=1)
    meta = json.loads((folder / "metadata.json").read_text())
    meta["data"]["train_bit_depths"] = [{"file": "8-bit", "encoding": "grey", "bits_used": 8, "n_train": 30}]
    (folder / "metadata.json").write_text(json.dumps(meta))
    return load_bundle(folder)


def test_every_warning_of_a_16_bit_file_is_a_file_warning_and_grades_without_paths(
        eight_bit_bundle: Bundle, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    smooth = cv2.resize(rng.uniform(0.05, 1.0, (8, 8)).astype(np.float32), (64, 64))
    path = tmp_path / "deep scan.png"
    assert cv2.imwrite(str(path), np.round(smooth / smooth.max() * 65535).astype(np.uint16))
    bundle = eight_bit_bundle
    image, said = read_image(path, bundle.spec.channels, kind=bundle.kind, bit_depths=bundle.bit_depths)
    depth = [w for w in said if OTHER_DEPTH in w]
    assert len(depth) == 1, said
    assert all(isinstance(w, FileWarning) for w in said), [type(w).__name__ for w in said]
    assert depth[0].name == "deep scan.png" and depth[0].words.startswith(f"{OTHER_DEPTH}: this file is 16-bit")
    graded = grade_images(bundle, [image], file_warnings=[said])  # no paths
    assert graded.file_warnings == [[w.words for w in said]]
    assert graded.not_reliably_gradable == [[]]  # a doubt, not "not reliably gradable"
