"""The page and the model card say what the model does not assess (a clinician review): the
disclaimers said "not a medical device" but nothing of diabetic macular oedema or other eye
disease, and P(referable) is computed from the DR grade alone while a clinical referral also
covers macular oedema."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from app_fixtures import icdr_bundle_reporting_referable

from app.predict import Predictor

NOT_ASSESSED = "does not assess diabetic macular oedema or any other eye disease"


def test_the_banner_and_the_model_card_say_what_the_model_does_not_assess(
        predictor: Predictor, tmp_path: Path, one_thread: None) -> None:
    """A trained bundle says SCOPE_WORDS; the untrained demo bundle (``predictor``) says
    DEMO_SCOPE_WORDS instead (a review: "This model grades DR severity only" in a card that says
    the bundle is not even a model of the task)."""
    import json

    from app.server import _banner
    from drac_ssl.grading.bundle import DEMO_SCOPE_WORDS, SCOPE_WORDS, _model_card

    assert NOT_ASSESSED in SCOPE_WORDS and "diabetic retinopathy" in SCOPE_WORDS
    assert "macular oedema" in DEMO_SCOPE_WORDS and "grades nothing" in DEMO_SCOPE_WORDS
    # the demo: its own words in the banner and its card's limitations, not the model's claim
    assert DEMO_SCOPE_WORDS in _banner(predictor) and SCOPE_WORDS not in _banner(predictor)
    card = (predictor.path / "MODEL_CARD.md").read_text(encoding="utf-8")
    limitations = card[card.index("## Limitations"):]
    assert DEMO_SCOPE_WORDS in " ".join(limitations.split()) and SCOPE_WORDS not in card
    # a bundle that is not a demo (its metadata without "demo"): the model's scope sentence
    bundle_dir, meta = icdr_bundle_reporting_referable(tmp_path / "run")
    meta.pop("demo", None)
    (bundle_dir / "metadata.json").write_text(json.dumps(meta))
    trained = Predictor(bundle_dir, gradcam=False)
    assert SCOPE_WORDS in _banner(trained) and DEMO_SCOPE_WORDS not in _banner(trained)
    card = _model_card(meta)
    assert SCOPE_WORDS in card[card.index("## Limitations"):]


def test_p_referable_says_it_comes_from_the_dr_grade_alone(tmp_path: Path, one_thread: None) -> None:
    from app.server import _result_markdown
    from drac_ssl.grading.bundle import REFERABLE_SCOPE_WORDS

    assert "from the DR grade alone" in REFERABLE_SCOPE_WORDS and "macular oedema" in REFERABLE_SCOPE_WORDS
    bundle_dir, meta = icdr_bundle_reporting_referable(tmp_path / "run")
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
