"""bench.inference on a tiny untrained bundle (2 folds, 32 px; CPU, seconds)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from app.demo_bundle import build_demo_bundle
from bench import inference
from drac_ssl import export
from drac_ssl.grading import predict


def test_chunks_cover_every_image_once() -> None:
    parts = inference.chunks(10, 4)
    assert [(s.start, s.stop) for s in parts] == [(0, 4), (4, 8), (8, 10)]
    assert inference.chunks(0, 4) == []
    # each case names the check: range() refuses a step of 0 by itself, a -1 would give []
    for size in (0, -1):
        with pytest.raises(ValueError, match="batch size must be >= 1"):
            inference.chunks(3, size)


def test_images_per_second_times_every_batch_after_the_warmup() -> None:
    calls: list[tuple[int, int]] = []
    rate, seconds = inference.images_per_second(lambda s: calls.append((s.start, s.stop)), 5, 2,
                                                warmup=3, device=torch.device("cpu"))
    assert calls == [(0, 3), (0, 2), (2, 4), (4, 5)]
    assert rate > 0 and seconds > 0


def test_main_measures_the_package_path_on_a_given_bundle(tmp_path: Path) -> None:
    bundle = build_demo_bundle(tmp_path / "run", image_size=32, source_size=48, n_folds=2)
    rc = inference.main(["--bundle", str(bundle), "--device", "cpu", "--images", "3",
                         "--batch-size", "2", "--out-dir", str(tmp_path), "--name", "inf"])
    assert rc == 0
    result = json.loads((tmp_path / "inf.json").read_text())
    assert result["folds"] == 2 and result["tta_flips"] == 4 and result["head_passes_per_image"] == 8
    # the demo bundle is frozen: the folds share one backbone, run once per flip
    assert result["backbone_shared_by_folds"] and result["backbone_passes_per_image"] == 4
    assert result["batch_size"] == 2 and result["images"] == 3 and result["device_kind"] == "cpu"
    figures = result["results"]
    assert figures["model_images_per_s"] > 0 and figures["end_to_end_images_per_s"] > 0
    assert "model_bf16_images_per_s" not in figures  # CUDA only


def test_bf16_ensemble_gives_the_same_probabilities_up_to_rounding(tmp_path: Path) -> None:
    bundle = export.load_bundle(build_demo_bundle(tmp_path / "run", image_size=32, source_size=48,
                                                  n_folds=2))
    rng = np.random.default_rng(0)
    x = torch.stack([export.preprocess_image(rng.integers(0, 256, (48, 48), dtype=np.uint8),
                                             bundle.metadata) for _ in range(3)])
    probs, _, _ = predict.predict_tensors(bundle, x, tta=True)
    low = inference.bf16_ensemble(bundle, x, tta=True)
    assert low.shape == probs.shape == (3, 3)
    np.testing.assert_allclose(low, probs, atol=0.05)


def test_a_damaged_bundle_is_an_error_line_and_exit_2(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    bundle = build_demo_bundle(tmp_path / "run", image_size=32, source_size=48, n_folds=2)
    (bundle / "backbone.safetensors").write_bytes(b"")
    args = ["--bundle", str(bundle), "--device", "cpu", "--out-dir", str(tmp_path), "--name", "inf"]
    rc = inference.main(args)
    err = capsys.readouterr().err  # the build recorded its digest: refused before it is read
    assert rc == 2 and "backbone.safetensors (folds 0, 1): SHA-256" in err and "not the ones" in err, err
    meta = json.loads((bundle / "metadata.json").read_text())
    for entry in meta["folds"]:  # a bundle built before digests were recorded: read, and refused
        del entry["sha256"]
    (bundle / "metadata.json").write_text(json.dumps(meta))
    rc = inference.main(args)
    err = capsys.readouterr().err
    assert rc == 2 and "backbone.safetensors: a damaged safetensors file" in err
    assert not (tmp_path / "inf.json").exists()
