"""The model card carries report.md's out-of-fold calibration figures (Brier score, ECE): the
export computes them (:func:`drac_ssl.report.oof_calibration_of`; the grading modules do not
import the scoring module) and passes them to the build, which records them in
``metadata.json`` (``oof_calibration``); a bundle built before says they are not recorded."""
from __future__ import annotations

import functools
import inspect
import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from app.demo_bundle import build_demo_bundle
from drac_ssl import export
from drac_ssl.grading.bundle import (
    OOF_CALIBRATION_KEY,
    OOF_CALIBRATION_NONE,
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


def test_a_bundle_recorded_with_the_eces_bootstrap_ci_shows_no_ci_and_is_rebuilt(run: Path, tmp_path: Path) -> None:
    """Stats audit F1: the ECE's percentile bootstrap CI never held a perfectly calibrated
    model's 0. Catches a card of a bundle built before (``ece_ci95``, no ``ece_if_calibrated``)
    still showing that CI as one, and such a bundle reused instead of rebuilt with the
    perfectly calibrated model's ECE beside its own."""
    from drac_ssl.figures import ECE_REFERENCE_NOT_RECORDED
    from drac_ssl.grading.bundle import older_bundle_records

    record = oof_calibration_record(tmp_path, tmp_path, _oof(), METRICS)
    assert record is not None and "ece_ci95" not in record
    assert 0 <= record["ece_if_calibrated"] <= record["ece_if_calibrated_p95"] <= 1
    old = {key: value for key, value in record.items() if not key.startswith("ece_if_calibrated")}
    old["ece_ci95"] = [0.123456, 0.654321]
    card = _card(run, **{OOF_CALIBRATION_KEY: old})
    assert "0.123" not in card and "0.654" not in card, card
    assert f"ECE {record['ece']:.3f} ({ECE_REFERENCE_NOT_RECORDED})" in card
    meta = {**json.loads((run / "bundle" / "metadata.json").read_text()), OOF_CALIBRATION_KEY: old}
    assert f"{OOF_CALIBRATION_KEY} without the ECE of a perfectly calibrated model" in older_bundle_records(
        meta, oof_calibration_known=True)
    meta[OOF_CALIBRATION_KEY] = record
    assert not any(OOF_CALIBRATION_KEY in said for said in older_bundle_records(meta, oof_calibration_known=True))


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


def _write_oof(vdir: Path) -> None:
    oof = _oof()
    rows = ["id,fold,grade,pred,P0,P1,P2"] + [f"{i},0,{g},0,{p[0]:.6f},{p[1]:.6f},{p[2]:.6f}"
                                              for i, g, p in zip(oof.ids, GRADES, oof.probs, strict=True)]
    (vdir / "oof.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")


def test_the_documented_rebuild_adds_the_figures_to_an_older_variant_bundle(run: Path, tmp_path: Path) -> None:
    """Catches ``export RUN --variant NAME`` (:func:`build_or_reuse_bundle`, given the figures as
    the export gives them: :func:`oof_calibration_of` of the run, called when needed) reusing a
    bundle built before the card gave the out-of-fold figures ('reused: built from the same
    fine-tuning outputs'), so the documented rebuild never added them; and the bootstrap run
    again for a bundle reused that has them."""
    from app_fixtures import as_trained_run

    from drac_ssl.grading.bundle import build_or_reuse_bundle, older_bundle_records

    shutil.copytree(run, copy := tmp_path / "run")
    (copy / "finetune" / "vicreg" / "oof.csv").unlink(missing_ok=True)
    run = as_trained_run(copy)
    metrics = run / "finetune" / "vicreg" / "metrics.json"
    metrics.write_text(json.dumps({**json.loads(metrics.read_text()), **METRICS}))  # a short bootstrap
    out, reused = build_or_reuse_bundle(run, "vicreg")  # built without the figures: an older bundle
    assert not reused and OOF_CALIBRATION_KEY not in json.loads((out / "metadata.json").read_text())
    # no oof.csv: no figures exist, so the card does not send the reader to report.md for them
    card = " ".join((out / "MODEL_CARD.md").read_text(encoding="utf-8").split())
    assert OOF_CALIBRATION_NONE in card and "report.md gives them" not in card
    figures = functools.partial(oof_calibration_of, run, "vicreg")  # as the export passes them
    assert build_or_reuse_bundle(run, "vicreg", oof_calibration=figures) == (out, True)  # no oof.csv: reused
    _write_oof(run / "finetune" / "vicreg")
    assert older_bundle_records(json.loads((out / "metadata.json").read_text()), oof_calibration_known=True) == [
        "no oof_calibration"]
    said: list[str] = []
    assert build_or_reuse_bundle(run, "vicreg", said=said, oof_calibration=figures) == (out, False)
    assert said == ["rebuilt: older records (no oof_calibration)"]
    meta = json.loads((out / "metadata.json").read_text())
    card = " ".join((out / "MODEL_CARD.md").read_text(encoding="utf-8").split())
    assert meta[OOF_CALIBRATION_KEY]["n_images"] == len(GRADES)
    assert "Calibration, out of fold (oof.csv's cross-fitted probabilities, 20 images" in card
    assert " ".join(OOF_CALIBRATION_NOT_RECORDED.split()) not in card
    calls: list[str] = []  # now reused, its figures recorded: no bootstrap
    assert build_or_reuse_bundle(run, "vicreg", oof_calibration=lambda: calls.append("bootstrap")) == (out, True)
    assert calls == []


def test_the_export_hands_the_build_its_figures_to_work_out_when_needed() -> None:
    """Catches the export computing the bootstrap before knowing whether the bundle is rebuilt,
    or not handing the figures to the variant's build at all."""
    source = inspect.getsource(export)
    assert source.count("oof_calibration=partial(oof_calibration_of, run_dir") == 2
    assert "oof_calibration = oof_calibration_of(" not in source


def test_export_rebuilds_a_variant_bundle_recorded_with_the_eces_bootstrap_ci(run: Path, tmp_path: Path) -> None:
    """Review of the stats branch, F1: ``export RUN --variant NAME`` (:func:`build_or_reuse_bundle`,
    the figures given as the export gives them) reused a bundle whose ``oof_calibration``
    recorded the ECE's bootstrap CI (``ece_ci95``, no ``ece_if_calibrated_p95``): the record was a
    dict, so nothing asked for a rebuild, and MODEL_CARD.md (which the app shows) kept the old CI.
    Catches that reuse; a bundle with the current record is still reused without a bootstrap."""
    from app_fixtures import as_trained_run

    from drac_ssl.grading.bundle import build_or_reuse_bundle

    shutil.copytree(run, copy := tmp_path / "run")
    run = as_trained_run(copy)
    metrics = run / "finetune" / "vicreg" / "metrics.json"
    metrics.write_text(json.dumps({**json.loads(metrics.read_text()), **METRICS}))  # a short bootstrap
    _write_oof(run / "finetune" / "vicreg")
    figures = functools.partial(oof_calibration_of, run, "vicreg")  # as the export passes them
    out, reused = build_or_reuse_bundle(run, "vicreg", oof_calibration=figures)
    assert not reused
    meta = json.loads((out / "metadata.json").read_text())
    record = meta[OOF_CALIBRATION_KEY]
    # as a build before the stats audit's F1 recorded it, its card showing the CI
    meta[OOF_CALIBRATION_KEY] = {**{key: value for key, value in record.items()
                                    if not key.startswith("ece_if_calibrated")}, "ece_ci95": [0.123456, 0.654321]}
    (out / "metadata.json").write_text(json.dumps(meta, indent=2))
    with (out / "MODEL_CARD.md").open("a", encoding="utf-8") as card:
        card.write(f"\nECE {record['ece']:.3f} (95% CI 0.123..0.654)\n")
    said: list[str] = []
    assert build_or_reuse_bundle(run, "vicreg", said=said, oof_calibration=figures) == (out, False)
    assert said == [f"rebuilt: older records ({OOF_CALIBRATION_KEY} without the ECE of a perfectly calibrated model)"]
    rebuilt = json.loads((out / "metadata.json").read_text())[OOF_CALIBRATION_KEY]
    assert "ece_ci95" not in rebuilt and rebuilt["ece_if_calibrated_p95"] == record["ece_if_calibrated_p95"]
    card = " ".join((out / "MODEL_CARD.md").read_text(encoding="utf-8").split())
    assert "0.123..0.654" not in card and "a perfectly calibrated model with these probabilities" in card
    calls: list[str] = []  # the current record: reused, no bootstrap
    assert build_or_reuse_bundle(run, "vicreg", oof_calibration=lambda: calls.append("bootstrap")) == (out, True)
    assert calls == []


def test_the_rebuild_advice_keeps_the_out_of_fold_calibration_line(run: Path, tmp_path: Path) -> None:
    """Catches the rebuild advice for a damaged bundle (``build_bundle('RUN')``) leaving out the
    out-of-fold figures the export stage gives the build: followed, it rebuilt a card without
    the Brier score / ECE line the run's bundle had. A run without an ``oof.csv`` keeps the short
    call; a run not known here (``'RUN'``) is given the figures' reader, which says None for one
    without them."""
    from drac_ssl.grading.bundle import BundleError, load_bundle, rebuild_advice
    from drac_ssl.starting import python_word

    shutil.copytree(run, copy := tmp_path / "run")
    vdir = copy / "finetune" / "vicreg"
    (vdir / "oof.csv").unlink(missing_ok=True)
    assert "oof_calibration" not in rebuild_advice(copy / "bundle")
    _write_oof(vdir)
    meta = copy / "bundle" / "metadata.json"
    meta.write_text(meta.read_text(encoding="utf-8") + "xx\n", encoding="utf-8")
    with pytest.raises(BundleError) as caught:
        load_bundle(copy / "bundle")
    fix = str(caught.value).split("\n  fix: ")[1]
    assert f"build_bundle('{copy}', oof_calibration=oof_calibration_of('{copy}'))" in fix, fix
    exec(fix.split(f'{python_word()} -c "')[1].rstrip('"'), {})  # noqa: S102 - the advice, as given
    assert json.loads(meta.read_text(encoding="utf-8"))[OOF_CALIBRATION_KEY] == oof_calibration_of(copy)
    (copy / "bundles").mkdir()  # a variant's bundle of a run without config.yaml: built into its folder
    variant = copy / "bundles" / "vicreg"
    assert (f"build_bundle('{copy}', 'vicreg', '{variant}', oof_calibration=oof_calibration_of('{copy}', "
            "'vicreg'))") in rebuild_advice(variant)
    assert ("from drac_ssl.report import oof_calibration_of; build_bundle('RUN', "
            "oof_calibration=oof_calibration_of('RUN'))") in rebuild_advice(tmp_path / "copied")


@pytest.mark.parametrize("name", ["o'brien $x run", 'say "hi" `id` a\\b!'])
def test_the_rebuild_command_runs_as_printed_for_any_folder_name(tmp_path: Path, name: str) -> None:
    """Catches the rebuild command's paths written inside ``'...'`` and the code inside shell
    double quotes: a run folder named ``o'brien $x run`` gave ``build_bundle('/tmp/x/o'brien
    $x run')``, a Python syntax error, and the shell put its own ``$x`` in; ``"``, a backtick and
    a backslash broke it too. The shell must hand Python the code whose literals are the paths."""
    import ast
    import subprocess

    from drac_ssl.run_state import rebuild_call
    from drac_ssl.starting import python_word

    run = tmp_path / name
    (run / "finetune" / "vicreg").mkdir(parents=True)  # with the out-of-fold figures' files
    (run / "finetune" / "summary.json").write_text('{"selected": "vicreg"}', encoding="utf-8")
    for file in ("oof.csv", "metrics.json"):
        (run / "finetune" / "vicreg" / file).write_text("x", encoding="utf-8")
    for command, want in ((rebuild_call(run), [str(run)] * 2),
                          (rebuild_call(run, "vicreg", run / "bundles" / "vicreg"),
                           [str(run), "vicreg", str(run / "bundles" / "vicreg"), str(run), "vicreg"])):
        assert command.startswith(f"{python_word()} -c ")
        words = subprocess.run(["bash", "-c", "printf '%s\\0' " + command.removeprefix(f"{python_word()} -c ")],
                               capture_output=True, text=True, check=True, timeout=10).stdout.split("\0")[:-1]
        assert len(words) == 1, (command, words)  # one word: the code, as bash hands it to python -c
        call = ast.parse(words[0]).body[-1].value
        literals = [*call.args, *call.keywords[0].value.args]
        assert [ast.literal_eval(arg) for arg in literals] == want, words[0]
