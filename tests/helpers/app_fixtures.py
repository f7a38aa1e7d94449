"""Set-ups two or more app tests share (tests/helpers is on the test path: ``from app_fixtures import ...``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from shared_data import SHARED_DATA

from app.demo_bundle import build_demo_bundle
from app.predict import Predictor
from app.server import _result_markdown

DRAC_SAMPLE = SHARED_DATA / "drac_samples" / "sample_1.png"
ICDR = ["No DR", "Mild", "Moderate", "Severe", "PDR"]


def drac_scan_or_stand_in(side: int) -> np.ndarray:
    """A real DRAC UW-OCTA scan (1024 x 1024 grey) when the real data is there (shared_data.py), else a
    structured ``side`` x ``side`` grey stand-in (not noise: the app grades it)."""
    if DRAC_SAMPLE.is_file():
        return np.asarray(Image.open(DRAC_SAMPLE).convert("L"))
    yy, xx = np.mgrid[0:side, 0:side]
    rng = np.random.default_rng(0)
    return np.clip(60 + 40 * np.sin(xx / 7.0) * np.cos(yy / 11.0) + rng.normal(0, 12, (side, side)),
                   0, 255).astype(np.uint8)


def icdr_bundle_reporting_referable(folder: Path) -> tuple[Path, dict]:
    """An untrained 5-grade colour demo bundle whose metadata reports referable DR (grade >= 2),
    as a fine-tuning with ``finetune.referable_from`` records it; its folder and metadata."""
    from app.demo_bundle import build_demo_bundle

    bundle_dir = build_demo_bundle(folder, image_size=32, source_size=32, n_folds=1, grade_names=ICDR, channels=3)
    meta = json.loads((bundle_dir / "metadata.json").read_text())
    meta["cv_metrics"]["referable"] = {"from_grade": 2, "rule": "referable = grade >= 2 (Moderate or worse)",
                                       "n_referable": 10, "n_not": 20, "auc": 0.9, "auc_ci95": [0.8, 0.95],
                                       "auc_note": None, "sensitivity": 0.7, "specificity": 0.8}
    (bundle_dir / "metadata.json").write_text(json.dumps(meta))
    return bundle_dir, meta


def as_trained_run(run: Path) -> Path:
    """``run``, a folder of ``app.demo_bundle``, with the demo's marks taken off its
    ``finetune/`` files (:mod:`drac_ssl.grading.demo`), so that ``build_bundle`` builds it as
    the bundle of a trained run: a stand-in for a fine-tuning's files in a test of what a
    trained bundle says. Without it every rebuild of the folder is a demo bundle."""
    def edit(path: Path, **changes: object) -> None:
        data = json.loads(path.read_text(encoding="utf-8"))
        for key, value in changes.items():
            data.pop(key, None)
            if value is not None:
                data[key] = value
        path.write_text(json.dumps(data), encoding="utf-8")

    summary = run / "finetune" / "summary.json"
    variant = json.loads(summary.read_text(encoding="utf-8"))["selected"]
    edit(summary, demo=None, demo_seed=None, selection="best out-of-fold QWK (a test's stand-in)")
    edit(run / "finetune" / variant / "calibration.json", fitted_on="out-of-fold outputs (a test's stand-in)")
    edit(run / "finetune" / variant / "metrics.json", protocol="5-fold CV (a test's stand-in)")
    return run


def graded_scan(path: Path) -> Path:
    """A 96 x 96 grey PNG at ``path``: a diagonal ramp plus uniform noise in [0, 40) (seed 0),
    graded, so neither noise nor blank to the app's input checks; returns ``path``."""
    rng = np.random.default_rng(0)
    ramp = np.add.outer(np.arange(96), np.arange(96))  # graded: not noise, not blank
    Image.fromarray((ramp + rng.integers(0, 40, (96, 96))).astype(np.uint8)).save(path)
    return path


def ramp_scan(path: Path, seed: int = 0) -> Path:
    """A 96 px grey ramp with noise (``seed``) saved at ``path``: graded by the app (neither noise
    nor blank), a different picture per seed; returns ``path``."""
    ramp = np.add.outer(np.arange(96), np.arange(96)) // 2
    noise = np.random.default_rng(seed).integers(0, 40, (96, 96))
    Image.fromarray((ramp + noise).astype(np.uint8)).save(path)
    return path


def trained_demo(folder: Path, n_folds: int = 1, grade_names: Sequence[str] | None = None,
                 metadata: dict[str, Any] | None = None,
                 calibration: dict[str, Any] | None = None) -> Predictor:
    """The demo bundle (32 px, ``n_folds`` folds) with its ``demo`` key taken out, so that the app
    takes it for trained; ``metadata``: keys put over its metadata's (e.g. ``data``),
    ``calibration``: over its calibration's (e.g. a failed one's temperature)."""
    names = {} if grade_names is None else {"grade_names": list(grade_names)}
    bundle = build_demo_bundle(folder, image_size=32, source_size=48, n_folds=n_folds, **names)
    meta = json.loads((bundle / "metadata.json").read_text())
    meta.pop("demo")
    meta.update(metadata or {})
    meta["calibration"].update(calibration or {})
    (bundle / "metadata.json").write_text(json.dumps(meta))
    return Predictor(bundle, gradcam=False)


def result_said(predictor: Predictor, probs: Sequence[float], grade: int,
                warnings: Sequence[str] = ()) -> str:
    """The app's result markdown of ``predictor``'s own prediction of a fixed picture, given
    ``probs`` and ``grade`` (and ``warnings`` before its own)."""
    pred = predictor.predict(np.full((48, 48), 90, np.uint8) + np.eye(48, dtype=np.uint8) * 60, gradcam=False)
    return _result_markdown(replace(pred, grade=grade, grade_name=predictor.class_names[grade],
                                    probs=np.array(probs), warnings=[*warnings, *pred.warnings]), predictor)
