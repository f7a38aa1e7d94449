"""A demo bundle stays a demo bundle (a user's report): the export told the owner of
``python -m app.demo_bundle runs/demo`` that the bundle had no out-of-distribution check and to
rebuild it with ``build_bundle('RUN')``; the rebuilt bundle had lost ``demo`` from its metadata,
so the export no longer said "Untrained demo model" and its card read as a trained DRAC model,
while the weights were still random.

Now ``build_bundle`` writes a demo bundle from any run folder that ``app.demo_bundle`` marked
(:mod:`drac_ssl.grading.demo`), whatever the route (the run's bundle, a variant's, the reuse
path), and the export says that a demo bundle has no check by design, with no rebuild advice.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from app_fixtures import as_trained_run

from drac_ssl import export
from drac_ssl.grading.bundle import build_bundle, build_or_reuse_bundle, load_bundle, rebuild_advice
from drac_ssl.grading.demo import (
    DEMO_CALIBRATION,
    DEMO_NOTE,
    DEMO_PROTOCOL,
    DEMO_SELECTION,
    DEMO_TRAINED_ON,
    demo_run_note,
)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from app.demo_bundle import build_demo_bundle

    run = tmp_path_factory.mktemp("demo") / "run"
    build_demo_bundle(run, image_size=32, source_size=48, n_folds=1, seed=7)
    return run


def _copy(run: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    return copy


def _edit(path: Path, **changes: object) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    path.write_text(json.dumps(data), encoding="utf-8")


def _assert_demo(bundle: Path, seed_words: str = "seed 7") -> None:
    meta = json.loads((bundle / "metadata.json").read_text(encoding="utf-8"))
    assert meta.get("demo") == DEMO_NOTE, meta.get("demo")
    assert meta["data"] == {"kind": "none", "note": DEMO_NOTE}
    card = (bundle / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert card.startswith(f"> **{DEMO_NOTE}.**"), card[:200]
    assert DEMO_TRAINED_ON in card and "every weight random" in card
    assert seed_words in " ".join(card.split())
    for trained in ("Cross-validated performance", "kappa-optimal", "unknown root"):
        assert trained not in card, trained


def test_every_rebuild_of_a_demo_run_folder_is_a_demo_bundle(demo_run: Path, tmp_path: Path) -> None:
    run = _copy(demo_run, tmp_path)
    _assert_demo(run / "bundle")  # as app.demo_bundle wrote it
    # the advice the user followed: build_bundle('RUN'), replacing the bundle
    _assert_demo(build_bundle(run))
    # a variant's bundle, by name, elsewhere; and the export's --variant route (build or reuse)
    _assert_demo(build_bundle(run, "vicreg", tmp_path / "elsewhere"))
    out, reused = build_or_reuse_bundle(run, "vicreg")
    assert not reused
    _assert_demo(out)
    assert build_or_reuse_bundle(run, "vicreg") == (out, True)
    _assert_demo(out)
    assert load_bundle(run).metadata["demo"] == DEMO_NOTE


@pytest.mark.parametrize("kept", ["summary demo", "summary selection", "calibration", "metrics"])
def test_any_one_mark_of_the_demo_run_folder_makes_a_demo_bundle(
        demo_run: Path, tmp_path: Path, kept: str) -> None:
    """One mark is enough: a run folder of an older app.demo_bundle (no ``demo`` in its
    summary, no ``demo_seed``) included; the seed is then "not recorded"."""
    run = _copy(demo_run, tmp_path)
    vdir = run / "finetune" / "vicreg"
    _edit(run / "finetune" / "summary.json", demo=None if kept != "summary demo" else DEMO_NOTE,
          demo_seed=None, selection=DEMO_SELECTION if kept == "summary selection" else "best QWK")
    _edit(vdir / "calibration.json", fitted_on=DEMO_CALIBRATION if kept == "calibration" else "oof")
    _edit(vdir / "metrics.json", protocol=DEMO_PROTOCOL if kept == "metrics" else "5-fold CV")
    assert demo_run_note(run) == DEMO_NOTE
    _assert_demo(build_bundle(run), "seed not recorded")


def test_a_run_folder_without_any_mark_is_no_demo(demo_run: Path, tmp_path: Path) -> None:
    """The control: the marks are what is read (a trained run's folder is not made a demo)."""
    run = as_trained_run(_copy(demo_run, tmp_path))  # the helper other tests use for a trained run
    assert demo_run_note(run) is None
    meta = json.loads((build_bundle(run) / "metadata.json").read_text(encoding="utf-8"))
    assert "demo" not in meta and meta["data"].get("kind") != "none"


def test_the_export_says_a_demo_bundle_has_no_check_by_design_and_no_rebuild(
        demo_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], one_thread: None) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    yy, xx = np.mgrid[0:64, 0:64]
    cv2.imwrite(str(folder / "scan.png"), (60 + 40 * np.sin(xx / 7.0) * np.cos(yy / 11.0)).astype(np.uint8))
    capsys.readouterr()
    code = export.main([str(demo_run / "bundle"), "--images", str(folder), "--out", str(tmp_path / "s.csv")])
    assert code in (0, export.EXIT_FLAGGED)
    err = " ".join(capsys.readouterr().err.split())
    assert "is an untrained demo bundle: it has no out-of-distribution check by design" in err, err
    assert "Untrained demo model" in err
    for advice in ("build_bundle", "Rebuild", "rebuild", "built by an older version"):
        assert advice not in err, advice

    # the same bundle without "demo" (a trained bundle with no check): the rebuild advice stays
    bundle = load_bundle(demo_run / "bundle")
    bundle.metadata.pop("demo")
    note = export._ood_check_note(bundle)
    assert note is not None and rebuild_advice(bundle.path) in note and "by design" not in note
