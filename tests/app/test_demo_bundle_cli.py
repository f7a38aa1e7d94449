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
    assert card.count("## What it was trained on") == 1 and "## Cross-validated performance" in card
