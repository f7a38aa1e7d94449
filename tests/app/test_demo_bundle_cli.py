"""``python -m app.demo_bundle``: a trial found it silent on success (where is the bundle, how
is it opened?) and its --help options without descriptions."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.demo_bundle import main


def test_it_says_where_it_wrote_the_bundle_and_how_to_open_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], one_thread: None) -> None:
    assert main([str(tmp_path / "demo"), "--image-size", "32", "--source-size", "48", "--folds", "1"]) == 0
    out = capsys.readouterr().out
    bundle = tmp_path / "demo" / "bundle"
    assert (bundle / "metadata.json").is_file()
    assert "Wrote an UNTRAINED demo bundle" in out and f"to {bundle}\n" in out, out
    assert re.search(rf"Open it in the app: \S*python\S* -m app --bundle {re.escape(str(bundle))}", out), out


def test_every_option_of_its_help_says_what_it_is(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    for option, words in (("--image-size", "model's input"), ("--source-size", "resized"),
                          ("--folds", "fold models"), ("--head", "grading head")):
        said = out.split(f"\n  {option}", 1)[1].split("\n  -", 1)[0]  # its own lines, not the usage
        assert words in " ".join(said.split()), (option, said)


def test_the_demo_card_says_plainly_it_was_trained_on_nothing(tmp_path: Path, one_thread: None) -> None:
    """A trial: the demo's model card said "Data: unknown (unknown root); ? training images (per
    grade: ?)", as if records were missing; it says now that there was no training data."""
    from app.demo_bundle import DEMO_TRAINED_ON, build_demo_bundle

    card = (build_demo_bundle(tmp_path / "run", image_size=32, source_size=48, n_folds=1)
            / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert DEMO_TRAINED_ON in card and "no training data" in card
    assert "unknown root" not in card and "? training images" not in " ".join(card.split())
    assert card.count("## What it was trained on") == 1


def test_no_part_of_the_demo_card_or_page_describes_a_trained_model(
        tmp_path: Path, one_thread: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """A review: the demo card said it was trained on nothing, while its other sections
    described a trained model: "kappa-optimal thresholds", "frozen during fine-tuning", a
    "Cross-validated performance (n = 0)" table of n/a, calibration "on out-of-fold
    predictions", "as in training"; and the page's details JSON called its thresholds
    kappa-tuned."""
    from app.demo_bundle import build_demo_bundle
    from app.predict import Predictor
    from app.server import decision_rule
    from drac_ssl.grading.bundle import DEMO_SCOPE_WORDS, SCOPE_WORDS

    bundle = build_demo_bundle(tmp_path / "run", image_size=32, source_size=48, n_folds=1)
    card = " ".join((bundle / "MODEL_CARD.md").read_text(encoding="utf-8").split())
    for trained in ("kappa-optimal", "Cross-validated performance", "out-of-fold", "during fine-tuning",
                    "as in training", "cross-validated figures", "n = 0", "calibrated on"):
        assert trained not in card, trained
    assert "every weight random" in card and "tuned on no image" in card and "not calibrated" in card
    assert "## Performance - None: nothing was measured" in card
    # its own scope words, not "This model grades DR severity only" of a bundle that is no model
    assert DEMO_SCOPE_WORDS in card[card.index("## Limitations"):] and SCOPE_WORDS not in card
    predictor = Predictor(bundle, gradcam=False)
    rule = decision_rule(predictor)
    assert "kappa-tuned" not in rule and "evenly spaced default thresholds 0.500 / 1.500, tuned on no image" in rule
    # a batch graded alike: not sent to check "the kind of image this model was trained on"
    import numpy as np
    from PIL import Image

    from app import server

    yy, xx = np.mgrid[0:96, 0:96]
    path = tmp_path / "scan.png"
    Image.fromarray((60 + 40 * np.sin(xx / 7.0) * np.cos(yy / 11.0)).astype(np.uint8)).save(path)
    monkeypatch.setattr(server, "same_grade_words", lambda *a: "All 5 images got the same grade (Normal)")
    summary = server._grade_batch_now(predictor, server.AppSettings(gradcam=False), [str(path)])[0]
    assert "All 5 images got the same grade (Normal).** An untrained demo model grades from random weights" in summary
    assert "trained on (model card tab)" not in summary


@pytest.mark.parametrize(("arguments", "words"), [
    ({"head": "x"}, "head='x' (one of linear, mlp, conv, regression)"),
    ({"channels": 2}, "channels=2 (1: grey UW-OCTA, 3: colour fundus)"),
    ({"arch": "vgg"}, "arch='vgg'"),
    ({"grade_names": ["only"]}, "at least 2 names"),
    ({"n_folds": 0}, "n_folds=0 (1 or more)"),
])
def test_build_demo_bundle_refuses_what_it_cannot_build_before_writing(
        tmp_path: Path, arguments: dict[str, object], words: str) -> None:
    """``head="x"`` left a half-written ``finetune/`` (a backbone file, no bundle) behind its
    ValueError; ``channels=2`` built a bundle no image could be graded by."""
    from app.demo_bundle import build_demo_bundle

    run = tmp_path / "run"
    with pytest.raises(ValueError, match=re.escape(words) + ".*nothing was written"):
        build_demo_bundle(run, image_size=32, source_size=48, **arguments)  # type: ignore[arg-type]
    assert not run.exists()
