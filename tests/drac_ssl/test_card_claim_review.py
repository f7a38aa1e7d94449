"""A CLAIM 2024 / TRIPOD+AI review of README command (1)'s model card (phantom data): what the
card says of the data, the folds and the per-grade figures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from app.demo_bundle import build_demo_bundle
from drac_ssl.grading.bundle import _model_card


@pytest.fixture(scope="module")
def meta(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A demo bundle's metadata made to look trained."""
    bundle = build_demo_bundle(tmp_path_factory.mktemp("card") / "run", image_size=32, source_size=48, n_folds=2,
                               grade_names=("Normal", "NPDR", "PDR"))
    meta = json.loads((bundle / "metadata.json").read_text(encoding="utf-8"))
    meta.pop("demo")
    return {**meta, "trial_run": {"trial": False}, "variant": "vicreg"}


def _card(meta: dict[str, Any], **data: Any) -> str:
    return " ".join(_model_card({**meta, "data": {**meta["data"], **data}}).split())


def test_a_phantom_card_says_a_pipeline_demonstration_never_drac_2022(meta: dict[str, Any]) -> None:
    """F1: the phantom model's card said "Research software for the DRAC 2022 challenge", its
    intended use "Ranking and analysing DRAC 2022 Task 3 submissions" and its limitations
    "Cross-validated on a small single-challenge data set", trained on synthetic images."""
    card = _card(meta, kind="phantom")
    assert "Research software, here a demonstration of the pipeline on synthetic phantom images;" in card
    assert "for the DRAC 2022 challenge" not in card and "Ranking and analysing" not in card
    assert "## Intended use Demonstrating the pipeline" in card
    assert "Cross-validated on synthetic phantom images only" in card and "single-challenge" not in card
    drac = _card(meta, kind="drac")  # the challenge's own data keep their words
    assert "Research software for the DRAC 2022 challenge;" in drac and "Ranking and analysing DRAC 2022" in drac


def test_an_ingest_without_the_near_duplicate_check_says_near_copies_were_not_looked_for(
        meta: dict[str, Any], tmp_path: Path) -> None:
    """F2: with ``near_duplicates: null`` in ingest_summary.json (the check off), report.md and
    the card said only "treated as independent (no patient column)"; the ingest's console line
    (NEAR_DUPLICATES_OFF) was not carried. Both now say near copies were not looked for, and the
    setting that turns the check on."""
    from drac_ssl.grading.model_card import (
        NEAR_DUPLICATES_OFF_WORDS,
        data_provenance,
        fold_grouping_words,
    )
    from tests.helpers.fake_ingest import make_fake_ingest

    data = make_fake_ingest(tmp_path)
    summary = json.loads((data / "ingest_summary.json").read_text())
    (data / "ingest_summary.json").write_text(json.dumps({**summary, "near_duplicates": None}))
    prov = data_provenance(data)
    assert prov["near_duplicates_off"] is True
    said = fold_grouping_words(prov)  # report.md's Data section's words
    assert said.startswith("folds: the 30 training images treated as independent (no patient column)")
    assert said.endswith("; near copies across folds, or of a test image among the training images, were not "
                         "looked for (the ingest's near-duplicate check was off: data.near_duplicate_mse=1e-4 "
                         "turns it on)"), said
    (data / "ingest_summary.json").write_text(json.dumps(summary))  # an ingest that did not say: nothing
    assert "near_duplicates_off" not in data_provenance(data)
    card = _card(meta, **{k: prov[k] for k in ("n_train", "n_patients", "near_duplicates_off")})
    assert NEAR_DUPLICATES_OFF_WORDS in card
    # the check ran (its record a dict, none found): not said to be off, in the card nor the report
    (data / "ingest_summary.json").write_text(json.dumps({**summary, "near_duplicates": {
        "near_duplicate_mse": 1e-4, "cache_size": 48, "compared_px": 48, "n_images": 0, "n_groups": 0}}))
    ran = data_provenance(data)
    assert "near_duplicates_off" not in ran and isinstance(ran.get("near_duplicates"), dict)
    assert "were not looked for" not in fold_grouping_words(ran)
    card = _card(meta, **{k: ran.get(k) for k in ("n_train", "n_patients", "near_duplicates_off", "near_duplicates")})
    assert NEAR_DUPLICATES_OFF_WORDS not in card and "check was off" not in card


def test_per_grade_sensitivity_has_a_wilson_interval_in_the_card_and_the_report(meta: dict[str, Any]) -> None:
    """F4: the card's "1 NPDR | 212 | 100 (47%)" had no interval, and report.md no per-grade
    sensitivity at all. Both give the Wilson score 95% CI (drac_ssl.metrics.wilson_interval)."""
    from drac_ssl.grading.bundle import per_grade_outcomes
    from drac_ssl.report import sensitivity_lines

    confusion = [[30, 5, 0], [60, 100, 52], [0, 7, 37]]
    names = ["Normal", "NPDR", "PDR"]
    card = " ".join(_model_card({**meta, "per_grade": per_grade_outcomes({"confusion": confusion}, names)}).split())
    # review of claim_fx F7: in the package's cell, as export --score's per-grade table
    assert "| 1 NPDR | 212 | 0.472 (100/212; 0.406..0.539) | 112 |" in card, card
    assert "graded correctly (sensitivity, Wilson 95% CI) |" in card
    assert sensitivity_lines(confusion, names) == [
        "Out of fold, graded correctly (sensitivity, Wilson 95% CI): 0 Normal 0.857 (30/35; 0.706..0.937); "
        "1 NPDR 0.472 (100/212; 0.406..0.539); 2 PDR 0.841 (37/44; 0.706..0.921).", ""]


def test_per_grade_sensitivity_with_patients_is_on_their_effective_n() -> None:
    """Review of claim_fx F1: with patient groups the per-grade interval was a plain Wilson over
    images (0.300..0.903 for 4 of 6 images of 2 patients); the package's recall_intervals
    with groups (Kish's effective n, wilson_patients) is said in the card's rows and report.md."""
    import numpy as np

    from drac_ssl.grading.bundle import per_grade_outcomes
    from drac_ssl.metrics import recall_intervals
    from drac_ssl.report import sensitivity_lines

    y = np.array([0] * 6 + [1] * 6)
    pred = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0])
    patients = np.repeat(["a", "b", "c", "d"], 3)
    intervals = recall_intervals(y, pred, 2, groups=patients)
    rows = per_grade_outcomes({"confusion": [[4, 2], [3, 3]]}, ["no", "yes"], intervals)
    assert rows[0]["ci_method"] == "wilson_patients" and rows[0]["ci_units"] == 2, rows[0]
    said = sensitivity_lines([[4, 2], [3, 3]], ["no", "yes"], intervals)[0]
    assert "0 no 0.667 (4/6 images; 0.159..0.955, n_eff 2.0 of 2 patients)" in said, said
    # intervals of other counts than the confusion's are not taken: the counts' Wilson
    assert per_grade_outcomes({"confusion": [[5, 1], [3, 3]]}, ["no", "yes"], intervals)[0]["ci_method"] == "wilson"


def test_the_cards_provenance_line_gives_the_fold_seed() -> None:
    """CLAIM review F8: the card named the run seed, never the seed the folds were split with."""
    from drac_ssl.grading.model_card import _provenance_card

    said = _provenance_card({"provenance": {"run_seed": 0, "fold_seed": 4, "run_code": None, "built_with": None}})
    assert said.startswith("\n- Provenance: run seed 0, fold seed 4 (data.fold_seed); run made at"), said
    assert "fold seed" not in _provenance_card({"provenance": {"run_seed": 0}})  # a bundle built before it


def test_the_card_says_the_stated_data_facts_or_not_stated(meta: dict[str, Any]) -> None:
    """CLAIM review F7: the card says data.description, data.collection_dates and
    data.reference_standard, "not stated" for one left empty (a bundle's data.stated)."""
    from drac_ssl.grading.model_card import stated_data

    stated = stated_data({"description": " UW-OCTA, one hospital ", "reference_standard": "", "seed": 1})
    assert stated == {"description": "UW-OCTA, one hospital"}
    card = _card(meta, stated=stated)
    assert "- description (data.description): UW-OCTA, one hospital" in card
    assert "- collection dates (data.collection_dates): not stated" in card
    assert "- reference standard, how the grades were given (data.reference_standard): not stated" in card


def test_a_stated_data_fact_over_several_lines_stays_one_list_item(meta: dict[str, Any]) -> None:
    """Review of F7 (F1): a YAML block scalar's line breaks in data.description injected a
    heading and a table into the card; the text is said on one line, its whitespace collapsed."""
    import yaml

    from drac_ssl.grading.model_card import stated_data

    config = yaml.safe_load("data:\n  description: |\n    one clinic\n    ## Injected heading\n    | a | b |\n")
    stated = stated_data(config["data"])
    assert stated == {"description": "one clinic ## Injected heading | a | b |"}
    card = _model_card({**meta, "data": {**meta["data"], "stated": stated}})
    assert "\n## Injected heading" not in card and "\n| a | b |" not in card
    assert "- description (data.description): one clinic ## Injected heading | a | b |\n" in card
    # a bundle's data.stated edited by hand is collapsed too
    hand = _model_card({**meta, "data": {**meta["data"], "stated": {"description": "x\n## Injected heading"}}})
    assert "\n## Injected heading" not in hand


def test_a_stated_data_fact_given_to_a_finished_run_is_said_not_recorded(tmp_path: Path) -> None:
    """Review of F7 (F2): data.description given to a finished run was dropped without a word
    (its config.yaml is kept as it ran, and report.md and the card say that file's); it is
    warned about, with how to record it."""
    from drac_ssl import preflight
    from drac_ssl.config import load_config
    from drac_ssl.run_state import rebuild_call
    from tests.helpers.fake_ingest import make_finished_run

    run = make_finished_run(tmp_path / "runs" / "base")
    cfg = load_config(run / "config.yaml", ["data.description=one clinic, 2019"])
    found = {f.setting: f for f in preflight.check(cfg, run) if f.severity == "warning"}
    said = found["data.description"]
    assert f"differs from {run / 'config.yaml'} (not stated) and is not recorded" in said.line, said.line
    assert "edit data.description in" in said.fix and "-m drac_ssl.report" in said.fix, said.fix
    assert f"build_bundle('{run}'" in said.fix and rebuild_call(run) in said.fix  # the export stage's call
    assert "data.collection_dates" not in found  # the same (empty) as recorded: nothing said
    assert "data.description" not in {f.setting for f in preflight.check(cfg, run, stages=["export"])}  # recorded


def test_a_plain_rerun_of_a_run_with_stated_data_warns_of_nothing(tmp_path: Path) -> None:
    """Review of claim_fx F3: a rerun of a finished run made with data.description=X, nothing
    typed, warned "data.description='' (the default): differs from ...": the default is no
    new text."""
    import yaml

    from drac_ssl import preflight
    from drac_ssl.config import load_config
    from tests.helpers.fake_ingest import make_finished_run

    run = make_finished_run(tmp_path / "runs" / "base")
    saved = yaml.safe_load((run / "config.yaml").read_text())
    saved.setdefault("data", {})["description"] = "one clinic, 2019"
    (run / "config.yaml").write_text(yaml.safe_dump(saved))
    cfg = load_config(run / "config.yaml", ["data.description="])
    assert "data.description" not in {f.setting for f in preflight.check(cfg, run)}


def test_the_stated_data_check_loads_no_torch(tmp_path: Path) -> None:
    """Review of claim_fx F4: the preflight's stated-data check imported the model card's
    module, and with it torch, for three setting names (now in drac_ssl.config)."""
    import subprocess
    import sys

    from drac_ssl.config import Config, save_config

    save_config(Config(), tmp_path / "config.yaml")
    code = ("import sys; from pathlib import Path; from drac_ssl import preflight; "
            "from drac_ssl.config import load_config; "
            f"run = Path({str(tmp_path)!r}); cfg = load_config(run / 'config.yaml', ['data.description=x']); "
            "c = preflight._Findings(cfg, None); preflight._check_stated_data(c, cfg, run, []); "
            "assert c.items, 'no warning'; print('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False", done.stdout


def test_stated_data_text_is_shown_as_typed_not_as_html() -> None:
    """Review of claim_fx F9: a stated text with '<' '>' reached report.md and the card as
    HTML a Markdown viewer would render."""
    from drac_ssl.grading.model_card import stated_data_lines

    lines = stated_data_lines({"description": "<script>alert(1)</script> & co"})
    assert lines[0] == "- description (data.description): &lt;script&gt;alert(1)&lt;/script&gt; &amp; co", lines
