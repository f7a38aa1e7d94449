"""The model card carries report.md's out-of-fold calibration figures (Brier score, ECE): the
export computes them (:func:`drac_ssl.report.oof_calibration_of`; the grading modules do not
import the scoring module) and passes them to the build, which records them in
``metadata.json`` (``oof_calibration``); a bundle built before says they are not recorded."""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from app.demo_bundle import build_demo_bundle
from drac_ssl.grading.bundle import (
    OOF_CALIBRATION_KEY,
    OOF_CALIBRATION_NOT_RECORDED,
    _model_card,
    build_bundle,
)
from drac_ssl.report import _calibration_measure_lines, oof_calibration_of, oof_calibration_record

GRADES = [0] * 14 + [1] * 4 + [2] * 2
METRICS = {"n_boot": 50, "seed": 0}


def _oof() -> SimpleNamespace:
    probs = np.random.default_rng(0).dirichlet([2.0, 1.0, 1.0], size=len(GRADES))
    return SimpleNamespace(ids=[f"img{i}" for i in range(len(GRADES))], grades=list(GRADES), probs=probs)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo run folder (one fold, 32 px, 3 grades), its metadata made to look trained below."""
    folder = tmp_path_factory.mktemp("oofcal") / "run"
    build_demo_bundle(folder, image_size=32, source_size=48, n_folds=1)
    return folder


def _card(run: Path, **extra: object) -> str:
    meta = json.loads((run / "bundle" / "metadata.json").read_text(encoding="utf-8"))
    meta.pop("demo")
    meta.update(extra)
    return " ".join(_model_card({**meta, "trial_run": {"trial": False}, "variant": "vicreg"}).split())


def test_the_card_says_reports_calibration_line_and_an_older_bundle_says_not_recorded(
        run: Path, tmp_path: Path) -> None:
    """Catches a card without the out-of-fold Brier score and ECE report.md gives, a card in
    other words than report.md's (the failed calibration's 'not from calibration' included),
    and a bundle built before the record crashing the card instead of saying so."""
    oof = _oof()
    record = oof_calibration_record(tmp_path, tmp_path, oof, METRICS)
    assert record is not None
    json.dumps(record)  # metadata.json holds it as it is
    [line, _] = _calibration_measure_lines(tmp_path, tmp_path, oof, METRICS, 1.0)
    card = _card(run, **{OOF_CALIBRATION_KEY: record})
    assert " ".join(line.split()) in card and "Brier score" in card and "ECE" in card
    assert OOF_CALIBRATION_NOT_RECORDED not in card
    [failed, _] = _calibration_measure_lines(tmp_path, tmp_path, oof, METRICS, 100.0)
    meta = json.loads((run / "bundle" / "metadata.json").read_text(encoding="utf-8"))
    card = _card(run, **{OOF_CALIBRATION_KEY: record, "calibration": {**meta["calibration"], "temperature": 100.0}})
    assert "not from calibration" in failed and " ".join(failed.split()) in card
    assert " ".join(OOF_CALIBRATION_NOT_RECORDED.split()) in _card(run)  # built before: no crash


def test_the_export_reads_the_runs_figures_and_the_build_records_them(run: Path, tmp_path: Path) -> None:
    """Catches figures computed but not recorded by the build (the card would say nothing),
    and the export's reader failing on a run without an oof.csv instead of recording none."""
    oof = _oof()
    vdir = run / "finetune" / "vicreg"  # the demo run's variant, as the run selected it
    assert oof_calibration_of(run) is None  # no oof.csv: none, no error
    assert oof_calibration_of(run, "no_such_variant") is None
    rows = ["id,fold,grade,pred,P0,P1,P2"] + [f"{i},0,{g},0,{p[0]:.6f},{p[1]:.6f},{p[2]:.6f}"
                                              for i, g, p in zip(oof.ids, GRADES, oof.probs, strict=True)]
    (vdir / "oof.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    record = oof_calibration_of(run)
    assert record is not None and record["n_images"] == len(GRADES) and 0 < record["brier"] < 2
    out = build_bundle(run, None, tmp_path / "bundle", oof_calibration=record)
    meta = json.loads((out / "metadata.json").read_text(encoding="utf-8"))
    assert meta[OOF_CALIBRATION_KEY] == record
