"""A UW-OCTA model's result heads its doubts "This may not be a UW-OCTA en-face image" only when a
doubt is about what the image is (unlike the training images, a colour picture, a mask, a
phantom); doubts about the file alone (bit depth, size) get the neutral "Check this image before
reading the grade" (an ophthalmologist's trial: a real DRAC scan saved as a 12-bit TIFF, graded
as its PNG, was headed as maybe not UW-OCTA)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from app.demo_bundle import build_demo_bundle
from app.predict import Predictor
from app.server import CHECK_HEADING, MODALITY_HEADING, _result_markdown, doubts_modality
from drac_ssl.grading.image_notes import (
    DOUBT_KINDS,
    MODALITY_DOUBTS,
    UNLIKE_TRAINING,
    other_depth_warning,
)
from tests.helpers.app_fixtures import result_said, trained_demo

DEPTH = other_depth_warning(("16-bit", 12), [("8-bit", 8, 611)])


@pytest.fixture(scope="module")
def octa(tmp_path_factory: pytest.TempPathFactory, one_thread: None) -> Predictor:
    return trained_demo(tmp_path_factory.mktemp("octa"))


def test_a_bit_depth_doubt_gets_the_neutral_heading(octa: Predictor) -> None:
    assert octa.kind == "octa" and DEPTH and not doubts_modality(DEPTH)
    said = result_said(octa, [0.1, 0.2, 0.7], 2, [DEPTH])
    assert CHECK_HEADING in said and "may not be a UW-OCTA" not in said, said
    assert "(⚠ see above)" in said  # still a doubt said above the grade


def test_a_doubt_about_what_the_image_is_keeps_the_modality_heading(octa: Predictor) -> None:
    unlike = f"{UNLIKE_TRAINING}: far from every one of them on the model's features."
    assert doubts_modality(unlike)
    said = result_said(octa, [0.1, 0.2, 0.7], 2, [DEPTH, unlike])
    assert MODALITY_HEADING in said and CHECK_HEADING not in said, said


def test_each_modality_doubt_is_a_kind_of_the_batch_summary() -> None:
    # a review: the app copied three of DOUBT_KINDS' patterns; one table now, its kinds
    kinds = {kind for _, kind in DOUBT_KINDS}
    assert MODALITY_DOUBTS and set(MODALITY_DOUBTS) <= kinds, set(MODALITY_DOUBTS) - kinds
    assert "image of another bit depth" in kinds and "image of another bit depth" not in MODALITY_DOUBTS
    assert doubts_modality(UNLIKE_TRAINING + " (distance 9 > 3).")


def test_a_fundus_model_s_modality_doubt_gets_the_neutral_heading(tmp_path_factory: pytest.TempPathFactory,
                                                                  one_thread: None) -> None:
    # the UW-OCTA heading is the octa recipe's alone (mutation audit M39: it was any model's)
    bundle = build_demo_bundle(tmp_path_factory.mktemp("fundus"), image_size=32, source_size=48, n_folds=1,
                               channels=3)
    meta = json.loads((bundle / "metadata.json").read_text())
    meta.pop("demo")  # taken for trained, as trained_demo's
    (bundle / "metadata.json").write_text(json.dumps(meta))
    fundus = Predictor(bundle, gradcam=False)
    unlike = f"{UNLIKE_TRAINING}: far from every one of them on the model's features."
    assert fundus.kind != "octa" and doubts_modality(unlike)
    pred = fundus.predict(np.full((48, 48, 3), 90, np.uint8), gradcam=False)
    said = _result_markdown(replace(pred, warnings=[unlike, *pred.warnings]), fundus)
    assert CHECK_HEADING in said and MODALITY_HEADING not in said and "UW-OCTA" not in said, said
