"""A pretraining (or UMM) ``metadata.json`` that is valid JSON but not an object stops a bundle
build with the file, what is wrong and the fix, not ``AttributeError: 'list' object has no
attribute 'get'`` (a reviewer's finding); without the file the bundle says "unknown"."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from app.demo_bundle import build_demo_bundle
from drac_ssl import export
from drac_ssl.grading import bundle as bundles
from drac_ssl.grading.model import HEADS


@pytest.fixture()
def run(tmp_path: Path) -> tuple[Path, str]:
    """A run folder with fine-tuning outputs (the demo's), and its variant."""
    bundle_dir = build_demo_bundle(tmp_path / "run", image_size=32, source_size=48, n_folds=2)
    variant = json.loads((bundle_dir / "metadata.json").read_text())["variant"]
    assert variant in bundles.VARIANT_STAGE  # its backbone's stage metadata is read
    return tmp_path / "run", variant


@pytest.mark.parametrize("content", ["[1, 2]", "3", '"pretrain"', "null"])
def test_a_stage_metadata_that_is_not_an_object_is_a_clear_error(run: tuple[Path, str], content: str) -> None:
    run_dir, variant = run
    stage = run_dir / bundles.VARIANT_STAGE[variant]
    stage.mkdir(exist_ok=True)
    (stage / "metadata.json").write_text(content)
    kind = type(json.loads(content)).__name__
    with pytest.raises(bundles.BundleError) as caught:
        bundles.build_or_reuse_bundle(run_dir, variant, tmp := run_dir / "bundles" / "out")
    words = str(caught.value)
    assert words.startswith(f"{stage / 'metadata.json'}: the pretrained backbone's metadata is a {kind}, "
                            "not a JSON object\n  fix: "), words
    assert "restore it from a copy of the run, or rerun that stage" in words and "or delete it" in words
    assert not tmp.exists()  # nothing built

    (stage / "metadata.json").unlink()  # the fix taken: the build goes on, its pretraining unknown
    out, reused = bundles.build_or_reuse_bundle(run_dir, variant, tmp)
    assert not reused and json.loads((out / "metadata.json").read_text())["backbone_pretraining"] == {
        "stage": "unknown"}


def test_a_bundle_metadata_that_is_not_an_object_is_refused_by_the_loader(run: tuple[Path, str]) -> None:
    bundle_dir = run[0] / "bundle"
    (bundle_dir / "metadata.json").write_text("[]")
    with pytest.raises(bundles.BundleError, match=r"metadata.json: the bundle metadata is a list, not a JSON "
                                                  r"object\n  fix: "):
        bundles.load_bundle(bundle_dir)


def test_a_bundle_lacking_this_versions_records_is_rebuilt_not_reused(run: tuple[Path, str]) -> None:
    """The upgrade's rebuild command (``export RUN --variant NAME``) reused a bundle built before
    ``input_profile.sha256``, ``model_card.sha256`` and ``provenance.run_folder`` (or with a
    failed calibration called calibrated) unchanged, its fine-tuning outputs the same: it is
    rebuilt now, saying why."""
    run_dir, variant = run
    out, reused = bundles.build_or_reuse_bundle(run_dir, variant)
    assert not reused and bundles.build_or_reuse_bundle(run_dir, variant) == (out, True)
    meta_path = out / "metadata.json"
    fresh = json.loads(meta_path.read_text())
    assert not bundles.older_bundle_records(fresh)
    older = json.loads(meta_path.read_text())
    older.pop("model_card")
    older["provenance"].pop("run_folder")
    if isinstance(older.get("input_profile"), dict):
        older["input_profile"].pop("sha256", None)
    meta_path.write_text(json.dumps(older))
    said: list[str] = []
    assert bundles.build_or_reuse_bundle(run_dir, variant, said=said) == (out, False)
    assert said and said[0].startswith("rebuilt: older records (") and "no model_card.sha256" in said[0], said
    assert "no provenance.run_folder" in said[0]
    rebuilt = json.loads(meta_path.read_text())
    assert rebuilt["model_card"]["sha256"] and rebuilt["provenance"]["run_folder"] == "run"
    # words of a failed calibration's probabilities that call them calibrated: rebuilt too
    rebuilt["calibration"]["temperature"] = 100.0
    meta_path.write_text(json.dumps(rebuilt))
    assert "submission.P's words disagree with its calibration" in bundles.older_bundle_records(rebuilt)
    assert bundles.reusable_bundle(run_dir, variant) is None


@pytest.mark.parametrize(("head", "calibration_failed"), [
    *((head, False) for head in HEADS), ("regression", True), ("conv", True)])
def test_a_fresh_bundle_is_reused_by_the_next_identical_export(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        head: str, calibration_failed: bool) -> None:
    """A bundle the export has just built is reused by the same command again, for every head
    (:data:`drac_ssl.grading.model.HEADS`: classification and regression outputs) and with a
    failed calibration (temperature at its bound: ``submission.P`` in its 'NOT calibrated'
    words): :func:`drac_ssl.grading.bundle.older_bundle_records` finds nothing in what a build
    now writes. Typed as ``export . --variant NAME`` inside the run folder, as a user does:
    ``provenance.run_folder`` was ``Path('.').name == ''``, read as no record, and every export
    rebuilt the bundle ('rebuilt: older records (no provenance.run_folder)')."""
    build_demo_bundle(run_dir := tmp_path / "run", image_size=32, source_size=48, n_folds=2, head=head)
    variant = json.loads((run_dir / "bundle" / "metadata.json").read_text())["variant"]
    if calibration_failed:
        calibration = run_dir / "finetune" / variant / "calibration.json"
        calibration.write_text(json.dumps({**json.loads(calibration.read_text()), "temperature": 100.0}))
    (photos := tmp_path / "photos").mkdir()
    cv2.imwrite(str(photos / "scan.png"), np.full((48, 48), 90, np.uint8))
    monkeypatch.chdir(run_dir)
    lines = []
    for _ in range(2):
        code = export.main([".", "--variant", variant, "--images", str(photos), "--out", str(tmp_path / "g.csv")])
        assert code in (0, export.EXIT_FLAGGED)
        lines.append(next(line for line in capsys.readouterr().out.splitlines() if line.startswith("bundle:")))
    assert lines == [f"bundle: bundles/{variant} ({variant}, built from finetune/{variant})",
                     f"bundle: bundles/{variant} ({variant}, reused: built from the same fine-tuning outputs)"], lines
    meta = json.loads((run_dir / "bundles" / variant / "metadata.json").read_text())
    assert meta["provenance"]["run_folder"] == "run" and not bundles.older_bundle_records(meta)
    assert ("NOT calibrated" in meta["submission"]["P"]) is calibration_failed
    assert meta["model"]["output"] == HEADS[head]


def test_each_record_an_older_bundle_lacks_is_named_on_its_own() -> None:
    """Catches a dead check of the input profile's hash: a bundle whose profile has no sha256
    must be rebuilt (else its profile is used unverified for ever); each other lack is named
    alone, and a current record lacks none."""
    current = {"input_profile": {"file": "input_profile.npz", "sha256": "a" * 64},
               "model_card": {"file": "MODEL_CARD.md", "sha256": "b" * 64},
               "provenance": {"run_folder": "run1"}, "calibration": {"temperature": 1.3},
               "submission": {"P": bundles.SUBMISSION_P_CALIBRATED}}
    assert bundles.older_bundle_records(current) == []
    assert bundles.older_bundle_records({**current, "input_profile": {"file": "input_profile.npz"}}) == [
        "no input_profile.sha256"]
    assert bundles.older_bundle_records({**current, "input_profile": None}) == []  # no profile: nothing to hash
    assert bundles.older_bundle_records({**current, "model_card": {"file": "MODEL_CARD.md"}}) == [
        "no model_card.sha256"]
    assert bundles.older_bundle_records({**current, "provenance": {"run_folder": ""}}) == [
        "no provenance.run_folder"]
