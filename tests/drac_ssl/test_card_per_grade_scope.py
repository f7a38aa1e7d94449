"""The model card's per-grade figures are single fold models' out-of-fold figures, and the card
says they do not describe the grades the bundle gives to new images (a trial user found its PDR
sensitivity 84 % beside an app that called PDR far less often; on the phantom test set the bundle
found 29 of 44 PDR images, each fold model alone 27 to 32: ``bench/results/ensemble_grade.json``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.demo_bundle import build_demo_bundle
from drac_ssl.grading.bundle import _model_card, per_grade_outcomes


@pytest.fixture(scope="module")
def card(tmp_path_factory: pytest.TempPathFactory) -> str:
    bundle = build_demo_bundle(tmp_path_factory.mktemp("card") / "run", image_size=32, source_size=48, n_folds=2)
    meta = json.loads((bundle / "metadata.json").read_text(encoding="utf-8"))
    meta.pop("demo")
    meta["per_grade"] = per_grade_outcomes({"confusion": [[30, 5, 0], [4, 20, 6], [0, 7, 37]]},
                                           ["Normal", "NPDR", "PDR"])
    return " ".join(_model_card({**meta, "trial_run": {"trial": False}, "variant": "vicreg"}).split())


def test_the_per_grade_table_is_said_to_be_single_fold_models(card: str) -> None:
    assert ("Per grade, out of fold, of single fold models (the grade the fold model that did not train "
            "on an image gave it, against the true one; not the grades this bundle gives, which are its "
            "fold models' mean: see Limitations)") in card
    assert "| 2 PDR | 44 | 37 (84%) | 43 |" in card


def test_the_limitations_say_the_figures_do_not_describe_the_bundles_grades(card: str) -> None:
    assert "this bundle grades with the mean of its 2 fold models" in card
    assert ("So the per-grade figures above, sensitivity included, do not describe the grades this "
            "bundle gives") in card
    assert "bundle gives to new images" in card and "gives a grade milder than the most likely one" in card
    named = card.split("`bench/results/ensemble_grade.json`")
    assert len(named) == 2, card  # the bench that measured it, named once
    assert (Path(__file__).resolve().parents[2] / "bench" / "results" / "ensemble_grade.json").is_file()
