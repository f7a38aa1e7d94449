"""The page and the model card say what the model does not assess (a clinician review): the
disclaimers said "not a medical device" but nothing of diabetic macular oedema or other eye
disease, and P(referable) is computed from the DR grade alone while a clinical referral also
covers macular oedema."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from app.demo_bundle import build_demo_bundle
from app.predict import Predictor

NOT_ASSESSED = "does not assess diabetic macular oedema or any other eye disease"


def test_the_banner_and_the_model_card_say_what_the_model_does_not_assess(predictor: Predictor) -> None:
    from app.server import _banner
    from drac_ssl.grading.bundle import SCOPE_WORDS

    assert NOT_ASSESSED in SCOPE_WORDS and "diabetic retinopathy" in SCOPE_WORDS
    assert SCOPE_WORDS in _banner(predictor)
    card = (predictor.path / "MODEL_CARD.md").read_text(encoding="utf-8")
    limitations = card[card.index("## Limitations"):]
    assert SCOPE_WORDS in limitations


def test_p_referable_says_it_comes_from_the_dr_grade_alone(tmp_path: Path, one_thread: None) -> None:
    from app.server import _result_markdown
    from drac_ssl.grading.bundle import REFERABLE_SCOPE_WORDS

    assert "from the DR grade alone" in REFERABLE_SCOPE_WORDS and "macular oedema" in REFERABLE_SCOPE_WORDS
    icdr = ["No DR", "Mild", "Moderate", "Severe", "PDR"]
    bundle_dir = build_demo_bundle(tmp_path / "run", image_size=32, source_size=32, n_folds=1,
                                   grade_names=icdr, channels=3)
    meta = json.loads((bundle_dir / "metadata.json").read_text())
    meta["cv_metrics"]["referable"] = {"from_grade": 2, "rule": "referable = grade >= 2 (Moderate or worse)",
                                       "n_referable": 10, "n_not": 20, "auc": 0.9, "auc_ci95": [0.8, 0.95],
                                       "auc_note": None, "sensitivity": 0.7, "specificity": 0.8}
    (bundle_dir / "metadata.json").write_text(json.dumps(meta))
    five = Predictor(bundle_dir, gradcam=False)
    pred = five.predict(np.full((40, 40, 3), 90, np.uint8))
    page = _result_markdown(pred, five)
    referable = next(line for line in page.splitlines() if line.startswith("P(referable"))
    assert REFERABLE_SCOPE_WORDS in referable
    from drac_ssl.grading.bundle import _model_card

    card = _model_card(meta)  # the card of a bundle that reports referable DR says it too
    assert REFERABLE_SCOPE_WORDS in card[card.index("## Limitations"):]
    card = (bundle_dir / "MODEL_CARD.md").read_text(encoding="utf-8")  # built without it: not
    assert REFERABLE_SCOPE_WORDS not in card
