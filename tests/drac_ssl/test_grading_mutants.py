"""Tests written to kill mutants that survived a mutation audit of drac_ssl/grading/: each
asserts a rule the rest of the suite did not pin (two folds recording different digests for one
shared file, argmax ties, a model output count that disagrees with the grade names)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from app.demo_bundle import build_demo_bundle
from drac_ssl.grading import bundle as bundles
from drac_ssl.grading.model import Calibration
from drac_ssl.io import sha256_file


def _demo(tmp_path: Path) -> tuple[Path, dict]:
    bundle_dir = build_demo_bundle(tmp_path / "run", image_size=32, source_size=48, n_folds=2)
    return bundle_dir, json.loads((bundle_dir / "metadata.json").read_text())


def test_folds_recording_different_digests_for_one_shared_backbone_are_refused(tmp_path: Path) -> None:
    """Fold 0 records the backbone's true SHA-256, fold 1 another: the file matches one of them,
    but the folds disagree on what the backbone is, so the bundle is refused, naming both folds."""
    bundle_dir, meta = _demo(tmp_path)
    for entry in meta["folds"]:
        entry["sha256"] = {name: sha256_file(bundle_dir / name) for name in entry["weights"]}
    assert "backbone.safetensors" in meta["folds"][1]["weights"]
    meta["folds"][1]["sha256"]["backbone.safetensors"] = "ab" * 32
    (bundle_dir / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(bundles.BundleError, match=r"backbone\.safetensors \(folds 0, 1\): SHA-256") as caught:
        bundles.load_bundle(bundle_dir)
    assert "abababababab..." in str(caught.value)


def test_argmax_ties_go_to_the_first_grade() -> None:
    """most_likely_grade's documented rule: among equal maxima the lowest grade wins."""
    cal = Calibration("classification", 1.0, (0.5, 1.5), "argmax")
    probs = np.array([[0.4, 0.4, 0.2], [0.2, 0.4, 0.4], [0.25, 0.5, 0.25]])
    assert cal.grades_of(probs, np.array([0.8, 1.2, 1.0])).tolist() == [0, 1, 1]


def test_a_model_output_count_other_than_the_grade_names_is_refused_at_load(tmp_path: Path) -> None:
    """The fold weights really have one head output more than the grade names (and their digests
    are recorded anew), so the weights fit the model metadata.json describes: only the count
    check refuses the bundle (review F4 of killtests6: a weight-shape mismatch refused it too)."""
    bundle_dir, meta = _demo(tmp_path)
    names = len(bundles.grade_names_of(meta))
    meta["model"]["num_grades"] = names + 1
    for entry in meta["folds"]:
        fold_file = bundle_dir / f"fold{entry['fold']}.safetensors"
        tensors = load_file(str(fold_file))
        assert tensors["head.fc.weight"].shape[0] == names
        tensors["head.fc.weight"] = torch.cat([tensors["head.fc.weight"], tensors["head.fc.weight"][:1]])
        tensors["head.fc.bias"] = torch.cat([tensors["head.fc.bias"], tensors["head.fc.bias"][:1]])
        fold_file.unlink()  # a hard link to the fine-tuning's file: a new file, not written into it
        save_file(tensors, str(fold_file))
        entry["sha256"] = {name: sha256_file(bundle_dir / name) for name in entry["weights"]}
    (bundle_dir / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(bundles.BundleError, match=rf"{names} grade names, {names - 1} thresholds and a "
                                                  rf"{names + 1}-grade model disagree"):
        bundles.load_bundle(bundle_dir)
