"""``python -m drac_ssl.export RUN --images DIR`` says the app's sentence for a grade the model
never found out of fold (``Out of fold this model never found PDR (0 of 72 images) ...``) with
its other caveats on stderr, and keeps them (a trial run's too) in the provenance sidecar beside
the CSV, whose format stays DRAC's. Before, the command said only the trial run, on stderr."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from app.demo_bundle import build_demo_bundle
from drac_ssl import export
from drac_ssl.grading.bundle import never_found_words
from drac_ssl.submission import provenance_path
from tests.helpers.app_fixtures import ramp_scan

PER_GRADE = [{"grade": 0, "name": "Normal", "images": 40, "found": 30, "given": 50, "recall": 0.75},
             {"grade": 1, "name": "NPDR", "images": 10, "found": 1, "given": 2, "recall": 0.1},
             {"grade": 2, "name": "PDR", "images": 72, "found": 0, "given": 0, "recall": 0.0}]
NEVER = "Out of fold this model never found PDR (0 of 72 images): a grade other than PDR does not rule it out."
TRIAL = {"trial": True, "why": "the pretraining was cut short (max_steps_per_epoch=1)"}


@pytest.fixture(scope="module")
def trial_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A trained-looking demo bundle of a trial run whose model never found PDR out of fold."""
    bundle = build_demo_bundle(tmp_path_factory.mktemp("run") / "bundle", image_size=32, source_size=48, n_folds=1)
    meta = json.loads((bundle / "metadata.json").read_text())
    meta.pop("demo")
    meta.update(per_grade=PER_GRADE, trial_run=TRIAL)
    (bundle / "metadata.json").write_text(json.dumps(meta))
    return bundle


def test_the_sentence_is_the_apps_and_lives_outside_app() -> None:
    assert never_found_words({"per_grade": PER_GRADE}) == NEVER
    assert never_found_words({"per_grade": PER_GRADE[:2]}) == ""


def test_images_warns_of_a_grade_never_found_and_keeps_it_beside_the_csv(
        trial_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "scans"
    folder.mkdir()
    ramp_scan(folder / "a.png")
    out = tmp_path / "grades.csv"
    capsys.readouterr()
    code = export.main([str(trial_bundle), "--images", str(folder), "--out", str(out)])
    err = capsys.readouterr().err
    assert code in (0, 4), err
    assert f"warning: {NEVER}" in err.splitlines(), err
    caveats = json.loads(provenance_path(out).read_text())["caveats"]
    assert NEVER in caveats and any("trial run" in c for c in caveats), caveats
    with open(out, newline="") as fh:  # the submission stays DRAC's case,class,P0..P2
        assert next(csv.reader(fh)) == ["case", "class", "P0", "P1", "P2"]


def test_two_grades_never_found_are_named_together_as_them() -> None:
    # mutation audit M41: two grades read "does not rule it out."
    rows = [PER_GRADE[0], {**PER_GRADE[1], "found": 0, "given": 0, "recall": 0.0}, PER_GRADE[2]]
    said = never_found_words({"per_grade": rows})
    assert said.endswith("a grade other than NPDR or PDR does not rule them out."), said
    assert "NPDR (0 of 10 images), PDR (0 of 72 images)" in said, said
