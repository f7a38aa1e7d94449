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
from drac_ssl.metrics import wilson_interval

REPO = Path(__file__).resolve().parents[2]


def _card_of(folder: Path, grade_names: tuple[str, ...] = ("Normal", "NPDR", "PDR"), **calibration: object) -> str:
    """The model card of a demo bundle made to look trained (``calibration``: keys put over its
    calibration's), its text on one line."""
    bundle = build_demo_bundle(folder / "run", image_size=32, source_size=48, n_folds=2, grade_names=grade_names)
    meta = json.loads((bundle / "metadata.json").read_text(encoding="utf-8"))
    meta.pop("demo")
    meta["calibration"].update(calibration)
    if len(grade_names) == 3:
        meta["per_grade"] = per_grade_outcomes({"confusion": [[30, 5, 0], [4, 20, 6], [0, 7, 37]]}, list(grade_names))
    return " ".join(_model_card({**meta, "trial_run": {"trial": False}, "variant": "vicreg"}).split())


@pytest.fixture(scope="module")
def card(tmp_path_factory: pytest.TempPathFactory) -> str:
    return _card_of(tmp_path_factory.mktemp("card"))


def test_the_per_grade_table_is_said_to_be_single_fold_models(card: str) -> None:
    assert ("Per grade, out of fold, of single fold models (the grade the fold model that did not train "
            "on an image gave it, against the true one; not the grades this bundle gives, which are its "
            "fold models' mean: see Limitations)") in card
    assert "| 2 PDR | 44 | 0.841 (37/44; 0.706..0.921) | 43 |" in card


def test_the_limitations_say_the_figures_do_not_describe_the_bundles_grades(card: str) -> None:
    assert "this bundle grades with the mean of its 2 fold models" in card
    assert ("so the per-grade figures above, sensitivity included, do not describe the grades this "
            "bundle gives to new images") in card
    assert "averaging narrows" not in card  # the bench found it hardly does (SD 0.563 vs 0.523..0.584)


def test_a_thresholds_bundle_gets_the_measured_milder_grade_sentence(card: str) -> None:
    """The figures the card quotes are bench/results/ensemble_grade.json's, of README command
    (1)'s phantom bundle, named as another bundle's (not "this bundle")."""
    bench = json.loads((REPO / "bench" / "results" / "ensemble_grade.json").read_text(encoding="utf-8"))
    pdr = bench["rules"]["current"]["per_grade"]["2 PDR"]
    oof = bench["single_models_out_of_fold"]["per_grade"]["2 PDR"]
    low, high = wilson_interval(pdr["found"], pdr["images"])
    assert ("can be milder than the most likely grade (the largest probability), and the app warns under "
            "each such result") in card, card
    assert ("another bundle, README command (1)'s (the default job, trained and tested on synthetic images), "
            f"found {pdr['found']} of {pdr['images']} PDR test images "
            f"({round(100 * pdr['sensitivity'])} %, Wilson 95 % CI {round(100 * low)}–{round(100 * high)} %) "
            f"against {round(100 * oof['sensitivity'])} % out of fold (different images and calibrations; "
            "`bench/results/ensemble_grade.json`") in card
    assert card.count("`bench/results/ensemble_grade.json`") == 1
    assert "the bundle found PDR less often" not in card


def test_an_argmax_bundle_gets_no_milder_grade_sentence(tmp_path: Path) -> None:
    """The most probable grade is never milder than the most likely one."""
    card = _card_of(tmp_path, decision="argmax")
    assert "the most probable grade (argmax of the calibrated probabilities" in card
    assert "milder than the most likely grade" not in card and "ensemble_grade.json" not in card
    assert "do not describe the grades this bundle gives to new images." in card


def test_a_bundle_of_other_data_says_where_the_evidence_was_measured_not_its_pdr_figures(tmp_path: Path) -> None:
    """A screening trial's binary card quoted "29 of 44 PDR test images", DRAC figures beside a
    scale without PDR: on other data than DRAC's (drac_scale) the card says only where the one
    measurement was made, and its tie-break is not said to be DRAC's."""
    for names in (("No DR", "Mild", "Moderate", "Severe", "Proliferative"), ("non-referable", "referable")):
        card = _card_of(tmp_path / names[-1], names)
        assert "can be milder than the most likely grade" in card
        assert ("than the out-of-fold figures above say (measured once, on a bundle of DRAC's three grades, "
                "in `bench/results/ensemble_grade.json`).") in card, card
        assert "29 of 44" not in card and "PDR test images" not in card
        assert "as DRAC breaks ties" not in card
