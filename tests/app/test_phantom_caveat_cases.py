"""The three kinds of phantom data a bundle can have been trained on each carry their own
caveat, in the app (its result's caveat, its banner) and the export command (its warnings),
and real data none: a phantom run (its grades say nothing about a real eye), phantoms mixed
into the labelled images (the figures mix them), and phantoms only among the test images or
the ``data.unlabelled`` pool that the self-supervised pretraining read (the labelled images
real: an encoder that saw phantoms; a review found this case said nowhere in the app or the
export). The model card says the last case as it holds for the bundle's variant."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from app.demo_bundle import build_demo_bundle
from app.predict import Predictor
from app.server import _banner
from drac_ssl import export
from drac_ssl.grading.bundle import (
    _model_card,
    bundle_pretraining_phantoms,
    caveat_line,
    grade_caveats,
    pretraining_phantom_caveat,
)

POOL = {"marked": 3, "test": 2, "unlabelled": 1, "images": 5}
READ_ALL = "grey UW-OCTA images, 15 images (10 labelled; training and test images and 1 ungraded ones (data.unlabelled), no labels), ingest at data"
LEFT_OUT = ("grey UW-OCTA images, 11 images (10 labelled; training images and 1 ungraded ones "
            "(data.unlabelled), no labels (2 test images left out: pretrain.use_test_images=false)), ingest at data")

CASES: dict[str, dict[str, Any]] = {
    "real": {"kind": "drac", "layout": "drac", "n_train": 10},
    "phantom": {"kind": "phantom", "n_train": 10, "phantom_marked": 15},
    "mixed": {"kind": "drac", "layout": "drac", "n_train": 10, "phantom_marked": 3,
              "phantom_mixed": {"marked": 3, "images": 10, "labelled": True}},
    "pretraining": {"kind": "drac", "layout": "drac", "n_train": 10, "phantom_marked": 3,
                    "phantom_pretraining": POOL},
}

WORDS = {  # each case's own opening, said by no other case
    "phantom": "Trained on phantom images (procedural stand-ins, not patient data)",
    "mixed": "Trained on data of which 3 of 10 labelled images are synthetic phantoms",
    "pretraining": "Pretrained on synthetic phantoms too: 2 test images and 1 unlabelled (data.unlabelled) "
                   "image that its self-supervised pretraining read are synthetic phantoms (drac_ssl's "
                   "marker), none of the labelled images it was fine-tuned and measured on",
}


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_demo_bundle(tmp_path_factory.mktemp("cases") / "run", image_size=32, source_size=48,
                             n_folds=1)


def _meta(base: Path, case: str, **more: Any) -> dict[str, Any]:
    meta = json.loads((base / "metadata.json").read_text(encoding="utf-8"))
    meta.pop("demo")
    return {**meta, "data": CASES[case], "trial_run": {"trial": False}, "variant": "vicreg",
            "backbone_pretraining": {"stage": "pretrain", "training_data": READ_ALL}, **more}


def _bundle(base: Path, folder: Path, meta: dict[str, Any]) -> Path:
    shutil.copytree(base, folder)
    (folder / "metadata.json").write_text(json.dumps(meta), encoding="utf-8")
    return folder


def _phantom_words(said: list[str]) -> list[str]:
    return [s for s in said if "phantom" in s.lower()]


def test_each_case_has_its_own_caveat_and_real_data_none(base: Path) -> None:
    assert _phantom_words(grade_caveats(_meta(base, "real"))) == []
    for case, opening in WORDS.items():
        said = _phantom_words(grade_caveats(_meta(base, case)))
        assert len(said) == 1 and said[0].startswith(opening), (case, said)
        others = [w for c, w in WORDS.items() if c != case]
        assert not any(w in said[0] for w in others), (case, said)
    pool = _phantom_words(grade_caveats(_meta(base, "pretraining")))[0]
    assert pool.endswith("this grade comes from an encoder that learnt from phantoms as well as real images.")
    assert "say nothing about a real eye" not in pool and "the figures mix them" not in pool
    # neither a phantom run's lead-less line: real labelled images keep "Do not use this grade"
    assert caveat_line(_meta(base, "pretraining")).startswith("Do not use this grade to diagnose")
    assert "these grades come from an encoder" in pretraining_phantom_caveat(_meta(base, "pretraining"), plural=True)


def test_the_pretraining_caveat_follows_what_the_bundles_backbone_read(base: Path) -> None:
    """The scratch variant was never pretrained; a pretraining that left the test images out
    read none of the test phantoms; one that recorded neither is hedged."""
    assert bundle_pretraining_phantoms(_meta(base, "pretraining", variant="scratch")) is None
    assert _phantom_words(grade_caveats(_meta(base, "pretraining", variant="scratch"))) == []
    left_out = {"stage": "pretrain", "training_data": LEFT_OUT}
    assert bundle_pretraining_phantoms(_meta(base, "pretraining", backbone_pretraining=left_out)) == {
        "test": 0, "unlabelled": 1, "test_read": False}
    said = pretraining_phantom_caveat(_meta(base, "pretraining", backbone_pretraining=left_out))
    assert said.startswith("Pretrained on synthetic phantoms too: 1 unlabelled (data.unlabelled) image that "
                           "its self-supervised pretraining read is a synthetic phantom") and "test" not in said
    only_test = {**CASES["pretraining"], "phantom_pretraining": {**POOL, "marked": 2, "unlabelled": 0}}
    assert grade_caveats(_meta(base, "pretraining", data=only_test, backbone_pretraining=left_out)) == []
    unknown = pretraining_phantom_caveat(_meta(base, "pretraining", backbone_pretraining={"stage": "unknown"}))
    assert "(the test ones unless pretrain.use_test_images=false)" in unknown


def test_the_model_card_says_the_pretraining_case_as_it_holds_for_the_bundle(base: Path) -> None:
    read = _model_card(_meta(base, "pretraining"))
    assert "but the self-supervised pretraining read the phantoms too" in read
    assert "Take them out and train again for an encoder that saw real images alone." in read
    scratch = _model_card(_meta(base, "pretraining", variant="scratch"))
    assert "This bundle's variant, scratch, was not pretrained" in scratch and "Take them out" not in scratch
    only_test = {**CASES["pretraining"], "phantom_pretraining": {**POOL, "marked": 2, "unlabelled": 0}}
    left = _model_card(_meta(base, "pretraining", data=only_test,
                             backbone_pretraining={"stage": "pretrain", "training_data": LEFT_OUT}))
    assert "it read none of the phantoms" in left and "Take them out" not in left
    assert "phantom" not in _model_card(_meta(base, "real")).lower()


def test_the_app_and_the_export_say_each_case(base: Path, tmp_path: Path, one_thread: None,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    images = tmp_path / "images"
    images.mkdir()
    scan = cv2.resize(np.random.default_rng(0).integers(0, 256, (16, 16), dtype=np.uint8), (64, 64))
    assert cv2.imwrite(str(images / "a.png"), scan)
    for case in CASES:
        bundle = _bundle(base, tmp_path / case, _meta(base, case))
        predictor = Predictor(bundle, gradcam=False)
        banner = _banner(predictor)
        capsys.readouterr()
        assert export.main([str(bundle), "--images", str(images), "--out", str(tmp_path / f"{case}.csv")]) == 0
        stderr = capsys.readouterr().err
        if case == "real":
            assert "phantom" not in predictor.caveat.lower() and "phantom" not in banner.lower()
            assert "phantom" not in stderr.lower()
            continue
        assert WORDS[case] in predictor.caveat, (case, predictor.caveat)
        assert f"warning: {WORDS[case]}" in stderr, (case, stderr)
        assert not any(w in predictor.caveat or w in stderr for c, w in WORDS.items() if c != case)
        assert "hantom" in banner
    pretrained = _banner(Predictor(tmp_path / "pretraining", gradcam=False))
    assert "<b>Pretrained on synthetic phantoms too</b>: 2 test images and 1 unlabelled" in pretrained
    assert "its grades come from an encoder that learnt from phantoms as well as real images" in pretrained
    assert "Trained on" not in pretrained
