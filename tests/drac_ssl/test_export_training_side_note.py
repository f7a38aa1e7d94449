"""A DRAC participant's finding (F2): ``export RUN --images DIR`` graded test images of another
size than the training images (512x512 on a model trained on 1024x1024) silently, where the
ingest warns ``size 512x512, not 1024x1024 (resized to the cache sizes)``. The export now says
it as a note, in the ingest's words, for a UW-OCTA bundle whose training images all had one
side (``data.train_image_sides``). An untrained demo bundle grades; CPU, seconds."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from drac_ssl import export
from drac_ssl.grading import load_bundle


def _scan(side: int, seed: int) -> np.ndarray:
    """A grey picture with structure (neither blank nor noise)."""
    rng = np.random.default_rng(seed)
    smooth = np.cumsum(np.cumsum(rng.normal(size=(side, side)), axis=0), axis=1)
    smooth -= smooth.min()
    return (255 * smooth / smooth.max()).astype(np.uint8)


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A grey (UW-OCTA) demo bundle whose 30 training images were all 64 px a side."""
    from app.demo_bundle import build_demo_bundle

    folder = build_demo_bundle(tmp_path_factory.mktemp("run") / "run", image_size=32, source_size=48,
                               n_folds=1)
    meta = json.loads((folder / "metadata.json").read_text())
    meta.setdefault("data", {})["train_image_sides"] = {"n": 30, "min": 64, "p05": 64, "median": 64, "max": 64}
    (folder / "metadata.json").write_text(json.dumps(meta))
    return folder


def test_a_test_image_of_another_size_than_the_training_images_gets_the_ingest_s_note(
        bundle_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert load_bundle(bundle_dir).training_side == 64
    folder = tmp_path / "test"
    folder.mkdir()
    assert cv2.imwrite(str(folder / "001.png"), _scan(64, 0))
    assert cv2.imwrite(str(folder / "002.png"), _scan(40, 1))
    code = export.main([str(bundle_dir), "--images", str(folder), "--out", str(tmp_path / "s.csv")])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "note: 002.png: size 40x40, not 64x64 (resized to the cache sizes)" in err.splitlines(), err
    assert "001.png: size" not in err  # the training size: nothing said

    # sizes that varied in training: nothing to compare with
    varied = shutil.copytree(bundle_dir, tmp_path / "varied")
    meta = json.loads((varied / "metadata.json").read_text())
    meta["data"]["train_image_sides"]["max"] = 80
    (varied / "metadata.json").write_text(json.dumps(meta))
    assert load_bundle(varied).training_side is None
