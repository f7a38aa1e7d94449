"""A bundle's weights are the ones its metadata.json records (security review F7).

``load_bundle`` hashes every weights file and compares it with the SHA-256 the fine-tuning
recorded (copied into the bundle's ``metadata.json``), and refuses weight names that would
read a file outside the bundle folder. The bundles here are demo bundles given the digests
``build_bundle`` writes (each fold's ``sha256``: ``{file name: hex digest}``); CPU, seconds.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from app.demo_bundle import build_demo_bundle
from drac_ssl import export
from drac_ssl.grading import bundle as bundles
from drac_ssl.grading.model import load_fold_model, weight_name_problem
from drac_ssl.io import sha256_file


def _hashed_bundle(tmp_path: Path) -> Path:
    """A 2-fold demo bundle (shared backbone) whose metadata records each file's SHA-256, as
    a bundle built from a run does."""
    bundle_dir = build_demo_bundle(tmp_path / "run", image_size=32, source_size=48, n_folds=2)
    meta_path = bundle_dir / "metadata.json"
    meta = json.loads(meta_path.read_text())
    for entry in meta["folds"]:
        entry["sha256"] = {name: sha256_file(bundle_dir / name) for name in entry["weights"]}
    meta_path.write_text(json.dumps(meta))
    return bundle_dir


def test_a_bundle_whose_files_match_loads_and_every_file_was_checked(tmp_path: Path) -> None:
    bundle_dir = _hashed_bundle(tmp_path)
    loaded = bundles.load_bundle(bundle_dir)
    assert len(loaded.models) == 2
    checked = bundles.verify_weight_hashes(bundle_dir, loaded.metadata)
    assert checked == ["backbone.safetensors", "fold0.safetensors", "fold1.safetensors"]


def test_swapped_fold_files_are_refused_naming_both_and_the_fix(tmp_path: Path) -> None:
    """The review swapped fold0 and fold1.safetensors: the bundle loaded without complaint."""
    bundle_dir = _hashed_bundle(tmp_path)
    a, b = bundle_dir / "fold0.safetensors", bundle_dir / "fold1.safetensors"
    want_a, want_b = sha256_file(a), sha256_file(b)
    assert want_a != want_b
    os.replace(a, bundle_dir / "tmp")
    os.replace(b, a)
    os.replace(bundle_dir / "tmp", b)
    with pytest.raises(bundles.BundleError) as caught:
        bundles.load_bundle(bundle_dir)
    words = str(caught.value)
    assert f"{a} (fold 0): SHA-256 {want_b[:12]}..." in words and f"recorded {want_a[:12]}..." in words
    assert f"{b} (fold 1): SHA-256 {want_a[:12]}..." in words
    assert "its content is fold1.safetensors's as recorded (the fold files were swapped or renamed)" in words
    assert "nothing was loaded" in words
    assert "fix: copy the whole bundle folder again" in words and "build_bundle(" in words


def test_a_changed_shared_backbone_names_every_fold_and_the_export_exits_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bundle_dir = _hashed_bundle(tmp_path)
    backbone = bundle_dir / "backbone.safetensors"
    data = bytearray(backbone.read_bytes())
    data[-1] ^= 0x01  # one bit of the last tensor: the file still reads as safetensors
    backbone.write_bytes(bytes(data))
    with pytest.raises(bundles.BundleError, match=r"backbone\.safetensors \(folds 0, 1\): SHA-256"):
        bundles.load_bundle(bundle_dir)
    (tmp_path / "imgs").mkdir()
    cv2.imwrite(str(tmp_path / "imgs" / "a.png"), np.full((48, 48), 90, np.uint8))
    code = export.main([str(bundle_dir), "--images", str(tmp_path / "imgs"), "--out", str(tmp_path / "s.csv")])
    err = capsys.readouterr().err
    assert code == 2 and "not the ones" in err and "Traceback" not in err
    assert not (tmp_path / "s.csv").exists()


def _unhashed(bundle_dir: Path, *, demo: bool = False, keep: tuple[str, ...] = ()) -> dict:
    """Make the bundle's ``metadata.json`` record no SHA-256 of its weights files but those in
    ``keep`` (as a bundle built before digests were recorded), a trained model's unless ``demo``."""
    meta_path = bundle_dir / "metadata.json"
    meta = json.loads(meta_path.read_text())
    for entry in meta["folds"]:
        entry["sha256"] = {name: digest for name, digest in entry["sha256"].items() if name in keep}
    if not demo:
        meta.pop("demo")
    meta_path.write_text(json.dumps(meta))
    return meta


def test_a_bundle_built_from_a_model_json_without_digests_records_them(tmp_path: Path) -> None:
    """The demo's model.json, as a run's fine-tuned before digests were recorded, has none: the
    build takes them of the bundle's files, so that later damage is caught and no note is due."""
    bundle_dir = build_demo_bundle(tmp_path / "run", image_size=32, source_size=48, n_folds=2)
    model_json = json.loads((tmp_path / "run" / "finetune" / "vicreg" / "model.json").read_text())
    assert all("sha256" not in entry for entry in model_json["folds"])
    meta = json.loads((bundle_dir / "metadata.json").read_text())
    for entry in meta["folds"]:
        assert entry["sha256"] == {name: sha256_file(bundle_dir / name) for name in entry["weights"]}
    loaded = bundles.load_bundle(bundle_dir)
    assert bundles.verify_weight_hashes(bundle_dir, meta) == [
        "backbone.safetensors", "fold0.safetensors", "fold1.safetensors"]
    assert bundles.weights_hash_note(loaded) is None and not bundles.older_bundle_records(meta)


def test_the_bundle_records_where_its_weights_digests_came_from(tmp_path: Path) -> None:
    """Review F3 of killtests6: digests taken at the build (the model.json had none) vouch for
    the files as they were then, not for the fine-tuning's output: metadata.json says which
    (``weights_sha256_from``), and the model card says so of the build's in one clause."""
    run = tmp_path / "run"
    bundle_dir = build_demo_bundle(run, image_size=32, source_size=48, n_folds=1)
    meta = json.loads((bundle_dir / "metadata.json").read_text())
    assert meta["weights_sha256_from"] == "build"
    # the package's card (the demo's own card says its weights are random: nothing to vouch for)
    card = bundles._model_card(meta)
    assert card.count(bundles.WEIGHTS_DIGEST_BUILD_WORDS) == 1
    assert "the cross-validated figures were measured; its weights' SHA-256 taken at the build: they catch later changes, " \
           "not damage before it." in " ".join(card.split()), card
    assert "taken at the build" not in bundles._model_card({**meta, "weights_sha256_from": "fine-tuning"})
    assert "taken at the build" not in bundles._model_card({k: v for k, v in meta.items()
                                                            if k != "weights_sha256_from"})
    # a model.json that records them (a run fine-tuned now): the fine-tuning's, no clause
    model_path = run / "finetune" / "vicreg" / "model.json"
    model_json = json.loads(model_path.read_text())
    vdir = model_path.parent
    for entry in model_json["folds"]:
        entry["sha256"] = {name: sha256_file(vdir / name) for name in entry["weights"]}
    model_path.write_text(json.dumps(model_json))
    again = bundles.build_bundle(run, "vicreg", tmp_path / "again")
    meta = json.loads((again / "metadata.json").read_text())
    assert meta["weights_sha256_from"] == "fine-tuning"


def test_a_bundle_without_recorded_digests_loads_with_a_note_and_is_rebuilt(tmp_path: Path) -> None:
    bundle_dir = build_demo_bundle(tmp_path / "run", image_size=32, source_size=48, n_folds=2)
    meta = _unhashed(bundle_dir)
    assert bundles.verify_weight_hashes(bundle_dir, meta) == []
    loaded = bundles.load_bundle(bundle_dir)
    assert len(loaded.models) == 2
    note = bundles.weights_hash_note(loaded)
    assert note is not None and note.startswith(f"{bundle_dir} records no SHA-256 of its weights files "
                                                f"(built before digests were recorded): the weights are "
                                                f"used unverified")
    assert "A rebuild records them, so later changes are caught: rebuild" in note and "build_bundle(" in note
    assert bundles.weights_hash_note(loaded, paths=False) == (
        f"This bundle {bundles.WEIGHTS_HASH_MISSING.format(what='its weights files')}; a rebuild records "
        f"them, so later changes are caught")
    assert "no weights sha256" in bundles.older_bundle_records(meta)  # the export rebuilds it


def test_only_the_unhashed_weights_files_are_named(tmp_path: Path) -> None:
    bundle_dir = build_demo_bundle(tmp_path / "run", image_size=32, source_size=48, n_folds=2)
    _unhashed(bundle_dir, keep=("backbone.safetensors", "fold0.safetensors"))
    note = bundles.weights_hash_note(bundles.load_bundle(bundle_dir), paths=False)
    assert note is not None and "records no SHA-256 of its weights file(s) fold1.safetensors (built" in note


def test_an_empty_recorded_digest_is_no_digest(tmp_path: Path) -> None:
    """A weights SHA-256 recorded as "" vouches for nothing: the file is unverified, named in
    the note, and the export rebuilds the bundle, as for a digest never recorded (a mutation
    audit M15: "" counted as recorded lived, a bundle so edited would pass as verified)."""
    bundle_dir = build_demo_bundle(tmp_path / "run", image_size=32, source_size=48, n_folds=2)
    meta_path = bundle_dir / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta.pop("demo")
    meta["folds"][1]["sha256"]["fold1.safetensors"] = ""
    meta_path.write_text(json.dumps(meta))
    assert bundles.verify_weight_hashes(bundle_dir, meta) == ["backbone.safetensors", "fold0.safetensors"]
    note = bundles.weights_hash_note(bundles.load_bundle(bundle_dir), paths=False)
    assert note is not None and "records no SHA-256 of its weights file(s) fold1.safetensors (built" in note
    assert bundles.WEIGHTS_UNHASHED_RECORD in bundles.older_bundle_records(meta)


def test_a_demo_bundle_without_digests_gets_no_note(tmp_path: Path) -> None:
    bundle_dir = build_demo_bundle(tmp_path / "run", image_size=32, source_size=48, n_folds=1)
    _unhashed(bundle_dir, demo=True)
    assert bundles.weights_hash_note(bundles.load_bundle(bundle_dir)) is None


@pytest.mark.parametrize("name", ["/ABS", "../fold0.safetensors", "sub/fold0.safetensors",
                                  "sub\\fold0.safetensors", "..", "C:fold0.safetensors", "", 3])
def test_weight_names_that_leave_the_bundle_folder_are_refused_before_any_file_is_opened(
        tmp_path: Path, name: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """The review put /etc/passwd in metadata.json's weights list and it was opened."""
    bundle_dir = _hashed_bundle(tmp_path)
    outside = tmp_path / "outside.safetensors"  # a real weights file outside the bundle
    shutil.copyfile(bundle_dir / "fold0.safetensors", outside)
    if name == "/ABS":
        name = str(outside)
    meta_path = bundle_dir / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["folds"][0]["weights"][1] = name
    meta_path.write_text(json.dumps(meta))

    def no_reading(*args: object, **kwargs: object) -> None:
        raise AssertionError("a weights file was read")

    monkeypatch.setattr(bundles, "sha256_file", no_reading)
    with pytest.raises(bundles.BundleError) as caught:
        bundles.load_bundle(bundle_dir)
    words = str(caught.value)
    assert f"{meta_path}: fold 0's weights file {name!r}" in words
    assert "nothing was opened" in words and "fix:" in words
    assert weight_name_problem(name) is not None


def test_load_fold_model_refuses_a_path_as_a_weights_name(tmp_path: Path) -> None:
    bundle_dir = _hashed_bundle(tmp_path)
    meta = json.loads((bundle_dir / "metadata.json").read_text())
    entry = {"fold": 0, "weights": [str(bundle_dir / "backbone.safetensors"), "fold0.safetensors"]}
    with pytest.raises(ValueError, match="is not a bare file name"):
        load_fold_model(meta, bundle_dir, entry)
    assert weight_name_problem("fold0.safetensors") is None
    assert weight_name_problem("backbone.safetensors") is None


@pytest.mark.parametrize("recorded", [True, False])
def test_weights_the_serving_account_cannot_read_are_a_bundle_error_with_the_access_fix(
        tmp_path: Path, recorded: bool, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Review F3: the bundle copied and made read-only to the app's account, the weights (written
    0600 by their owner) unreadable there: a PermissionError escaped as a traceback, and the
    export said "check that it can be written". Root reads any file, so the refusal is played."""
    import errno

    from drac_ssl import weights_file

    bundle_dir = (_hashed_bundle(tmp_path) if recorded
                  else build_demo_bundle(tmp_path / "run", image_size=32, source_size=48, n_folds=2))
    denied = bundle_dir / "fold0.safetensors"
    real_hash, real_load = bundles.sha256_file, weights_file.load_safetensors

    def refused(read):  # type: ignore[no-untyped-def]
        def reading(path):  # type: ignore[no-untyped-def]
            if Path(path) == denied:
                raise PermissionError(errno.EACCES, "Permission denied", str(path))
            return read(path)
        return reading

    monkeypatch.setattr(bundles, "sha256_file", refused(real_hash))
    monkeypatch.setattr("safetensors.torch.load_file", refused(__import__("safetensors.torch").torch.load_file))
    assert weights_file.load_safetensors is real_load
    with pytest.raises(bundles.BundleError) as caught:
        bundles.load_bundle(bundle_dir)
    words = str(caught.value)
    assert str(denied) in words and "cannot read" in words and "damaged" not in words
    assert "needs read access" in words and f"chmod -R a+rX {bundle_dir}" in words and "chgrp" in words
    (tmp_path / "imgs").mkdir()
    cv2.imwrite(str(tmp_path / "imgs" / "a.png"), np.full((48, 48), 90, np.uint8))
    code = export.main([str(bundle_dir), "--images", str(tmp_path / "imgs"), "--out", str(tmp_path / "s.csv")])
    err = capsys.readouterr().err
    assert code == 2 and "needs read access" in err and "can be written" not in err and "Traceback" not in err


def test_the_deploying_page_says_the_serving_account_needs_read_access() -> None:
    page = " ".join((Path(__file__).resolve().parents[2] / "docs" / "deploying.md").read_text().split())
    assert "chmod -R a+rX" in page and "mode 0600" in page


@pytest.mark.parametrize("name", ["/ABS", "../input_profile.npz", "sub/input_profile.npz", 7])
def test_an_input_profile_name_that_leaves_the_bundle_folder_is_refused(
        tmp_path: Path, name: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """Review F6: metadata.json's ``input_profile.file`` was opened whatever it named."""
    bundle_dir = _hashed_bundle(tmp_path)
    outside = tmp_path / "outside.npz"
    np.savez(outside, x=np.zeros(2))
    if name == "/ABS":
        name = str(outside)
    meta_path = bundle_dir / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["input_profile"] = {"file": name, "how": "edited"}
    meta_path.write_text(json.dumps(meta))

    def no_reading(*args: object, **kwargs: object) -> None:
        raise AssertionError("the profile was read")

    monkeypatch.setattr(bundles.InputProfile, "load", no_reading)
    with pytest.raises(bundles.BundleError) as caught:
        bundles.load_bundle(bundle_dir)
    words = str(caught.value)
    assert f"{meta_path}: the input profile's file (input_profile.file) {name!r}" in words
    assert "nothing was opened" in words and "fix:" in words


@pytest.mark.parametrize("channels", [2, 0, "3", True, None])
def test_a_bundle_of_other_input_channels_is_refused_naming_its_metadata(tmp_path: Path, channels: object) -> None:
    """``input.channels`` 2 (an edited metadata.json) loaded and failed at the first image;
    a model reads 1 (grey) or 3 (RGB) channels."""
    bundle_dir = _hashed_bundle(tmp_path)
    meta_path = bundle_dir / "metadata.json"
    meta = json.loads(meta_path.read_text())
    if channels is None:
        del meta["input"]["channels"]
    else:
        meta["input"]["channels"] = channels
    meta_path.write_text(json.dumps(meta))
    shown = "'missing'" if channels is None else repr(channels)
    with pytest.raises(bundles.BundleError, match=re.escape(f"{meta_path}: the bundle metadata's input.channels "
                                                            f"is {shown}, not 1 (grey) or 3 (RGB)")):
        bundles.load_bundle(bundle_dir)
