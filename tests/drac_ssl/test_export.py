"""Model bundle, submission, command line and run report (drac_ssl.export, drac_ssl.report).

One tiny run (fake ingest of 30 labelled + 6 test 64 px images cached at 48 px, one VICReg
step, 5-fold linear-head fine-tuning at 32 px, export) serves every test; CPU, seconds.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from fake_ingest import SOURCE_SIZE, make_fake_ingest
from shared_data import SHARED_DATA, need
from step_clock import StepClock
from tiny_run import build_tiny_run, tiny_config

from drac_ssl import export
from drac_ssl.grading import batch, predict
from drac_ssl.grading import bundle as bundles
from drac_ssl.grading import model as grading
from drac_ssl.report import write_report
from drac_ssl.starting import python_command, python_word
from drac_ssl.submission import check_submission, provenance_path


@pytest.fixture(scope="module")
def exported_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread is fastest
    root = build_tiny_run(tmp_path_factory.mktemp("run"))
    (root / "stages.json").write_text(json.dumps({
        name: {"status": "done", "seconds": 1.5, "finished_utc": "2026-01-01T00:00:00+00:00", "outputs": {}}
        for name in ("ingest", "pretrain", "finetune", "export")}))
    yield root
    torch.set_num_threads(threads)


def test_run_alone_on_a_finished_run_says_where_its_submission_is_and_what_does_more(
        exported_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A new-user trial: ``export RUN`` alone on a finished run was refused with only "to grade
    images give RUN, --images DIR and --out TEAM.csv", though ``RUN --variant vicreg`` without
    --images works. The refusal (still a usage error, exit 2; nothing exported again) now says
    where the run's submission is and which variant's bundle graded it, and the commands that
    do more: --variant NAME (the run's other variants), --images DIR --out FILE, --check."""
    submission = exported_run / "export" / "submission.csv"
    before = submission.read_bytes(), submission.stat().st_mtime_ns
    summary = json.loads((exported_run / "export" / "summary.json").read_text())
    finetuned = json.loads((exported_run / "finetune" / "summary.json").read_text())
    selected = finetuned["selected"]
    assert summary["variant"] == selected
    capsys.readouterr()
    assert export.main([str(exported_run)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {exported_run}: this run's submission is already written: {submission} "
                          f"(graded by its {selected} bundle, {summary['bundle']}: the variant the run "
                          f"selected)"), err
    assert "to grade images give RUN" not in err, err
    py = python_command("drac_ssl.export")
    others = [v for v in finetuned["variants"] if v != selected]
    listed = f" ({', '.join(others)})" if others else ""
    assert (f"to export another variant{listed} into {exported_run / 'export' / 'submission_NAME.csv'}: "
            f"{py} {exported_run} --variant NAME") in err, err
    assert f"to grade other images with its bundle: {py} {exported_run} --images DIR --out FILE.csv" in err, err
    check = f"{py} --check {submission} --manifest {exported_run}"
    assert err.rstrip().endswith(check), err
    assert (submission.read_bytes(), submission.stat().st_mtime_ns) == before  # not exported again
    assert export.main(shlex.split(check)[3:]) == 0  # the check it gives works
    capsys.readouterr()
    # not a run folder: the arguments, as before; --images without --out: that --out is needed
    assert export.main([str(tmp_path)]) == 2
    assert "error: to grade images give RUN, --images DIR and --out TEAM.csv" in capsys.readouterr().err
    assert export.main([str(exported_run), "--images", str(tmp_path)]) == 2
    assert "error: --images DIR needs --out CSV" in capsys.readouterr().err


def _submission(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_exported_submission_passes_the_check_with_real_probabilities(exported_run: Path) -> None:
    path = exported_run / "export" / "submission.csv"
    test_dir = exported_run / "images" / "test"
    assert check_submission(path, test_dir) == []
    rows = _submission(path)
    assert sorted(r["case"] for r in rows) == sorted(p.name for p in test_dir.iterdir())
    probs = np.array([[float(r[f"P{k}"]) for k in range(3)] for r in rows])
    assert np.allclose(probs.sum(1), 1, atol=1e-6)
    assert (probs.max(1) < 1).all()  # probabilities, not one-hot
    # DRAC's three grades have no referable cut: nothing beside the submission
    assert not (exported_run / "export" / "submission_referable.csv").exists()
    summary = json.loads((exported_run / "export" / "summary.json").read_text())
    assert "referable" not in summary
    # the caveats the console printed as WARNING (a trial run here) are in the record's notes
    # too, as the no-evidence warning is (a review: export/summary.json left the trial run out)
    caveats = bundles.grade_caveats(json.loads((exported_run / "bundle" / "metadata.json").read_text()),
                                    plural=True)
    assert caveats and all(c in summary["notes"] for c in caveats), (caveats, summary["notes"])
    # and as keys a pipeline gates on (the training exits 0 with them)
    assert summary["trial_run"] is True and summary["submission_written"] is True
    assert summary["n_flagged"] == 0 and summary["flagged_cases"] == []
    # the bundle's out-of-fold QWK and interval decide it (None only without them)
    cv = json.loads((exported_run / "bundle" / "metadata.json").read_text())["cv_metrics"]
    assert summary["better_than_chance"] == (export.chance_warning(cv) is None), cv


def test_pipeline_keys_say_what_the_notes_say() -> None:
    """export/summary.json's structured keys (an MLOps review: flagged images, no evidence
    better than chance, a trial run, no submission were English sentences in notes alone)."""
    keys = export.pipeline_keys({}, {}, None, [])
    assert keys == {"n_flagged": 0, "flagged_cases": [], "better_than_chance": None,
                    "trial_run": False, "submission_written": False}
    chance = {"qwk": 0.1, "qwk_ci95": [-0.2, 0.4]}
    keys = export.pipeline_keys(chance, {"trial_run": {"trial": True, "why": "2 epochs"}},
                                Path("submission.csv"), ["003.png"])
    assert keys == {"n_flagged": 1, "flagged_cases": ["003.png"], "better_than_chance": False,
                    "trial_run": True, "submission_written": True}
    assert export.pipeline_keys({"qwk": 0.6, "qwk_ci95": [0.4, 0.8]}, {}, None, [])["better_than_chance"] is True


def test_predict_images_on_the_original_files_matches_the_export(exported_run: Path) -> None:
    bundle = export.load_bundle(exported_run)
    rows = _submission(exported_run / "export" / "submission.csv")
    images = [export.read_image_any(exported_run / "images" / "test" / r["case"]) for r in rows]
    assert images[0].shape == (64, 64)  # the original size: resized to the 48 px source like the ingest
    probs, classes = export.predict_images(bundle, images, tta=True)
    written = np.array([[float(r[f"P{k}"]) for k in range(3)] for r in rows])
    assert np.allclose(probs, written, atol=2e-6)
    assert classes.tolist() == [int(r["class"]) for r in rows]
    single = export.preprocess_image(images[0], bundle.metadata)
    assert single.shape == (1, 32, 32) and single.dtype == torch.float32


def test_bundle_metadata_and_model_card(exported_run: Path) -> None:
    meta = json.loads((exported_run / "bundle" / "metadata.json").read_text())
    assert meta["format"] == bundles.BUNDLE_FORMAT
    assert meta["input"]["channels"] == 1 and meta["input"]["size"] == [32, 32]
    assert meta["input"]["source_size"] == SOURCE_SIZE
    assert len(meta["input"]["normalization"]["mean"]) == 1
    assert meta["class_names"] == ["Normal", "NPDR", "PDR"]
    assert meta["gradcam_target_layer"] == "backbone.layer4"
    assert meta["calibration"]["thresholds"][0] < meta["calibration"]["thresholds"][1]
    assert meta["cv_metrics"]["n"] == 30 and "qwk" in meta["cv_metrics"]
    assert "(100 resamples)" in meta["cv_metrics"]["protocol"]  # finetune.n_boot
    assert meta["model"]["head"] == "linear" and meta["model"]["head_width"] is None
    assert meta["input"]["train_crop_scale"] == [0.6, 1.0]
    assert meta["finetune"]["n_boot"] == 100 and meta["finetune"]["frozen_train_views"] == 4
    assert meta["data"]["kind"] == "plain" and meta["data"]["modality"] == "octa" and meta["data"]["n_test"] == 6
    assert len(meta["folds"]) == 5
    for fold in meta["folds"]:
        assert all((exported_run / "bundle" / w).is_file() for w in fold["weights"])
    card = (exported_run / "bundle" / "MODEL_CARD.md").read_text()
    assert "not a medical device" in card.lower() and "Limitations" in card
    # per grade, out of fold: the confusion matrix's rows and columns, in the card too
    per_grade = meta["per_grade"]
    assert [r["name"] for r in per_grade] == ["Normal", "NPDR", "PDR"]
    assert sum(r["images"] for r in per_grade) == 30 == sum(r["given"] for r in per_grade)
    assert "Per grade, out of fold" in card and "| 0 Normal | " in card
    assert "backbone frozen (the head alone trained) during fine-tuning" in card
    # pretraining saw the test images the submission grades: the card says so, as report.md does
    assert "and test images" in meta["backbone_pretraining"]["training_data"]
    assert "**The test images graded in `submission.csv` were among them** (transductive" in card
    unseen = {**meta, "backbone_pretraining": {**meta["backbone_pretraining"],
                                               "training_data": "x, 30 images (30 labelled; training images only)"}}
    assert "transductive" not in bundles._model_card(unseen)
    # every 0-based best_epoch says so beside it (the report and the console count from 1)
    assert meta["backbone_pretraining"]["epochs_counted_from"] == 0
    assert all(f["epochs_counted_from"] == 0 for f in meta["cv_metrics"]["folds"])
    vdir = exported_run / "finetune" / meta["variant"]
    assert json.loads((vdir / "fold0.json").read_text())["epochs_counted_from"] == 0
    assert json.loads((vdir / "metrics.json").read_text())["qwk_fold_std_ddof"] == 1
    assert json.loads((exported_run / "pretrain" / "metadata.json").read_text())["epochs_counted_from"] == 0
    assert "(per grade: Normal " in card and "{" not in card.split("(per grade:")[1].split(")")[0]
    assert "0 Normal (no diabetic retinopathy), 1 NPDR (non-proliferative DR)" in card
    # the out-of-distribution check: fitted on the 30 labelled training images
    assert meta["input_profile"]["file"] == "input_profile.npz" and meta["input_profile"]["images"] == 30
    assert (exported_run / "bundle" / "input_profile.npz").is_file()
    assert "flagged before its grade as unlike the training images when it lies more than 2 times as far" in card
    assert "all but 1 % of the training images" in card and "graded without warning" not in card
    # 30 images for 512 features + 64 pooled cells: the card says the check is weak
    assert meta["input_profile"]["weak"] and meta["input_profile"]["dimensions"] == 576
    assert "**Weak for this bundle:** the check is weak here: it was fitted on 30 training images for 576" in card
    # the headline is the winner of a comparison on the same images: the card says so (a review)
    n_compared = len(meta["comparison"])
    winner = f"exported because its out-of-fold QWK was the highest (or tied highest) of these {n_compared}"
    assert (winner in card) == (n_compared > 1)
    two_variants = {**meta, "comparison": [*meta["comparison"], *meta["comparison"]][:2]}
    assert winner.replace(str(n_compared), "2") in bundles._model_card(two_variants)
    # provenance: the run's seed and the code that built the bundle (a run folder without
    # environment.json: the run's commit unknown)
    from drac_ssl.runtime import code_version, code_words

    assert meta["provenance"]["run_seed"] == 0 and meta["provenance"]["run_code"] is None
    assert meta["provenance"]["built_with"] == code_version()
    assert meta["provenance"]["fold_seed"] == 0  # CLAIM review F8: the folds' seed in the card too
    assert (f"- Provenance: run seed 0, fold seed 0 (data.fold_seed); run made at commit unknown; bundle built at commit "
            f"{code_words(code_version())}.") in card
    asked = {**two_variants, "selection": "asked for by name; the run selected vicreg (...)"}
    assert "highest (or tied highest) of these" not in bundles._model_card(asked)
    # finetune.decision=argmax selects by accuracy (a review: the card named QWK)
    argmax = {**two_variants, "calibration": {**meta["calibration"], "decision": "argmax"}}
    assert "its out-of-fold accuracy was the highest (or tied highest) of these 2" in bundles._model_card(argmax)


def test_the_input_profile_and_card_are_in_the_identity_and_a_changed_profile_is_refused(
        exported_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # an auditor multiplied input_profile.npz's threshold by 1e6: it loaded silently (no image
    # ever flagged "unlike the training images") and metadata_sha256 stayed the same
    bundle_dir = tmp_path / "bundle"
    shutil.copytree(exported_run / "bundle", bundle_dir)
    meta = json.loads((bundle_dir / "metadata.json").read_text())
    profile = bundle_dir / meta["input_profile"]["file"]
    assert meta["input_profile"]["sha256"] == hashlib.sha256(profile.read_bytes()).hexdigest()
    assert meta["model_card"]["sha256"] == hashlib.sha256((bundle_dir / "MODEL_CARD.md").read_bytes()).hexdigest()
    assert bundles.load_bundle(bundle_dir).input_profile is not None
    with np.load(profile, allow_pickle=False) as z:
        arrays = {key: z[key] for key in z.files}
    arrays["threshold"] = arrays["threshold"] * 1e6
    np.savez(profile, **arrays)
    with pytest.raises(bundles.BundleError) as caught:
        bundles.load_bundle(bundle_dir)
    words = str(caught.value)
    assert str(profile) in words and "unlike the training images" in words and "fix:" in words, words
    # a bundle built before the digests: loads, its profile and weights unchecked, and the export says so
    del meta["input_profile"]["sha256"]
    assert all(entry["sha256"] for entry in meta["folds"])  # a build records the weights' digests
    for entry in meta["folds"]:
        del entry["sha256"]
    (bundle_dir / "metadata.json").write_text(json.dumps(meta))
    loaded = bundles.load_bundle(bundle_dir)
    note = bundles.profile_hash_note(loaded)
    assert note is not None and bundles.PROFILE_HASH_MISSING in note
    weights = bundles.weights_hash_note(loaded)
    assert weights is not None and weights.startswith(f"{bundle_dir} records no SHA-256 of its weights files")
    one = sorted((exported_run / "images" / "test").iterdir())[0]
    assert export.main([str(bundle_dir), "--images", str(one), "--out", str(tmp_path / "g.csv")]) in (0, 4)
    err = capsys.readouterr().err
    assert f"note: {note}" in err and f"note: {weights}" in err


def test_the_bundle_flags_images_unlike_the_training_images(exported_run: Path) -> None:
    bundle = bundles.load_bundle(exported_run)
    profile = bundle.input_profile
    assert profile is not None and profile.n_images == 30 and profile.channels == 1
    cache = np.load(exported_run / "data" / "cache" / f"{SOURCE_SIZE}px.npy")
    train = torch.stack([predict.preprocess_image(cache[i], bundle.metadata, ingested=True) for i in range(30)])
    _, flagged = profile.unlike_training(train, predict.profile_features(bundle, train))
    assert flagged.sum() <= 1  # 2 x the 99th percentile of cross-fitted distances: their own pass
    white = np.full((64, 64), 255, np.uint8)  # nothing like the 30 training images
    checked = predict.unlike_training_images(bundle, [white])
    assert checked is not None and checked[1].all() and checked[0][0] > profile.threshold
    assert profile.feature_dim == 512 and bundle.metadata["input_profile"]["margin"] == 2


def test_grade_images_checks_with_the_gradings_own_backbone_pass(
        exported_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = bundles.load_bundle(exported_run)
    cache = np.load(exported_run / "data" / "cache" / f"{SOURCE_SIZE}px.npy")
    images = [cache[i] for i in range(12)] + [np.full((64, 64), 255, np.uint8)]
    want_probs, want_classes = predict.predict_images(bundle, images, ingested=False)
    checked = predict.unlike_training_images(bundle, images)
    assert checked is not None
    x = torch.stack([predict.preprocess_image(im, bundle.metadata) for im in images])
    # the kept features are the first fold model's pooled identity view, as profile_features
    out = predict.ensemble_outputs(bundle, x, tta=True, keep_features=True)
    assert out.features is not None and out.features.shape == (13, 512)
    torch.testing.assert_close(out.features, predict.profile_features(bundle, x), rtol=1e-4, atol=1e-5)
    assert predict.ensemble_outputs(bundle, x).features is None
    # grade_images: the same grades and flags, and no second backbone pass for the check
    calls = {"profile_features": 0}
    profile_features = predict.profile_features

    def counted(*args: object) -> object:
        calls["profile_features"] += 1
        return profile_features(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(predict, "profile_features", counted)
    graded = predict.grade_images(bundle, images)
    assert calls["profile_features"] == 0
    np.testing.assert_array_equal(graded.probs, want_probs)
    np.testing.assert_array_equal(graded.classes, want_classes)
    assert graded.unlike is not None
    np.testing.assert_array_equal(graded.unlike, checked[1])
    assert graded.distance is not None
    np.testing.assert_allclose(graded.distance, checked[0], rtol=1e-3)
    assert graded.unlike[-1] and not graded.unlike[:12].any()  # the white image alone


def _test_images_and(run: Path, folder: Path, n: int, name: str, pixels: np.ndarray) -> Path:
    """``folder`` holding the first ``n`` test images of ``run`` and one more, ``name``."""
    folder.mkdir()
    for path in sorted((run / "images" / "test").iterdir())[:n]:
        (folder / path.name).write_bytes(path.read_bytes())
    cv2.imwrite(str(folder / name), pixels)
    return folder


def _weak_check_line(bundle: bundles.Bundle, unlike: np.ndarray | None) -> str:
    """``export._weak_check`` as the command prints it (``channel: sentence``, as ``main`` prints
    each of ``_caveat_lines``); '' for none."""
    weak = export._weak_check(bundle, unlike)
    return f"{weak[0]}: {weak[1]}" if weak else ""


def test_the_provenance_caveats_are_the_lines_the_export_printed(
        exported_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Review F4: a trial bundle's weak "unlike the training images" check was printed once with
    its reasons (``_weak_check``) while the sidecar's ``caveats`` kept the app's short
    sentence the command did not print; docs/deploying.md says they are the same sentences."""
    folder = _test_images_and(exported_run, tmp_path / "two", 1, "grey.png", np.full((64, 64), 90, np.uint8))
    out_csv = tmp_path / "g.csv"
    capsys.readouterr()
    assert export.main([str(exported_run), "--images", str(folder), "--out", str(out_csv)]) in (0, 4)
    printed = capsys.readouterr().err.splitlines()
    caveats = json.loads(provenance_path(out_csv).read_text())["caveats"]
    assert any(c.startswith("the out-of-distribution check of ") for c in caveats), caveats
    assert bundles.ood_check_caveat(export.load_bundle(exported_run).metadata) not in caveats
    assert all(f"warning: {c}" in printed or f"note: {c}" in printed for c in caveats), (caveats, printed)


def test_command_line_names_the_images_unlike_the_training_images(
        exported_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A new user's trial (F1): an image flagged "unlike the model's training images" on stderr
    had a row like any other and no notes file; the app's batch names such a CSV
    grades_FLAGGED.csv. The export now writes <stem>_notes.csv (each graded case, its grade and
    why it is not reliably gradable, empty when clean), says so in its last line and exits
    EXIT_FLAGGED (4); the submission's own format is unchanged. A clean export to the same CSV
    removes the notes file of the earlier one."""
    folder = _test_images_and(exported_run, tmp_path / "mixed", 3, "white.png", np.full((64, 64), 255, np.uint8))
    capsys.readouterr()
    out_csv = tmp_path / "x.csv"
    assert export.main([str(exported_run), "--images", str(folder), "--out", str(out_csv)]) == export.EXIT_FLAGGED == 4
    captured = capsys.readouterr()
    err, out = captured.err, captured.out
    line = next(x for x in err.splitlines() if "unlike the model's training images" in x)
    assert line.startswith("warning: 1 of the 4 image(s) is unlike") and line.count(".png") == 1
    assert "white.png" in line and "1 unlike the training images" in out
    notes = tmp_path / "x_notes.csv"
    rows = list(csv.DictReader(notes.open(encoding="utf-8-sig")))
    assert [r["case"] for r in rows] == [r["case"] for r in _submission(out_csv)]
    flagged = {r["case"]: r["not_reliably_gradable"] for r in rows}
    assert flagged.pop("white.png") == f"unlike the training images; blank or near-constant; {export.GRADE_NOT_USED}"
    assert set(flagged.values()) == {""}  # the clean rows say nothing
    last = out.splitlines()[-1]
    assert last.startswith("FLAGGED: 1 of the 4 graded image(s) is not reliably gradable (1 unlike the "
                           "training images") and str(notes) in last
    assert out_csv.read_text().splitlines()[0] == "case,class,P0,P1,P2" and check_submission(out_csv) == []
    (folder / "white.png").unlink()
    assert export.main([str(exported_run), "--images", str(folder), "--out", str(out_csv)]) == 0
    assert "FLAGGED" not in capsys.readouterr().out
    # the earlier notes are gone: a notes file now is this export's, of its grade notes alone
    # (a class that is not the most likely grade: this tiny model's thresholds give many)
    assert not notes.exists() or not any(r["not_reliably_gradable"] for r in csv.DictReader(notes.open(encoding="utf-8-sig")))


class _Killed(BaseException):
    """A kill at one step of the export (a test's stand-in for SIGKILL)."""


def test_a_kill_before_the_csv_lands_never_leaves_a_flagged_csv_without_its_notes(
        exported_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Review s56r3 F6: the notes file was written after the CSV was renamed into place, so a
    kill in between left a flagged CSV with no notes, which --score reads as clean. The notes
    land first (atomically); the earlier CSV goes before anything beside it changes, so a kill
    leaves no CSV rather than one beside another export's notes."""
    import os

    folder = _test_images_and(exported_run, tmp_path / "mixed", 3, "white.png", np.full((64, 64), 255, np.uint8))
    out_csv, notes = tmp_path / "k.csv", tmp_path / "k_notes.csv"
    real = os.replace

    def killed_at_the_csv(src: object, dst: object) -> None:
        if Path(str(dst)) == out_csv:
            raise _Killed
        real(src, dst)

    monkeypatch.setattr(os, "replace", killed_at_the_csv)
    with pytest.raises(_Killed):
        export.main([str(exported_run), "--images", str(folder), "--out", str(out_csv)])
    assert notes.is_file() and "white.png" in notes.read_text(encoding="utf-8-sig")  # in place before the CSV would land
    monkeypatch.setattr(os, "replace", real)
    assert export.main([str(exported_run), "--images", str(folder), "--out", str(out_csv)]) == export.EXIT_FLAGGED
    # a clean export over the flagged one, killed at the CSV: the flagged CSV is gone with its notes
    (folder / "white.png").unlink()
    monkeypatch.setattr(os, "replace", killed_at_the_csv)
    with pytest.raises(_Killed):
        export.main([str(exported_run), "--images", str(folder), "--out", str(out_csv)])
    # (the clean export's own notes, of its grade notes alone, may have landed: no flag in them)
    assert not out_csv.exists() and (not notes.exists() or "white.png" not in notes.read_text(encoding="utf-8-sig"))


def test_the_export_stage_writes_the_notes_file_of_flagged_test_images_and_goes_on(
        exported_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The export stage graded the ingest's test images without a notes file: a blank test
    image had a row like any other and only a console note, while --images wrote X_notes.csv
    by the shared rule. The stage now writes export/submission_notes.csv the same way (before
    the CSV lands), says so in a FLAGGED: line, summary.json, report.md and its file list,
    and goes on (no exception: the run does not fail); a clean export removes it again."""
    from drac_ssl.run_files import files_section

    run = tmp_path / "run"
    shutil.copytree(exported_run, run, ignore=shutil.ignore_patterns("bundles"))
    submission, notes = run / "export" / "submission.csv", run / "export" / "submission_notes.csv"
    notes.write_text("an earlier export's notes")
    result = export.run(tiny_config(), run)  # the fake test images: clean
    assert result.n_flagged == 0 and result.image_notes_path is None and not notes.exists()
    assert "image_notes" not in json.loads((run / "export" / "summary.json").read_text())
    # the first test image blanked in the ingest cache, as a blank scan would be ingested
    rows = list(csv.DictReader((run / "data" / "manifest.csv").open()))
    first = next(r for r in rows if r["split"] == "test")
    cache_path = run / "data" / "cache" / f"{SOURCE_SIZE}px.npy"
    cache = np.load(cache_path)
    cache[int(first["cache_index"])] = 255
    np.save(cache_path, cache)
    capsys.readouterr()
    result = export.run(tiny_config(), run)
    out = capsys.readouterr().out
    assert result.n_flagged == 1 and result.image_notes_path == notes and result.submission_path == submission
    noted = list(csv.DictReader(notes.open(encoding="utf-8-sig")))
    assert [r["case"] for r in noted] == [r["case"] for r in _submission(submission)]
    why = {r["case"]: r["not_reliably_gradable"] for r in noted}
    assert "blank or near-constant" in why.pop(first["id"]) and set(why.values()) == {""}, noted
    assert {r["training_image"] for r in noted} == {""}  # the test split trained nothing
    # every row names the bundle that graded: the SHA-256 of the metadata.json just built
    digest = hashlib.sha256((run / "bundle" / "metadata.json").read_bytes()).hexdigest()[:12]
    assert {r["bundle"].split("; ")[0] for r in noted} == {f"metadata_sha256={digest}"}, noted
    line = next(x for x in out.splitlines() if x.startswith("[export] FLAGGED: "))
    assert line.startswith("[export] FLAGGED: 1 of the 6 graded image(s) is not reliably gradable") and (
        f"per case in {notes}" in line and "not an error: the stage goes on" in line), line
    summary = json.loads((run / "export" / "summary.json").read_text())
    assert summary["image_notes"] == str(notes) and summary["n_flagged"] == 1
    assert summary["flagged_cases"] == [first["id"]] and summary["submission_written"] is True
    assert any(n.startswith("1 of the 6 graded image(s) is not reliably gradable") for n in summary["notes"])
    report = write_report(run).read_text()
    assert ("- not reliably gradable: 1 of the 6 test images, their rows in the submission like any "
            "other; per case, why, in `export/submission_notes.csv`") in report, report
    listed = [x for x in files_section(run, True) if "`export/submission_notes.csv`" in x]
    assert len(listed) == 1 and "Written when some test image is not reliably gradable" in listed[0], listed
    # in place before the CSV: a kill between the two leaves no flagged CSV without its notes
    notes.unlink()
    submission.unlink()
    real = os.replace

    def killed_at_the_csv(src: object, dst: object) -> None:
        if Path(str(dst)) == submission:
            raise _Killed
        real(src, dst)

    monkeypatch.setattr(os, "replace", killed_at_the_csv)
    with pytest.raises(_Killed):
        export.run(tiny_config(), run)
    assert notes.is_file() and first["id"] in notes.read_text(encoding="utf-8-sig") and not submission.exists()
    monkeypatch.setattr(os, "replace", real)
    # the command's export of a variant of the ingest's test images: the same file, exit 4 as --images
    assert export.main([str(run), "--variant", "vicreg"]) == export.EXIT_FLAGGED
    assert first["id"] in (run / "export" / "submission_vicreg_notes.csv").read_text(encoding="utf-8-sig")


def test_read_image_any_converts_rgb_and_16_bit_like_the_ingest(tmp_path: Path) -> None:
    gray = np.random.default_rng(0).integers(0, 256, (20, 24), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "rgb.png"), np.dstack([gray] * 3))
    cv2.imwrite(str(tmp_path / "deep.png"), gray.astype(np.uint16) * 257)
    cv2.imwrite(str(tmp_path / "gray.tif"), gray)
    for name in ("rgb.png", "deep.png", "gray.tif"):
        image = export.read_image_any(tmp_path / name)
        assert image.dtype == np.uint8 and image.shape == (20, 24)
        assert np.array_equal(image, gray), name
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(ValueError, match="broken.png"):
        export.read_image_any(tmp_path / "broken.png")
    with pytest.raises(ValueError, match="uint8 grey"):
        export.preprocess_image(np.zeros((8, 8, 3), np.uint8), {"input": {}})


def test_command_line_grades_a_folder_and_checks_files(exported_run: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    test_dir = exported_run / "images" / "test"
    team = tmp_path / "team.csv"
    assert export.main([str(exported_run), "--images", str(test_dir), "--out", str(team)]) == 0
    assert team.read_text() == (exported_run / "export" / "submission.csv").read_text()
    assert "class = the expected grade cut at QWK-tuned thresholds" in capsys.readouterr().out
    assert export.main(["--check", str(team), "--images", str(test_dir)]) == 0
    # one image file: graded alone, its row the same as in the folder's submission
    one = sorted(test_dir.iterdir())[0]
    single = tmp_path / "one.csv"
    assert export.main([str(exported_run), "--images", str(one), "--out", str(single)]) == 0
    lines = single.read_text().splitlines()
    assert lines[0] == team.read_text().splitlines()[0] and len(lines) == 2
    assert lines[1] in team.read_text().splitlines()
    assert "1 image(s) graded" in capsys.readouterr().out
    (tmp_path / "notes.txt").write_text("x")
    assert export.main([str(exported_run), "--images", str(tmp_path / "notes.txt"), "--out", str(single)]) == 2
    assert "not an image file" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(team.read_text().splitlines()[:-1]) + "\n")  # one image missing
    capsys.readouterr()
    assert export.main(["--check", str(bad), "--images", str(test_dir)]) != 0
    assert "has no row" in capsys.readouterr().out
    for argv in ([str(tmp_path / "no-run"), "--images", str(test_dir), "--out", str(team)],
                 ["--check", str(tmp_path / "missing.csv")],
                 [str(exported_run), "--images", str(tmp_path / "nowhere"), "--out", str(team)]):
        assert export.main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("error:") and "Traceback" not in err



def test_every_export_records_which_model_graded_beside_an_unchanged_submission(
        exported_run: Path, tmp_path: Path) -> None:
    # an auditor's finding: a clean batch (no notes file) named no model at all; the sidecar is
    # always written, and the submission keeps DRAC's case,class,P0.. columns
    meta_file = exported_run / "bundle" / "metadata.json"
    meta = json.loads(meta_file.read_text())
    digest = hashlib.sha256(meta_file.read_bytes()).hexdigest()[:12]
    stage = json.loads((exported_run / "export" / "submission_provenance.json").read_text())
    assert stage["bundle"]["metadata_sha256"] == digest and stage["n_images"] == 6
    test_dir = exported_run / "images" / "test"
    out = tmp_path / "grades.csv"
    assert export.main([str(exported_run), "--images", str(test_dir), "--out", str(out)]) == 0
    record = json.loads((tmp_path / "grades_provenance.json").read_text())
    assert record["format"] == bundles.GRADING_PROVENANCE_FORMAT
    assert record["bundle"]["metadata_sha256"] == digest
    assert record["bundle"]["variant"] == meta["variant"]
    assert record["bundle"]["created_utc"] == meta["created_utc"]
    assert record["bundle"]["package_version"] == meta["package_version"]
    assert record["n_images"] == len(list(test_dir.iterdir())) == len(out.read_text().splitlines()) - 1
    # the command as typed, each path by its last component (the folders above can name a patient)
    assert "--images" in record["command"] and f"--out {out.name}" in record["command"]
    assert str(out.parent) not in record["command"]
    assert record["graded_utc"][:4].isdigit() and record["graded_by"]["package"] == "drac_ssl"
    assert record["tta"] is stage["tta"] is meta["tta"]["used_in_cv"]  # the flips that graded
    k = len(meta["class_names"])
    assert out.read_text().splitlines()[0] == ",".join(["case", "class", *(f"P{i}" for i in range(k))])


def test_the_exported_bundle_records_and_cards_the_reports_calibration_figures(exported_run: Path) -> None:
    """Catches the export building its bundle without report.md's out-of-fold Brier score and
    ECE (the grading modules cannot compute them): metadata.json and MODEL_CARD.md say them."""
    from drac_ssl.report import oof_calibration_of

    meta = json.loads((exported_run / "bundle" / "metadata.json").read_text())
    record = meta[bundles.OOF_CALIBRATION_KEY]
    assert record == oof_calibration_of(exported_run)  # the run's, as report.md computes them
    card = " ".join((exported_run / "bundle" / "MODEL_CARD.md").read_text(encoding="utf-8").split())
    words = bundles.oof_calibration_words(record, meta["calibration"].get("temperature"))
    assert " ".join(words.split()) in card and bundles.OOF_CALIBRATION_NOT_RECORDED not in card


def test_command_line_grading_prints_a_progress_line_a_minute_off_a_terminal(
        exported_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A review: ``--images`` of 200 images was silent for 19 s, then said everything at once;
    a large folder would leave a cluster log or nohup silent for many minutes. Off a terminal
    (stderr, where the bar would be), a plain line at most a minute says how many images of how
    many are graded, the rate and the time left (drac_ssl.console, the engine's rule); on a
    terminal none. stdout and the CSV are the same either way."""
    from drac_ssl import console

    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(export.PREDICT_CHUNK + 3):  # two chunks: a line after each
        source = sorted((exported_run / "images" / "test").iterdir())[i % 6]
        shutil.copy(source, folder / f"{i}{source.suffix}")
    monkeypatch.setattr(console, "progress_clock", StepClock(61.0))
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    assert export.main([str(exported_run), "--images", str(folder), "--out", str(tmp_path / "log.csv")]) == 0
    logged = capsys.readouterr()
    lines = [line for line in logged.err.splitlines() if line.startswith("[export] ")]
    n = export.PREDICT_CHUNK + 3
    assert lines[0].startswith(f"[export] {export.PREDICT_CHUNK} of {n} images graded ("), lines
    assert " img/s, about " in lines[0] and lines[0].endswith(" left)"), lines
    assert lines[-1].startswith(f"[export] {n} of {n} images graded ("), lines
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert export.main([str(exported_run), "--images", str(folder), "--out", str(tmp_path / "tty.csv")]) == 0
    quiet = capsys.readouterr()
    assert "images graded (" not in quiet.err
    assert (tmp_path / "log.csv").read_bytes() == (tmp_path / "tty.csv").read_bytes()
    assert logged.out.replace("log.csv", "tty.csv").replace("log_notes.csv", "tty_notes.csv").replace(
        "log_provenance.json", "tty_provenance.json") == quiet.out


def test_the_grading_bar_is_closed_when_grading_is_interrupted(
        exported_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Ctrl-C (or an error) while grading left the bar open: a partly drawn bar on the
    terminal line, and the error line printed after it on the same line (a review)."""
    closed: list[bool] = []

    class Bar:  # tqdm's context-manager interface, recording its close
        def __init__(self, *args: object, **kwargs: object) -> None:
            pass

        def __enter__(self) -> Bar:
            return self

        def __exit__(self, *exc: object) -> None:
            closed.append(True)

        def update(self, n: int) -> None:
            pass

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(export, "progress_bar", Bar)
    monkeypatch.setattr(batch, "grade_images", interrupted)  # the loop of grading.batch.grade_files
    with pytest.raises(KeyboardInterrupt):
        export._predict_folder(str(exported_run), exported_run / "images" / "test", tmp_path / "out.csv",
                               tta=None, device="cpu")
    assert closed == [True]


def test_unreadable_files_write_nothing_unless_skip_unreadable_grades_the_rest(
        exported_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    test_dir = exported_run / "images" / "test"
    folder = _test_images_and(exported_run, tmp_path / "clinic", 6, "a_cut.png", np.zeros((64, 64), np.uint8))
    (folder / "a_cut.png").write_bytes((folder / "a_cut.png").read_bytes()[:60])  # truncated
    with pytest.raises(predict.ImageReadError) as raised:
        predict.read_image(folder / "a_cut.png", 3)
    assert raised.value.problems and all(p.what and p.fix for p in raised.value.problems)
    out = tmp_path / "grades.csv"
    record = export.skipped_record_path(out)
    assert record == tmp_path / "grades.skipped.json"
    # only a .csv suffix is replaced: two CSVs named sub.v1 and sub.v2 keep records of their own
    assert export.skipped_record_path(tmp_path / "sub.v1") == tmp_path / "sub.v1.skipped.json"
    assert export.skipped_record_path(tmp_path / "sub.v2") != export.skipped_record_path(tmp_path / "sub.v1")
    # a record left by an earlier run (as the export writes one): a strict success removes it
    record.write_text(json.dumps({"submission": str(out), "complete": False, "graded": 0, "skipped": []}))
    capsys.readouterr()
    # the default: a submission missing a case is invalid, so nothing is written
    assert export.main([str(exported_run), "--images", str(folder), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: 1 of the 7 image(s) cannot be read (nothing written)")
    assert "a_cut.png: truncated PNG" in err and "-> re-copy" in err
    fix = err.splitlines()[-1]
    assert fix.startswith("  fix:") and "move them out of the folder" in fix and "--skip-unreadable" in fix
    assert not out.exists()
    # --skip-unreadable: the six readable images graded exactly as in a complete run
    assert export.main([str(exported_run), "--images", str(folder), "--out", str(out),
                        "--skip-unreadable"]) == export.EXIT_SKIPPED == 3
    captured = capsys.readouterr()
    assert [x for x in captured.err.splitlines() if x.startswith("skipped:")] == [
        x for x in captured.err.splitlines() if "a_cut.png" in x] and "skipped: " in captured.err
    # the run pretrained on its test images, graded here: the notes file's line comes last
    *_, last, pretrained = captured.out.splitlines()
    assert pretrained.startswith("NOTE: 6 of 6 graded images were among those the self-supervised pretraining (VICReg) of this model's backbone read"), pretrained
    assert last.startswith("INCOMPLETE: 1 of the 7 files not graded: a_cut.png: truncated PNG")
    assert "skipped by --skip-unreadable" in last and "not a complete submission" in last
    assert captured.out.startswith("INCOMPLETE: 6 of the 7 image(s) graded")
    assert out.read_text() == (exported_run / "export" / "submission.csv").read_text()
    said = json.loads(record.read_text())
    assert said["complete"] is False and said["graded"] == 6
    assert [(s["file"], s["problem"].split(" (")[0]) for s in said["skipped"]] == [("a_cut.png", "truncated PNG")]
    assert said["skipped"][0]["fix"]
    # a review: a CSV failing its check said its skipped files were listed 'on stderr and in
    # RECORD', a record written only when the check passes (the one there is the earlier CSV's)
    kept = record.read_text()
    real = export.check_submission
    try:
        export.check_submission = lambda path, *a, **k: [f"{path}:0: a problem (a test) -> mend it"]
        assert export.main([str(exported_run), "--images", str(folder), "--out", str(out),
                            "--skip-unreadable"]) == 1
    finally:
        export.check_submission = real
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.startswith("INCOMPLETE: 1 of the 7 files not graded: a_cut.png") and str(record) not in last, last
    assert "skipped by --skip-unreadable (listed on stderr): " in last, last
    assert record.read_text() == kept  # the earlier CSV's record, as it was
    export.failed_submission_path(out).unlink()
    # a submission check against the folder sees the missing case, and names the record
    assert export.main(["--check", str(out), "--images", str(folder)]) == 1
    captured = capsys.readouterr()
    assert "image 'a_cut.png' has no row" in captured.out and str(record) in captured.err
    # a review: the format-only check of it said OK with only a note; the record says it is
    # incomplete: NOT a complete submission, exit 3, whatever the row count says
    assert export.main(["--check", str(out)]) == export.EXIT_SKIPPED
    captured = capsys.readouterr()
    assert captured.out.startswith(f"NOT a complete submission: {record} says 1 file(s) were skipped"), captured.out
    assert "OK" not in captured.out and "NOT a valid DRAC" not in captured.out
    # nothing unreadable: exit 0 and a record that says so
    assert export.main([str(exported_run), "--images", str(test_dir), "--out", str(out),
                        "--skip-unreadable"]) == 0
    assert json.loads(record.read_text())["complete"] is True and "OK: 6" in capsys.readouterr().out
    assert export.main(["--check", str(out), "--images", str(test_dir)]) == 0
    assert "unreadable" not in capsys.readouterr().err  # a record of nothing skipped says nothing
    # a strict run rewriting the CSV removes the record of an earlier one
    assert export.main([str(exported_run), "--images", str(test_dir), "--out", str(out)]) == 0
    assert not record.exists()
    # nothing readable at all: nothing written, even with the option
    only_bad = tmp_path / "bad"
    only_bad.mkdir()
    shutil.copy(folder / "a_cut.png", only_bad / "a_cut.png")
    assert export.main([str(exported_run), "--images", str(only_bad), "--out", str(tmp_path / "n.csv"),
                        "--skip-unreadable"]) == 2
    assert not (tmp_path / "n.csv").exists()
    # one unreadable file given alone: no folder to move it out of, no other image to grade
    capsys.readouterr()
    assert export.main([str(exported_run), "--images", str(only_bad / "a_cut.png"), "--out",
                        str(tmp_path / "n.csv")]) == 2
    fix = capsys.readouterr().err.splitlines()[-1]
    assert fix == "  fix: re-copy or re-export the image"
    with pytest.raises(SystemExit):
        export.main(["--help"])
    assert "NOT a complete submission" in " ".join(capsys.readouterr().out.split())


def test_skipped_files_keep_the_flagged_line_of_the_graded_images(
        exported_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A new-user trial (F2): with --skip-unreadable, a folder holding a truncated PNG and a
    vessel mask ended with "NOTE: ; per case in ..._notes.csv": the skipped files' table took
    the name of the graded images' reasons, so the FLAGGED line lost its count and reasons.
    Both lines are printed now, the INCOMPLETE one first, and the notes file names the mask."""
    from PIL import Image

    folder = _test_images_and(exported_run, tmp_path / "clinic", 3, "a_cut.png", np.zeros((64, 64), np.uint8))
    (folder / "a_cut.png").write_bytes((folder / "a_cut.png").read_bytes()[:60])  # truncated
    scan = np.asarray(Image.open(sorted(folder.glob("*.png"))[0]).convert("L"))
    Image.fromarray(scan > np.median(scan)).convert("1").save(folder / "mask.png")
    out = tmp_path / "g3.csv"
    capsys.readouterr()
    assert export.main([str(exported_run), "--images", str(folder), "--out", str(out),
                        "--skip-unreadable"]) == export.EXIT_SKIPPED
    lines = capsys.readouterr().out.splitlines()
    assert lines[-2].startswith("INCOMPLETE: 1 of the 5 files not graded: a_cut.png: truncated PNG"), lines
    last = lines[-1]
    assert last.startswith("FLAGGED: ") and "NOTE: ;" not in last, last
    assert "of the 4 graded image(s)" in last and "a thresholded export or mask" in last, last
    assert str(tmp_path / "g3_notes.csv") in last, last
    notes = {r["case"]: r["not_reliably_gradable"] for r in csv.DictReader((tmp_path / "g3_notes.csv").open(encoding="utf-8-sig"))}
    assert "a thresholded export or mask" in notes["mask.png"] and "a_cut.png" not in notes, notes


def test_a_jpeg_cut_in_its_header_is_named_a_damaged_jpeg_by_the_export(
        exported_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A JPEG cut at 300 bytes was "not an image (it holds bytes ff d8 ff e0 ...)" here as in
    the ingest: the decoder's words, now the format its first bytes name, with the re-copy fix."""
    ok, jpeg = cv2.imencode(".jpg", np.full((64, 64), 90, np.uint8))
    cut = tmp_path / "eye.jpg"
    cut.write_bytes(jpeg.tobytes()[:300])
    capsys.readouterr()
    assert export.main([str(exported_run), "--images", str(cut), "--out", str(tmp_path / "x.csv")]) == 2
    err = capsys.readouterr().err
    assert ("eye.jpg: a truncated JPEG (its first bytes are a JPEG's, but the file ends before "
            "its end marker) -> re-copy it") in err, err
    assert "not an image" not in err, err


@pytest.mark.parametrize(("image_size", "shape", "warned"), [
    (28, (28, 28), False),  # RetinaMNIST: its own 28 px images never warn
    (28, (14, 20), False),  # half the input size: the threshold itself
    (28, (13, 28), True),
    (64, (8, 8), True),
    (64, (48, 300, 3), False),
])
def test_small_image_warning_is_below_half_the_models_input_size(
        image_size: int, shape: tuple[int, ...], warned: bool) -> None:
    spec = grading.InputSpec(channels=3, source_size=max(image_size, 128), image_size=image_size,
                             recipe="fundus", mean=(0.5,) * 3, std=(0.25,) * 3)
    said = predict.small_image_warning(shape, {"input": spec.to_metadata()})
    assert bool(said) == warned
    if warned:
        h, w = shape[:2]
        assert said.startswith(f"{w}x{h} px, far below the {image_size} px the model was trained on")
        assert said.endswith(f"upscaled {image_size / min(h, w):.3g}x, the grade is unreliable")  # 2.15x, not 2x


def test_an_image_far_smaller_than_the_models_input_is_warned_about_alike_everywhere(
        exported_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The export command, grade_images and the app (one image and the batch tab) say the
    same words, from preprocess_image; this bundle's input is 32 px: 8 px warns, 16 px not."""
    from app.predict import Predictor

    # gradients, not noise: the app's upload checks refuse noise (app.inputs.refusal)
    folder = _test_images_and(exported_run, tmp_path / "small", 2, "tiny.png",
                              (np.add.outer(np.arange(8), np.arange(8)) * 16).astype(np.uint8))
    cv2.imwrite(str(folder / "half.png"), (np.add.outer(np.arange(16), np.arange(16)) * 8).astype(np.uint8))
    bundle = bundles.load_bundle(exported_run)
    assert bundle.spec.image_size == 32
    words = predict.small_image_warning((8, 8), bundle.metadata)
    assert words.startswith("8x8 px, far below the 32 px the model was trained on")
    capsys.readouterr()
    assert export.main([str(exported_run), "--images", str(folder), "--out", str(tmp_path / "x.csv")]) == export.EXIT_FLAGGED
    captured = capsys.readouterr()
    assert [x for x in captured.err.splitlines() if "far below" in x] == [f"warning: tiny.png: {words}"]
    assert "1 far smaller than the model's input" in captured.out
    files = export.list_images(folder)
    graded = predict.grade_images(bundle, [predict.read_image(p, 1)[0] for p in files])
    assert {p.name: w for p, w in zip(files, graded.warnings, strict=True) if w} == {"tiny.png": [words]}
    ingested = predict.grade_images(bundle, [np.zeros((48, 48), np.uint8)], ingested=True)
    assert ingested.warnings == [[]]  # a cache row is no file: its size says nothing
    predictor = Predictor(bundle, gradcam=False)
    said = [w for w in predictor.predict_file(folder / "tiny.png").warnings if "far below" in w or "Too small" in w]
    # one size warning: the app adds what its UW-OCTA size warning said (below 256 px) to the words
    assert said == [f"{words} (UW-OCTA en-face exports are 1024 x 1024; below 256 px the vessels are not resolved)."]
    assert not any("far below" in w for w in predictor.predict_file(folder / "half.png").warnings)
    _, _, unlike, small = predictor.grade_batch([predict.read_image(p, 1)[0] for p in files])
    assert small == [f"{words}." if p.name == "tiny.png" else "" for p in files]
    assert len(unlike) == len(files)


def test_command_line_warns_like_the_stage_when_no_better_than_chance(
        exported_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    test_dir = exported_run / "images" / "test"
    written = {}
    for name, qwk, ci in (("chance", 0.02, [-0.15, 0.2]), ("better", 0.5, [0.3, 0.7])):
        bundle_dir = tmp_path / name
        shutil.copytree(exported_run / "bundle", bundle_dir)
        meta = json.loads((bundle_dir / "metadata.json").read_text())
        meta["cv_metrics"].update(qwk=qwk, qwk_ci95=ci)
        (bundle_dir / "metadata.json").write_text(json.dumps(meta))
        out = tmp_path / f"{name}.csv"
        assert export.main([str(bundle_dir), "--images", str(test_dir), "--out", str(out)]) == 0
        captured = capsys.readouterr()
        said = [line for line in captured.err.splitlines() if "better than chance" in line]
        stage = bundles.chance_warning(meta["cv_metrics"])  # the export stage's rule and words
        assert said == ([f"warning: {stage}"] if name == "chance" else []), captured.err
        assert captured.out.startswith("OK: 6 image(s) graded")
        written[name] = out.read_text()
    assert written["chance"] == written["better"]  # the warning changes nothing in the file


def test_check_takes_k_from_a_misnumbered_header(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    team = tmp_path / "team.csv"  # a 5-grade submission with a typo in its header
    team.write_text("case,class,P0,P1,P2,P3,P5\n1.png,4,0.1,0.2,0.3,0.2,0.2\n2.png,0,0.6,0.1,0.1,0.1,0.1\n")
    assert export.main(["--check", str(team)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"{team}:1: header is 'case,class,P0,P1,P2,P3,P5' -> replace it with 'case,class,P0,P1,P2,P3,P4'"]


def test_check_against_dracs_test_folder_uses_dracs_3_grades(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "DRAC2022_Testing_Set" / "C. Diabetic Retinopathy Grading" / "1. Original Images"
    folder = folder / "b. Testing Set"  # the README's recipe: export --check k5.csv --images <this>
    folder.mkdir(parents=True)
    for name in ("1.png", "2.png"):
        (folder / name).write_bytes(b"\x89PNG\r\n\x1a\n")
    team = tmp_path / "k5.csv"
    team.write_text("case,class,P0,P1,P2,P3,P4\n1.png,4,0.1,0.2,0.3,0.2,0.2\n2.png,0,0.6,0.1,0.1,0.1,0.1\n")
    assert export.main(["--check", str(team), "--images", str(folder)]) == 1
    out = capsys.readouterr().out
    assert "the submission has 5 grades" in out and "DRAC accepts only 'case,class,P0,P1,P2'" in out
    # elsewhere K comes from the header, and the note says so. With --images the test images
    # come from the folder: the note names --grades 5 first (a new user followed its
    # '--manifest RUN' with a plain folder's run, whose manifest lists no test images: an
    # error), and --manifest only for a run whose manifest lists test images
    other = tmp_path / "imgs"
    shutil.copytree(folder, other)
    assert export.main(["--check", str(team), "--images", str(other)]) == 0
    # a review: 'pass --grades 5' named the header's own K, which only confirms the header
    assert ("note: K=5 taken from the header; to check the scale, pass --grades K, your scale's "
            "number of grades (this header has 5), or --manifest RUN for a run whose manifest "
            "lists test images\n") in capsys.readouterr().err
    assert export.main(["--check", str(team), "--images", str(other), "--grades", "5"]) == 0
    # the advice followed: nothing left to say of the scale; and the file was written by hand,
    # with no drac_ssl provenance beside it, which a DRAC format check does not mention (it is
    # run on CSVs of any tool): stderr is the scale line alone, as before the provenance record
    assert capsys.readouterr().err == f"checked as 5 grades (P0..P4), against {other} (--grades says 5 grades)\n"
    assert export.main(["--check", str(team)]) == 0  # the format alone: either says K
    assert ("note: K=5 taken from the header; to check the scale, pass --grades K, your scale's "
            "number of grades (this header has 5), or --manifest RUN for a run whose manifest "
            "lists test images\n") in capsys.readouterr().err


def test_report_is_written_and_links_existing_images(exported_run: Path) -> None:
    path = write_report(exported_run)
    text = path.read_text()
    for heading in ("## Data", "## Configuration", "## Stage wall times", "## Self-supervised pretraining",
                    "## Cross-validated fine-tuning", "## Export"):
        assert heading in text
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert any("pretrain/plots/" in link for link in links)
    assert any(link.endswith("comparison.png") for link in links)
    assert any(link.endswith("vicreg_confusion.png") for link in links)
    assert any(link.endswith("vicreg_roc.png") for link in links)
    for link in links:
        assert (exported_run / link).is_file(), link
    assert "| fold | train | val |" in text and "| pretrain | done |" in text
    # which per-fold kappa is which: a trial read 0.438 in the report and 0.000 in the console
    folds = json.loads((exported_run / "finetune" / "vicreg" / "metrics.json").read_text())["folds"]
    assert "| QWK (calibrated) | QWK (uncalibrated) |" in text and "cross-fitted" in text
    assert f"| {folds[0]['best_val_qwk_uncalibrated']:.3f} |" in text
    # which images pretraining saw, and that the test images were among them (transductive)
    assert "Images it learnt from, without labels:" in text
    assert "**The test images were among them**" in text
    assert "graded retinal images" in text and "dataset drac," not in text
    assert "percentile bootstrap (100 resamples)" in text  # the configured finetune.n_boot
    assert "crop scale [0.6, 1.0]" in text and "from 100 bootstrap resamples" in text
    # settings in words, not Python's True / False
    config_rows = text.split("## Configuration")[1].split("\n## ")[0]
    assert "True" not in config_rows and "False" not in config_rows
    assert "ImageNet stem" in config_rows and "TTA on" in config_rows and "class balance " in config_rows


def test_bundle_without_the_newer_keys_loads_with_the_old_defaults(tmp_path: Path) -> None:
    from app.demo_bundle import build_demo_bundle

    bundle_dir = build_demo_bundle(tmp_path, image_size=32, source_size=48, n_folds=2, head="conv")
    meta = json.loads((bundle_dir / "metadata.json").read_text())
    assert meta["model"]["head_width"] == 128 and meta["input"]["train_crop_scale"] == [0.6, 1.0]
    del meta["model"]["head_width"], meta["input"]["train_crop_scale"]
    (bundle_dir / "metadata.json").write_text(json.dumps(meta))
    bundle = export.load_bundle(bundle_dir)
    assert [m.head.reduce[0].out_channels for m in bundle.models] == [128, 128]
    assert bundle.spec.crop_scale == (0.6, 1.0)
    assert predict.predict_tensors(bundle, _inputs(bundle, 2))[0].shape == (2, 3)


def test_bundle_with_a_head_this_version_lacks_says_to_upgrade(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A bundle made by a newer drac_ssl (a head not in HEADS) is not a training-time mistake:
    the message names the bundle's head, the known heads and the fixes an app / export user
    can act on, not the finetune.head setting."""
    from app.demo_bundle import build_demo_bundle

    bundle_dir = build_demo_bundle(tmp_path, image_size=32, source_size=48, n_folds=2)
    meta = json.loads((bundle_dir / "metadata.json").read_text())
    meta["model"]["head"] = "mlp3"
    (bundle_dir / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(bundles.BundleError) as caught:
        export.load_bundle(bundle_dir)
    said = str(caught.value)
    assert str(bundle_dir) in said and "'mlp3'" in said and "newer drac_ssl" in said
    assert ", ".join(grading.HEADS) in said and "upgrade drac_ssl" in said
    assert "finetune.head" not in said
    images = tmp_path / "images"
    images.mkdir()
    cv2.imwrite(str(images / "a.png"), np.full((48, 48), 128, np.uint8))
    assert export.main([str(bundle_dir), "--images", str(images), "--out", str(tmp_path / "x.csv")]) == 2
    assert "newer drac_ssl" in capsys.readouterr().err


def test_an_unknown_head_in_the_settings_still_names_the_setting() -> None:
    with pytest.raises(ValueError, match=r"unknown head 'mlp3'.*finetune\.head"):
        grading.build_head("mlp3", 512, 0.0)


# --------------------------------------------------------------------------------------
# Shared backbone: one backbone pass per batch of TTA views for every fold head (freeze:
# frozen). Tolerance: none. On CPU fp32 the shared path performs each fold model's
# operations on the same batches in the same order (and memory layout), so its outputs are
# bit-identical to the per-fold path.


def _per_fold_reference(bundle: bundles.Bundle, x: torch.Tensor, tta: bool
                        ) -> tuple[list[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Each fold model loaded on its own (nothing shared, the bundle's memory layout) and run
    by predict_raw."""
    models = [bundles.to_inference_layout(grading.load_fold_model(bundle.metadata, bundle.path,
                                                                  entry), bundle.channels_last)
              for entry in bundle.metadata["folds"]]
    assert len({id(m.backbone) for m in models}) == len(models)
    raw = [predict.predict_raw(m, x, tta, torch.device("cpu")) for m in models]
    return raw, bundle.calibration.decide(raw)


def _plain_reference(bundle: bundles.Bundle, x: torch.Tensor, tta: bool) -> tuple[np.ndarray, ...]:
    """The straightforward computation the fast path replaces: each fold model loaded on its
    own, plain NCHW weights, one forward pass per image and flip, outputs averaged over the
    flips, under torch.no_grad."""
    models = [grading.load_fold_model(bundle.metadata, bundle.path, entry)
              for entry in bundle.metadata["folds"]]
    flips = predict.TTA_FLIPS if tta else predict.TTA_FLIPS[:1]
    raw = []
    with torch.no_grad():
        for m in models:
            rows = [torch.stack([m(xi[None].flip(d) if d else xi[None])[0].float() for d in flips])
                    .mean(0) for xi in x]
            raw.append(torch.stack(rows).double().numpy())
    return bundle.calibration.decide(raw)


@pytest.mark.parametrize("head", ["conv", "regression"])
def test_fast_path_gives_the_probabilities_of_the_plain_computation(tmp_path: Path, head: str) -> None:
    """predict_tensors (channels-last on the CPU, the 4 flips in one batch, a shared backbone
    run once, inference_mode) against one plain forward per fold, image and flip. Not
    bit-equal: other convolution kernels (NHWC, batch of 64 views against 1) round float32
    differently, ~1e-6 relative in the feature maps. Probabilities are a smooth function of
    the logits (softmax / T; |dP/dlogit| <= 1/(4T)), so they agree to well under 1e-5;
    the grades, cut at thresholds, agree unless a score sits within ~1e-6 of one."""
    from app.demo_bundle import build_demo_bundle

    bundle = export.load_bundle(build_demo_bundle(tmp_path / "run", image_size=32, source_size=48,
                                                  n_folds=3, head=head))
    assert bundle.channels_last and bundle.shared_backbone is not None
    x = _inputs(bundle, 21)  # two chunks of 16 images x 4 views
    for tta in (True, False):
        probs, score, grade = predict.predict_tensors(bundle, x, tta)
        want_p, want_s, want_g = _plain_reference(bundle, x, tta)
        np.testing.assert_allclose(probs, want_p, rtol=0, atol=1e-5)
        np.testing.assert_allclose(score, want_s, rtol=0, atol=1e-5)
        assert np.array_equal(grade, want_g)


def _inputs(bundle: bundles.Bundle, n: int, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    side = bundle.spec.source_size
    return torch.stack([export.preprocess_image(rng.integers(0, 256, (side, side), dtype=np.uint8),
                                                bundle.metadata) for _ in range(n)])


def _assert_same(got: tuple[np.ndarray, ...], want: tuple[np.ndarray, ...]) -> None:
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(a, b)


def _unshared_bundle(run_dir: Path, head: str, differ: str) -> Path:
    """A demo bundle rewritten as ``freeze: last`` / ``all`` stores it: every fold file holds
    its own backbone, fold k's differing from fold 0's in ``differ`` (a layer4 weight or
    just one BatchNorm statistic)."""
    from safetensors.torch import load_file

    from app.demo_bundle import build_demo_bundle
    from drac_ssl.checkpoint import save_weights
    from drac_ssl.io import sha256_file

    bundle = build_demo_bundle(run_dir, image_size=32, source_size=48, n_folds=3, head=head)
    backbone = load_file(str(bundle / "backbone.safetensors"))
    meta = json.loads((bundle / "metadata.json").read_text())
    for entry in meta["folds"]:
        k = entry["fold"]
        state = {name: t.clone() for name, t in backbone.items()}
        if differ == "layer4":
            state["backbone.layer4.1.conv2.weight"] += 0.01 * k
        else:  # a single running statistic, one ulp per fold
            t = state["backbone.layer3.0.bn1.running_var"]
            t[0] = torch.nextafter(t[0], torch.tensor(float("inf"))) if k else t[0]
        state.update(load_file(str(bundle / f"fold{k}.safetensors")))
        save_weights(bundle / f"fold{k}.safetensors", state, {"format": "drac_ssl grading fold v1"})
        entry["weights"] = [f"fold{k}.safetensors"]
        entry["sha256"] = {f"fold{k}.safetensors": sha256_file(bundle / f"fold{k}.safetensors")}  # as a build records
    (bundle / "backbone.safetensors").unlink()
    meta["freeze"] = "last" if differ == "layer4" else "all"
    (bundle / "metadata.json").write_text(json.dumps(meta))
    return bundle


def test_frozen_run_bundle_shares_one_backbone_and_predicts_like_each_fold(
        exported_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = export.load_bundle(exported_run)
    assert bundle.metadata["freeze"] == "frozen" and len(bundle.models) == 5
    shared = bundle.shared_backbone
    assert shared is not None and all(m.backbone is shared for m in bundle.models)
    assert len({id(m.head) for m in bundle.models}) == 5  # the heads stay per fold
    x = _inputs(bundle, 7)
    _, want = _per_fold_reference(bundle, x, tta=True)
    monkeypatch.setattr(predict, "predict_raw", None)  # the per-fold path is not taken
    _assert_same(predict.predict_tensors(bundle, x, tta=True), want)


@pytest.mark.parametrize("head", sorted(grading.HEADS))
def test_shared_backbone_path_is_bit_identical_to_the_per_fold_path(
        tmp_path: Path, head: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.demo_bundle import build_demo_bundle

    bundle = export.load_bundle(build_demo_bundle(tmp_path / "run", image_size=32, source_size=48,
                                                  n_folds=3, head=head))
    assert bundle.shared_backbone is not None
    # two batches (the second a short one) for one head; the chunking is the same for all
    x = _inputs(bundle, predict.PREDICT_BATCH // 4 + 5 if head == "conv" else 6)
    seen: list[list[np.ndarray]] = []
    run_models = predict._run_models

    def spy(models: object, backbone: object, *args: object, **kwargs: object) -> object:
        out = run_models(models, backbone, *args, **kwargs)  # type: ignore[arg-type]
        if backbone is not None:
            seen.append(out[0])
        return out

    monkeypatch.setattr(predict, "_run_models", spy)
    for tta in (True, False):
        raw_want, want = _per_fold_reference(bundle, x, tta)
        _assert_same(predict.predict_tensors(bundle, x, tta), want)
        assert len(seen) == 1 + (not tta)  # predict_tensors took the shared path
        for got, ref in zip(seen[-1], raw_want, strict=True):  # the raw outputs, bit for bit
            assert got.shape == ref.shape and got.dtype == ref.dtype
            np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("differ", ["layer4", "bn_statistic"])
def test_bundle_with_differing_backbones_runs_every_fold_model(
        tmp_path: Path, differ: str, monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = export.load_bundle(_unshared_bundle(tmp_path / "run", "conv", differ))
    assert not bundles.backbones_identical(bundle.models)
    assert bundle.shared_backbone is None
    assert len({id(m.backbone) for m in bundle.models}) == 3
    x = _inputs(bundle, 5)
    raw_want, want = _per_fold_reference(bundle, x, tta=True)
    if differ == "layer4":
        assert not np.array_equal(raw_want[0], raw_want[1])  # the folds really differ
    run_models = predict._run_models

    def spy(models: object, backbone: object, *args: object, **kwargs: object) -> object:
        assert backbone is None  # the shared path is not taken
        return run_models(models, backbone, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(predict, "_run_models", spy)
    _assert_same(predict.predict_tensors(bundle, x, tta=True), want)
    # keeping the first model's features: the same raw outputs, bit for bit, and its features
    out = predict.ensemble_outputs(bundle, x, tta=True, keep_features=True)
    for got, ref in zip(out.raw, raw_want, strict=True):
        np.testing.assert_array_equal(got, ref)
    assert out.features is not None
    torch.testing.assert_close(out.features, predict.profile_features(bundle, x), rtol=1e-4, atol=1e-5)
    probs, classes = export.predict_images(bundle, [np.zeros((48, 48), np.uint8)] * 2)
    assert probs.shape == (2, 3) and classes.shape == (2,)


def test_backbones_identical_compares_every_tensor() -> None:
    spec = grading.ModelSpec(arch="resnet18", in_channels=1, cifar_stem=False, head="linear",
                              dropout=0.0)
    torch.manual_seed(0)
    base = spec.build()
    copies = [grading.GradingModel(copy.deepcopy(base.backbone), spec.build_head())
              for _ in range(3)]
    assert bundles.backbones_identical(copies)
    assert bundles.backbones_identical(copies[:1]) and bundles.backbones_identical([])
    assert bundles.backbones_identical([base, grading.GradingModel(base.backbone, spec.build_head())])

    def changed(edit: str) -> bool:
        other = grading.GradingModel(copy.deepcopy(base.backbone), spec.build_head())
        state = other.backbone.state_dict()
        with torch.no_grad():
            if edit == "weight_ulp":
                w = state["layer4.1.conv2.weight"].view(-1)
                w[3] = torch.nextafter(w[3], torch.tensor(float("inf")))
            elif edit == "running_mean":
                state["bn1.running_mean"][0] += 1e-6
            elif edit == "batches_tracked":
                state["layer1.0.bn1.num_batches_tracked"] += 1
            elif edit == "nan":  # NaN != NaN: treated as a difference, never shared
                base_nan = copy.deepcopy(base.backbone)
                base_nan.layer2[0].conv1.weight.view(-1)[0] = float("nan")
                other.backbone.layer2[0].conv1.weight.view(-1)[0] = float("nan")
                return not bundles.backbones_identical([
                    grading.GradingModel(base_nan, spec.build_head()), other])
            elif edit == "dtype":
                other.backbone.double()
        return not bundles.backbones_identical([copies[0], other, copies[1]])

    for edit in ("weight_ulp", "running_mean", "batches_tracked", "nan", "dtype"):
        assert changed(edit), edit


def test_any_fine_tuned_variant_exports_into_its_own_bundle_and_csv(exported_run: Path, tmp_path: Path) -> None:
    cfg = tiny_config()
    out = tmp_path / "submission_vicreg.csv"
    result = export.run(cfg, exported_run, variant="vicreg", submission_path=out)
    assert result.submission_path == out and result.n_test == 6
    assert result.bundle_dir == exported_run / "bundles" / "vicreg"
    assert check_submission(out, exported_run / "images" / "test") == []
    # the run selected vicreg (the only variant): the same grades and probabilities as its export
    assert _submission(out) == _submission(exported_run / "export" / "submission.csv")
    assert json.loads((exported_run / "export" / "summary_vicreg.json").read_text())["variant"] == "vicreg"
    with pytest.raises(bundles.BundleError, match=r"no fine-tuned variant 'scratch'.*it has vicreg"):
        export.run(cfg, exported_run, variant="scratch", submission_path=tmp_path / "s.csv")
    assert not (tmp_path / "s.csv").exists()


def test_no_test_images_is_said_on_the_console_with_why(
        exported_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A trial run whose testing set was not found ended '[train] finished' with no
    submission, said only in export/summary.json and report.md: the export stage says so on
    the console, with why (the ingest's note on where it looked) and how to grade a folder."""
    run = tmp_path / "run"
    shutil.copytree(exported_run, run, ignore=shutil.ignore_patterns("bundle", "bundles", "export"))
    manifest = run / "data" / "manifest.csv"
    rows = manifest.read_text(encoding="utf-8").splitlines()
    manifest.write_text("\n".join(r for r in rows if ",test," not in r) + "\n", encoding="utf-8")
    summary = json.loads((run / "data" / "ingest_summary.json").read_text())
    looked = ("/data/DRAC: no testing set found, only the training set is ingested: no 'b. Testing "
              "Set' folder of test images in /data/DRAC/C. Diabetic Retinopathy Grading/1. "
              "Original Images")
    summary["notes"] = [f"{looked} -> unzip the testing set into /data/DRAC"]
    (run / "data" / "ingest_summary.json").write_text(json.dumps(summary))
    capsys.readouterr()
    result = export.run(tiny_config(), run)
    out = capsys.readouterr().out
    assert result.submission_path is None and result.n_test == 0
    assert not (run / "export" / "submission.csv").exists()
    assert (f"[export] no submission written: the ingest manifest has no test images (the ingest "
            f"said: {looked}) -> to grade a folder of test images with this run's bundle: "
            f"{python_command('drac_ssl.export')} {run} --images DIR --out submission.csv") in out, out
    record = json.loads((run / "export" / "summary.json").read_text())
    assert record["submission_written"] is False and record["n_flagged"] == 0  # a pipeline gates on it
    noted = record["notes"]
    assert noted[0].startswith("the ingest manifest has no test images: no submission written (the "
                               "ingest said: /data/DRAC: no testing set found")
    summary["notes"] = []  # a layout with no note on it (a plain folder without test/)
    (run / "data" / "ingest_summary.json").write_text(json.dumps(summary))
    export.run(tiny_config(), run)
    assert (f"no test images (the ingest of {summary['root']} found none)"
            in capsys.readouterr().out)


def test_a_model_no_better_than_chance_is_flagged(exported_run: Path) -> None:
    assert bundles.chance_warning({"qwk": 0.31, "qwk_ci95": [0.12, 0.5]}) is None
    assert bundles.chance_warning({}) is None  # an untrained demo bundle: no metrics at all
    assert bundles.chance_warning({"qwk": None, "qwk_ci95": [None, None]}) is None
    text = bundles.chance_warning({"qwk": 0.0, "qwk_ci95": [0.0, 0.0], "auc_ovr": 0.49})
    assert text and "better than chance" in text and "one-vs-rest 0.490" in text
    assert "0.000..0.000" not in text and "its CI not meaningful: every resample gives 0.000" in text
    text = bundles.chance_warning({"qwk": 0.0, "qwk_ci95": [0.0, 0.0], "auc_ovr": 0.49,
                                   "qwk_ci95_note": "every image was given one grade (1 NPDR), so every "
                                                    "resample gives 0.000"})
    assert "QWK 0.000, its CI not meaningful: every image was given one grade (1 NPDR)" in text
    assert "95% CI -0.100..0.100 reaches 0" in bundles.chance_warning({"qwk": 0.0, "qwk_ci95": [-0.1, 0.1]})
    assert "inconclusive" not in bundles.chance_warning({"qwk": 0.0, "qwk_ci95": [-0.1, 0.1]})
    # a trial user's 30 photographs: an interval up to 0.483 holds useful grading too, said inconclusive
    small = bundles.chance_warning({"qwk": 0.186, "qwk_ci95": [-0.138, 0.483], "auc_ovr": 0.56})
    assert ("95% CI -0.138..0.483 reaches 0, macro AUC one-vs-rest 0.560 (0.5 = chance); the QWK's interval "
            "holds both chance-level and useful grading (QWK 0.4 or more), so the result is inconclusive, not "
            "evidence that the method fails. Do not read") in small, small
    # an interval wholly below 0 does not "reach" 0 (a review): worse than chance, said so
    assert "95% CI -0.200..-0.050 lies below 0 (worse than chance)" in bundles.chance_warning(
        {"qwk": -0.12, "qwk_ci95": [-0.2, -0.05]})
    assert "one-vs-one 0.480" in bundles.chance_warning({"qwk": 0.0, "qwk_ci95": [-0.1, 0.1], "auc": 0.48})
    # a trial's QWK 0.469 (CI -0.011..0.716) beside an AUC of 0.810 read as a contradiction: with
    # the AUC's own CI above 0.5 the warning says the ranking is better than chance, the grades not
    ranked = bundles.chance_warning({"qwk": 0.469, "qwk_ci95": [-0.011, 0.716], "auc_ovr": 0.81,
                                     "auc_ovr_ci95": [0.7, 0.9]})
    assert ranked.startswith("No evidence that this model grades better than chance: out-of-fold QWK "
                             "0.469, 95% CI -0.011..0.716 reaches 0; the QWK's interval holds both chance-level and "
                             "useful grading (QWK 0.4 or more), so the result is inconclusive, not evidence that "
                             "the method fails. Its probabilities do rank the images "
                             "better than chance (macro AUC one-vs-rest 0.810, 95% CI 0.700..0.900, above 0.5)")
    assert "rank the images" not in bundles.chance_warning({"qwk": 0.0, "qwk_ci95": [-0.1, 0.1],
                                                            "auc_ovr": 0.55, "auc_ovr_ci95": [0.45, 0.65]})
    meta = json.loads((exported_run / "bundle" / "metadata.json").read_text())
    meta["cv_metrics"].update(qwk=0.01, qwk_ci95=[-0.2, 0.2])
    assert "No evidence that this model grades better than chance" in bundles._model_card(meta)
    assert "(bootstrap 95% CI -0.200..0.200)" in bundles._model_card(meta)
    meta["cv_metrics"].update(qwk=0.0, qwk_ci95=[0.0, 0.0], qwk_ci95_note="every image was given one grade")
    card = bundles._model_card(meta)
    assert "(bootstrap 95% CI not meaningful: every image was given one grade)" in card
    assert "0.000..0.000" not in card
    meta["cv_metrics"].update(qwk=0.6, qwk_ci95=[0.4, 0.7])
    assert "better than chance" not in bundles._model_card(meta)
    assert "screening" not in bundles._model_card(meta)  # three grades
    two = {**meta, "class_names": ["no referable DR", "referable DR"],
           "cv_metrics": {**meta["cv_metrics"], "sensitivity": 0.8, "specificity": 0.9}}
    assert ("sensitivity 0.800 (images of grade 1, referable DR, found), specificity 0.900 (grade 0, no "
            "referable DR, cleared)") in bundles._model_card(two)
    cut = {**two["calibration"], "thresholds": [0.749], "decision": "thresholds", "output": "classification"}
    assert "referable DR when P1 >= 0.749, which need not be 0.5" in bundles._model_card({**two, "calibration": cut})


def test_the_model_card_speaks_of_the_data_it_was_trained_on(exported_run: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    meta = json.loads((exported_run / "bundle" / "metadata.json").read_text())
    card = bundles._model_card(meta)  # a plain folder of grey UW-OCTA-like images
    assert "3 x 3 mm scans" in card and "this one data set" in card and "single-challenge" not in card
    meta["data"].update(kind="aptos", modality="fundus")
    card = bundles._model_card(meta)
    assert "other cameras" in card and "3 x 3 mm" not in card
    assert "- Data: APTOS (" in card  # the layout as people write it, not its key (review F6)
    # the fundus preprocessing, with the source of each step that is on and of no other (F5)
    assert "Fundus preprocessing" not in card
    meta["input"]["ingest_preprocessing"] = {"fundus_crop": False, "graham": True, "graham_mask": True}
    assert ("replayed on every input: Graham's local-mean subtraction (B. Graham, Kaggle DR 2015)."
            in bundles._model_card(meta))
    monkeypatch.setitem(bundles.PREPROCESSING_REFERENCES, "graham", "")  # a step without a source
    assert "replayed on every input: Graham's local-mean subtraction.\n" in bundles._model_card(meta)
    assert bundles.task_description(["a", "b", "c"], 1, "plain", "fundus").endswith("grey fundus photograph")
    assert bundles.task_description(["Normal", "NPDR", "PDR"], 1, "drac", "octa").startswith("DRAC 2022")
    # the AUC's own interval travels from the fine-tuning's metrics into the bundle
    finetuned = json.loads((exported_run / "finetune" / meta["variant"] / "metrics.json").read_text())
    assert meta["cv_metrics"]["auc_ovr_ci95"] == finetuned["auc_ovr_ci95"]  # the very interval, not any
    # scratch under a frozen backbone is random features, not a network trained from scratch
    scratch = {**meta, "variant": "scratch", "freeze": "frozen"}
    assert "randomly initialised and frozen, so only the head was trained" in bundles._model_card(scratch)
    assert "starts from a random initialisation" in bundles._model_card({**scratch, "freeze": "all"})
    # and its row of the comparison says so too (an audit: "scratch" read as trained from scratch)
    rows = {"comparison": [{"variant": "scratch", "qwk": 0.1}, {"variant": "vicreg", "qwk": 0.2}]}
    assert "| scratch (random init, frozen: random features + trained head) | 0.100" in bundles._model_card(
        {**scratch, **rows})
    assert "| scratch (random init) | 0.100" in bundles._model_card({**scratch, **rows, "freeze": "all"})


def test_report_explains_a_pooled_auc_far_below_the_folds_and_a_zero_difference() -> None:
    from drac_ssl import report

    folds = [{"auc": 0.8}, {"auc": 0.7}, {"auc": 0.6}]
    note = report._pooling_gap({"auc": 0.49, "folds": folds})
    assert "pooled out-of-fold AUC (0.490) is well below the folds' own (mean 0.700)" in note
    assert report._pooling_gap({"auc": 0.65, "folds": folds}) == ""  # within 0.1: nothing to explain
    assert report._pooling_gap({"auc": None, "folds": folds}) == ""
    zero = {m: {"difference": 0.0, "ci_low": 0.0, "ci_high": 0.0} for m in ("accuracy", "qwk", "auc_ovr")}
    assert report._identical(zero)
    assert not report._identical({**zero, "qwk": {"difference": 0.0, "ci_low": -0.01, "ci_high": 0.01}})
    assert not report._identical({})


def test_the_bundle_links_the_fine_tuned_weights_and_keeps_them_when_finetuning_replaces_them(
        exported_run: Path, tmp_path: Path) -> None:
    import os
    import shutil

    run = tmp_path / "run"
    shutil.copytree(exported_run, run)
    out = bundles.build_bundle(run, out=tmp_path / "bundle")
    meta = json.loads((out / "metadata.json").read_text())
    name = meta["folds"][0]["weights"][-1]
    source = run / "finetune" / meta["variant"] / name
    assert os.path.samefile(out / name, source)  # no second copy on disk
    before = (out / name).read_bytes()
    from drac_ssl.io import atomic_write_bytes

    atomic_write_bytes(source, b"a rerun of the fine-tuning")  # how the package rewrites a file
    assert (out / name).read_bytes() == before
    bundles.load_bundle(out)


def test_command_line_names_blank_images_and_says_when_a_bundle_has_no_check(
        exported_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    folder = _test_images_and(exported_run, tmp_path / "with_black", 2, "black.png", np.zeros((64, 64), np.uint8))
    capsys.readouterr()
    assert export.main([str(exported_run), "--images", str(folder), "--out", str(tmp_path / "x.csv")]) == export.EXIT_FLAGGED
    captured = capsys.readouterr()
    line = next(x for x in captured.err.splitlines() if "blank or near-constant" in x)
    assert "1 of the 3 image(s) is blank or near-constant: black.png" in line
    assert "1 blank (see the warning)" in captured.out and len(_submission(tmp_path / "x.csv")) == 3
    assert "no out-of-distribution check" not in captured.err
    assert "the check is weak here: it was fitted on 30 training images for 576 numbers" in captured.err

    old = tmp_path / "old_bundle"  # built before the check existed: no input_profile
    shutil.copytree(exported_run / "bundle", old)
    meta = json.loads((old / "metadata.json").read_text())
    del meta["input_profile"]
    (old / "metadata.json").write_text(json.dumps(meta))
    assert export.main([str(old), "--images", str(folder), "--out", str(tmp_path / "y.csv")]) == export.EXIT_FLAGGED
    err = capsys.readouterr().err
    assert "has no out-of-distribution check" in err and "build_bundle('RUN', oof_calibration=oof_calibration_of('RUN'))" in err


def test_a_weak_out_of_distribution_check_is_said_once(
        exported_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The last session's finding: ``export RUN --images DIR`` on a bundle whose "unlike the
    training images" check is weak (this tiny run's: 30 training images, a trial run) said it
    twice, its reasons as a ``note:`` and the app's short caveat as a ``warning:``. It is one
    line now, the reasons kept: a ``warning:`` while an image went unflagged (a weak check's
    doubt is on those: "no flag means little"), a ``note:`` when every image was flagged (each
    then has its own warning)."""
    def said_of_the_check(err: str) -> list[str]:
        return [line for line in err.splitlines()
                if "check is weak here" in line or "unlike the training images is unreliable" in line]

    # the run's own test images: none flagged
    capsys.readouterr()
    assert export.main([str(exported_run), "--images", str(exported_run / "images" / "test"),
                        "--out", str(tmp_path / "clean.csv")]) == 0
    err = capsys.readouterr().err
    assert "unlike the model's training images" not in err, err  # nothing flagged
    (line,) = said_of_the_check(err)
    assert line.startswith(f"warning: the out-of-distribution check of {exported_run / 'bundle'}: the check is weak "
                           f"here: it was fitted on 30 training images for 576 numbers per image"), line
    assert line.endswith("no flag means little)"), line
    # some flagged (a white picture among them): still one warning, beside the flagged images' own
    mixed = _test_images_and(exported_run, tmp_path / "mixed", 3, "white.png", np.full((64, 64), 255, np.uint8))
    assert export.main([str(exported_run), "--images", str(mixed), "--out", str(tmp_path / "mixed.csv")]) == 4
    err = capsys.readouterr().err
    assert any(line.startswith("warning: 1 of the 4 image(s) is unlike the model's training images") for line in
               err.splitlines()), err
    assert [line.split(": ", 1)[0] for line in said_of_the_check(err)] == ["warning"]
    # every image flagged: the check's weakness casts no doubt on an unflagged one, a note
    alone = tmp_path / "alone"
    alone.mkdir()
    cv2.imwrite(str(alone / "white.png"), np.full((64, 64), 255, np.uint8))
    assert export.main([str(exported_run), "--images", str(alone), "--out", str(tmp_path / "alone.csv")]) == 4
    (line,) = said_of_the_check(capsys.readouterr().err)
    assert line.startswith("note: the out-of-distribution check of "), line
    # a sound check says nothing
    from dataclasses import replace

    bundle = export.load_bundle(exported_run)
    assert _weak_check_line(bundle, np.zeros(3, bool)).startswith("warning: ")
    sound = replace(bundle, input_profile=replace(bundle.input_profile, n_images=10_000, trial_run=False),
                            metadata={**bundle.metadata, "trial_run": {"trial": False},
                                      "input_profile": {**bundle.metadata["input_profile"], "weak": False}})
    assert _weak_check_line(sound, np.zeros(3, bool)) == ""


def test_a_weak_checks_past_evidence_is_history_and_not_beside_a_count_of_all_flagged(exported_run: Path) -> None:
    """A trial (F11): a trial bundle of RetinaMNIST flagged 30 of 30 APTOS photographs, and the
    next line said "a trial bundle of RetinaMNIST flagged none of 30 APTOS photographs". The
    past measurement is said as such (a review by hand, its date and where it is recorded), and
    left out when this bundle flagged most of the graded images, whose count is said instead."""
    from drac_ssl.grading.ood import TRIAL_EVIDENCE

    bundle = export.load_bundle(exported_run)
    assert bundle.input_profile is not None and bundle.input_profile.trial_run
    assert "review by hand of 2026-12-04" in TRIAL_EVIDENCE and "docs/app.md" in TRIAL_EVIDENCE
    none = _weak_check_line(bundle, np.zeros(4, bool))
    assert none.startswith("warning: ") and TRIAL_EVIDENCE in none and "here it flagged" not in none
    every = _weak_check_line(bundle, np.ones(4, bool))
    assert every.startswith("note: ") and "flagged none" not in every, every
    assert every.endswith("; here it flagged every one of the 4 graded images"), every
    most = _weak_check_line(bundle, np.array([True, True, True, False]))
    assert most.startswith("warning: ") and "flagged none" not in most
    assert most.endswith("here it flagged 3 of the 4 graded images: those it did not flag may still be of "
                         "another kind"), most


def test_an_image_of_few_grey_levels_is_warned_about_in_the_apps_words(
        exported_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A review: the app warns before the grade of an image of at most a few grey levels (a
    thresholded export, a vessel mask, a 1-bit file), the export graded one without a word. It
    now says the app's sentence (few_levels_warning) for the file, counts it in the summary and
    does not repeat the decoder's 1-bit note; a blank image is said by the blank line alone."""
    from PIL import Image

    from app.inputs import load_bytes
    from data_prep.decode import ONE_BIT_NOTE
    from drac_ssl.grading.image_notes import few_levels_warning

    folder = _test_images_and(exported_run, tmp_path / "masks", 2, "black.png", np.zeros((64, 64), np.uint8))
    source = sorted(folder.glob("*.png"))[0]
    scan = np.asarray(Image.open(source).convert("L"))
    Image.fromarray(scan > np.median(scan)).convert("1").save(folder / "mask.png")
    posterised = (scan // 64 * 85).astype(np.uint8)  # at most 4 grey levels, an 8-bit file
    Image.fromarray(posterised).save(folder / "posterised.png")
    levels = [int(v) for v in np.unique(posterised)]
    assert 2 <= len(levels) <= 4, levels
    bundle = bundles.load_bundle(exported_run)
    capsys.readouterr()
    assert export.main([str(exported_run), "--images", str(folder), "--out", str(tmp_path / "x.csv")]) == export.EXIT_FLAGGED
    captured = capsys.readouterr()
    said = {line.split(": ", 2)[1]: line.split(": ", 2)[2] for line in captured.err.splitlines()
            if "a thresholded export or a vessel mask" in line}
    mask = few_levels_warning([[0, 255]], "1", bundle.kind, bundle.spec.channels)
    assert mask.startswith("Only 2 grey levels (0 and 255; a 1-bit file): a thresholded export")
    assert said == {"mask.png": mask, "posterised.png": few_levels_warning(
        [levels], "L", bundle.kind, bundle.spec.channels)}, captured.err
    assert f"warning: mask.png: {mask}" in captured.err.splitlines()
    assert not [x for x in captured.err.splitlines() if ONE_BIT_NOTE in x], captured.err
    assert "2 with only a few grey levels (see the warnings)" in captured.out, captured.out
    assert "1 blank (see the warning)" in captured.out
    # the app's page says the same sentence for the same file
    page = load_bytes((folder / "mask.png").read_bytes(), "mask.png", channels=bundle.spec.channels,
                      kind=bundle.kind)
    assert mask in page.warnings, page.warnings

def test_command_line_names_images_that_look_like_random_noise(
        exported_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The app refuses an upload of random noise (data_prep.validate.looks_like_noise); the
    export graded one without a word. It is still graded (a submission lists every case) but
    named in one warning line, with what was found and what to do, and counted in the summary;
    the run's own test images (structured) are not named."""
    noise = np.random.default_rng(5).integers(0, 256, (64, 64), dtype=np.uint8)
    folder = _test_images_and(exported_run, tmp_path / "with_noise", 3, "noise.png", noise)
    capsys.readouterr()
    assert export.main([str(exported_run), "--images", str(folder), "--out", str(tmp_path / "x.csv")]) == export.EXIT_FLAGGED
    captured = capsys.readouterr()
    lines = [x for x in captured.err.splitlines() if "random noise" in x]
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("warning: 1 of the 4 image(s) looks like random noise: noise.png")
    assert lines[0].count(".png") == 1 and "adjacent-pixel" in lines[0]
    assert "1 looks like random noise (see the warning)" in captured.out
    assert "blank" not in captured.out
    rows = _submission(tmp_path / "x.csv")
    assert len(rows) == 4 and "noise.png" in {r["case"] for r in rows}


def test_skip_unreadable_skips_blank_and_noise_images_as_the_app_refuses_them(
        exported_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A new-user trial (F4): the export wrote a grade for an all-black image
    (``blank.png,2,0.0046,0.145,0.850``) even with --skip-unreadable, the clinic batch mode,
    while the app refuses blank and noise images. With --skip-unreadable they are skipped like
    unreadable files, by the app's rule (nothing_to_grade: blank first, then noise): listed on
    stderr and in the record with why, named in the INCOMPLETE line, exit 3. Without it the row
    stays (a submission lists every case) and stderr, the notes file and the last line say
    that its grade must not be used. A folder of nothing but a blank image writes nothing."""
    from app.inputs import load_bytes, refusal
    from drac_ssl.grading.predict import nothing_to_grade

    noise = np.random.default_rng(5).integers(0, 256, (64, 64), dtype=np.uint8)
    folder = _test_images_and(exported_run, tmp_path / "clinic", 3, "blank.png", np.zeros((64, 64), np.uint8))
    cv2.imwrite(str(folder / "noise.png"), noise)
    bundle = bundles.load_bundle(exported_run)
    for name, kind in (("blank.png", "blank"), ("noise.png", "noise")):  # the app refuses both
        loaded = load_bytes((folder / name).read_bytes(), name, channels=bundle.spec.channels, kind=bundle.kind)
        assert refusal(loaded, bundle.kind, bundle.spec.channels), name
        assert nothing_to_grade(predict.read_image(folder / name, bundle.spec.channels)[0]) == (
            kind == "blank", kind == "noise")
    out = tmp_path / "g.csv"
    capsys.readouterr()
    assert export.main([str(exported_run), "--images", str(folder), "--out", str(out),
                        "--skip-unreadable"]) == export.EXIT_SKIPPED
    captured = capsys.readouterr()
    skipped = [x for x in captured.err.splitlines() if x.startswith("skipped:")]
    assert skipped == [
        f"skipped: {folder / 'blank.png'}: blank or near-constant (grey levels 0..0, std 0.0): there is "
        f"nothing to grade (the app refuses it too) -> use the image itself, not an empty export or a "
        f"mask, or move it out of the folder",
        next(x for x in skipped if "noise.png: looks like random noise" in x)], captured.err
    assert "there is nothing to grade (the app refuses it too) -> if it should be a real image" in skipped[1]
    assert {r["case"] for r in _submission(out)} == {p.name for p in folder.iterdir()} - {"blank.png", "noise.png"}
    *_, last, pretrained = captured.out.splitlines()  # the run's own test images: pretrained on
    assert pretrained.startswith("NOTE: 3 of 3 graded images were among those the self-supervised pretraining (VICReg) of this model's backbone read"), pretrained
    assert last.startswith("INCOMPLETE: 2 of the 5 files not graded: blank.png: blank or near-constant"), last
    assert "(or with nothing to grade: blank, random noise)" in last and "noise.png: looks like random noise" in last
    said = json.loads(export.skipped_record_path(out).read_text())
    assert [s["file"] for s in said["skipped"]] == ["blank.png", "noise.png"] and "blank or random noise" in said["note"]
    assert "must not be used" not in captured.out + captured.err  # nothing graded of them
    # without --skip-unreadable: the rows stay, and every output says the grades must not be used
    assert export.main([str(exported_run), "--images", str(folder), "--out", str(out)]) == export.EXIT_FLAGGED
    captured = capsys.readouterr()
    assert len(_submission(out)) == 5
    blank_line = next(x for x in captured.err.splitlines() if "is blank or near-constant: blank.png" in x)
    assert "its grade must not be used" in blank_line and export.SKIP_HINT in blank_line, blank_line
    noise_line = next(x for x in captured.err.splitlines() if "looks like random noise: noise.png" in x)
    assert "must not be used" in noise_line and export.SKIP_HINT in noise_line, noise_line
    notes = {r["case"]: r["not_reliably_gradable"] for r in csv.DictReader((tmp_path / "g_notes.csv").open(encoding="utf-8-sig"))}
    assert notes["blank.png"].startswith("blank or near-constant") and export.GRADE_NOT_USED in notes["blank.png"]
    assert export.GRADE_NOT_USED in notes["noise.png"], notes
    last = captured.out.splitlines()[-1]
    assert last.startswith("FLAGGED: ") and ("the grades of the 1 blank or near-constant and 1 random noise "
                                            "images must not be used") in last, last
    # nothing but a blank image: nothing written, even with the option
    only = tmp_path / "only"
    only.mkdir()
    shutil.copy(folder / "blank.png", only / "blank.png")
    assert export.main([str(exported_run), "--images", str(only), "--out", str(tmp_path / "n.csv"),
                        "--skip-unreadable"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: 1 of the 1 image(s) cannot be graded (nothing written)"), err
    assert not (tmp_path / "n.csv").exists()


def test_the_notes_file_says_why_a_class_is_not_the_most_likely_grade_as_the_app_does(
        exported_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A new-user trial (F5): a row of class 0 with P1 0.54 (the expected grade cut at the
    thresholds) was explained only on the app's single-image page. The export's notes file has
    a grade_note column with the app's sentence (decision_words) for each such row, empty for
    the others; it is written for such rows alone too (exit 0: nothing is flagged), and the
    class line counts them and names the file. A notes file of an earlier version (four
    columns) is still read."""
    from drac_ssl.grading.image_notes import decision_words
    from drac_ssl.submission import IMAGE_NOTES_COLUMNS, NEAR_TIE_WORDS, read_image_notes

    bundle = bundles.load_bundle(exported_run)
    assert bundle.calibration.decision == "thresholds"
    names = list(bundle.grade_names)
    trial = np.array([0.40, 0.54, 0.06])
    real = batch.grade_images  # --images grades through grading.batch.grade_files

    def first_as_the_trial(*args: object, **kwargs: object) -> predict.GradedImages:
        graded = real(*args, **kwargs)
        graded.probs[0], graded.classes[0] = trial, 0
        return graded

    monkeypatch.setattr(batch, "grade_images", first_as_the_trial)
    out = tmp_path / "g.csv"
    capsys.readouterr()
    code = export.main([str(exported_run), "--images", str(exported_run / "images" / "test"), "--out", str(out)])
    lines = capsys.readouterr().out.splitlines()
    rows = list(csv.DictReader((tmp_path / "g_notes.csv").open(encoding="utf-8-sig")))
    assert tuple(rows[0]) == IMAGE_NOTES_COLUMNS
    assert decision_words(trial, 0, names, "thresholds").startswith(
        f"The single most likely grade is 1 {names[1]} (54%)")
    # the tiny run's calibration failed (temperature at its bound): the notes say the app's words
    # without percentages, as its page does (calibrated=False), never a P the warning disowns
    calibrated = not bundles.calibration_failed(bundle.metadata)
    assert not calibrated, bundle.calibration.temperature
    sentence = decision_words(trial, 0, names, "thresholds", calibrated=calibrated)
    assert sentence and "(P " not in sentence, sentence
    submitted = _submission(out)
    assert [r["case"] for r in rows] == [r["case"] for r in submitted] and rows[0]["grade_note"] == sentence
    assert [r["grade_name"] for r in rows] == [names[int(r["class"])] for r in submitted]  # the bundle's names
    for row, graded in zip(rows, submitted, strict=True):  # each row: the app's sentence or nothing
        probs = [float(graded[f"P{k}"]) for k in range(len(names))]
        assert row["grade_note"] == decision_words(probs, int(graded["class"]), names, "thresholds",
                                                   calibrated=calibrated), row
        assert "(P " not in row["grade_note"] and "equally likely" not in row["grade_note"], row
    # counted: the rows whose class is not their largest P (a tie at the shown decimals has a
    # grade_note naming the tied grades, and is not one of them)
    n_off = sum(1 for r in submitted if float(r[f"P{r['class']}"]) < max(float(r[f"P{k}"]) for k in range(3)) - 1e-4)
    assert 1 <= n_off <= sum(1 for r in rows if r["grade_note"])
    flagged = any(r["not_reliably_gradable"] for r in rows)
    assert code == (export.EXIT_FLAGGED if flagged else 0)
    class_line = next(x for x in lines if x.startswith("  class = the expected grade cut at"))
    # the other noted rows: a class that is the largest P in a near-tie (user trial F1: such
    # rows alone wrote a notes file no line named), counted after them
    n_near_tie = sum(1 for r in rows if r["grade_note"]) - n_off
    tie = f", and for {n_near_tie} more it is, but {NEAR_TIE_WORDS}" if n_near_tie else ""
    assert (f"(for {n_off} of the 6 here it is not{tie}: why in the grade_note column of "
            f"{tmp_path / 'g_notes.csv'})") in class_line, class_line
    assert lines[-1].startswith("FLAGGED: ") == flagged, lines
    # a notes file written before the column: still read (--score's training images)
    old = tmp_path / "old_notes.csv"
    old.write_text("case,class,not_reliably_gradable,training_image\na.png,1,,yes (same SHA-256)\n")
    assert read_image_notes(old) == {"a.png": ("", True)}


def test_the_export_stage_says_what_its_class_column_is_with_the_count(
        exported_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Review F2: the default job's submission had 134 of 386 rows whose class is not their
    largest P, and neither the stage's console nor report.md said why; the command line did
    ("not always the largest P"). The stage's line and report.md's Export section now say it in
    the command's words (submission.class_rule_words) with the count, a tie not counted.

    A later review: the stage wrote a near-tie's ``grade_note`` (its class the largest P, another
    grade's equal at the two decimals shown) into its notes file, yet its class line and
    summary.json counted only the rows off the largest P, as the command no longer did. Both
    kinds are counted here as there (submission.grade_note_counts), in summary.json's
    ``n_class_near_tie`` and report.md."""
    from drac_ssl.submission import NEAR_TIE_WORDS, class_rule_words, image_notes_path

    run = tmp_path / "run"
    shutil.copytree(exported_run, run, ignore=shutil.ignore_patterns("bundles"))
    real = export.grade_images

    def a_trial_row_and_a_tie(*args: object, **kwargs: object) -> predict.GradedImages:
        graded = real(*args, **kwargs)
        graded.probs[:], graded.classes[:] = np.array([0.10, 0.20, 0.70]), 2  # clear: the largest P
        graded.probs[0], graded.classes[0] = np.array([0.40, 0.54, 0.06]), 0  # not the largest P
        graded.probs[1], graded.classes[1] = np.array([0.47, 0.47, 0.06]), 1  # a tie: the largest
        return graded

    monkeypatch.setattr(export, "grade_images", a_trial_row_and_a_tie)
    capsys.readouterr()
    export.run(tiny_config(), run)
    out = capsys.readouterr().out
    rows = _submission(run / "export" / "submission.csv")
    assert [r["class"] for r in rows[:3]] == ["0", "1", "2"] and len(rows) > 3
    notes = image_notes_path(run / "export" / "submission.csv")
    why = f": why in the grade_note column of {notes}" if notes.is_file() else ""
    words = class_rule_words("thresholds", 1, len(rows), why.removeprefix(": "), 1)
    assert words == (f"the expected grade cut at QWK-tuned thresholds, so not always the largest P (for 1 of "
                     f"the {len(rows)} here it is not, and for 1 more it is, but {NEAR_TIE_WORDS}{why})")
    # the P columns as the bundle's calibration has them (the tiny run's failed: temperature 100)
    columns = bundles.probability_columns_words(json.loads((run / "bundle" / "metadata.json").read_text()))
    assert (f"[export]   class = {words} (finetune.decision=thresholds); P0..P2 = {columns}\n") in out, out
    summary = json.loads((run / "export" / "summary.json").read_text())
    assert (summary["n_class_not_most_probable"], summary["n_class_near_tie"]) == (1, 1)
    said = words.replace(str(notes), f"`{notes.relative_to(run).as_posix()}`")
    assert f"- its class: {said} (`finetune.decision=thresholds`)" in write_report(run).read_text()


@pytest.mark.parametrize("names", [["Normal", "DR"], ["Normal", "NPDR", "PDR"]])
def test_the_report_says_why_two_grades_give_two_equal_aucs(tmp_path: Path, names: list[str]) -> None:
    from drac_ssl.report import _finetune_section

    row = {"variant": "scratch", "n": 10, "qwk": 0.5, "qwk_ci_low": 0.1, "qwk_ci_high": 0.8, "auc": 0.7,
           "auc_ovr": 0.7 if len(names) == 2 else 0.72, "accuracy": 0.6, "macro_f1": 0.5,
           "qwk_fold_mean": 0.5, "qwk_fold_std": 0.1, "seconds": 1.0}
    (tmp_path / "finetune").mkdir()
    (tmp_path / "finetune" / "comparison.json").write_text(json.dumps(
        {"rows": [row], "class_names": names, "protocol": "2-fold"}))
    text = "\n".join(_finetune_section(tmp_path, tmp_path / "report"))
    assert ("With two grades the one-vs-one and one-vs-rest AUCs are the same number" in text) == (len(names) == 2)


def test_paths_given_for_images_are_refused_with_the_read_image_fix() -> None:
    # refused before the bundle is touched: no bundle needed
    for grade in (predict.predict_images, predict.grade_images):
        with pytest.raises(TypeError, match=r"got the str 'a.png': files are not read here.*\n  fix: read files "
                                            r"with drac_ssl.grading.predict.read_image\(path, channels\)"):
            grade(None, "a.png")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=r"image 1 is a PosixPath PosixPath\('a.png'\).*\n  fix: read files"):
            grade(None, [np.zeros((4, 4), np.uint8), Path("a.png")])  # type: ignore[arg-type]


def test_the_python_api_names_the_grades_and_says_what_a_wrong_call_is(exported_run: Path, tmp_path: Path) -> None:
    bundle = bundles.load_bundle(exported_run)
    assert bundle.grade_names == ("Normal", "NPDR", "PDR")
    image = np.full((SOURCE_SIZE, SOURCE_SIZE), 90, np.uint8)
    for grade in (predict.predict_images, predict.grade_images):
        with pytest.raises(ValueError, match=r"expected a sequence of images, got one ndarray of shape "
                                             r"\(\d+, \d+\).*\n  fix: pass a list, e.g. \[image\]"):
            grade(bundle, image)
        with pytest.raises(ValueError, match=r"got tuples \(read_image returns \(image, warnings\)\)"):
            grade(bundle, [(image, [])])
    probs, classes = predict.predict_images(bundle, [image])
    assert probs.shape == (1, len(bundle.grade_names)) and classes.shape == (1,)
    # a stacked batch and a generator are graded as the list of their images
    batch = np.stack([image, 255 - image])
    listed = predict.predict_images(bundle, [image, 255 - image])[0]
    np.testing.assert_array_equal(predict.predict_images(bundle, batch)[0], listed)
    np.testing.assert_array_equal(predict.grade_images(bundle, (im for im in batch)).probs, listed)
    with pytest.raises(bundles.BundleError, match=r"nowhere: does not exist.*\n  fix: pass RUN or RUN/bundle"):
        bundles.load_bundle(tmp_path / "nowhere")


def _group_manifest(data: Path, patient_of: Callable[[int], str]) -> None:
    """Rewrite the fake ingest's manifest with the patient ``patient_of(i)`` of training row i."""
    with open(data / "manifest.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for i, row in enumerate(r for r in rows if r["split"] == "train"):
        row["patient"] = patient_of(i)
    with open(data / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def test_report_says_how_the_folds_were_formed_and_the_limit_of_image_level_cis(tmp_path: Path) -> None:
    """Folds grouped by patient: report.md says so (N patients for M images) and that the
    bootstrap CIs resample images, not patients; without patients: images independent."""
    data = make_fake_ingest(tmp_path, n_train=30, n_test=2)
    independent = write_report(tmp_path).read_text()
    assert ("- folds: the 30 training images treated as independent (no patient column); images of "
            "one patient, if any, may be in different folds\n") in independent
    assert "not patients" not in independent
    # the ingest warned of a patient-looking column it was not told to use: the report repeats it
    summary = json.loads((data / "ingest_summary.json").read_text())
    summary["patients"] = {"grouped": False, "unused_column": "subject_id"}
    (data / "ingest_summary.json").write_text(json.dumps(summary))
    unused = write_report(tmp_path).read_text()
    assert ("- folds: the 30 training images treated as independent, although the label CSV's column "
            "'subject_id' looks like a patient id (the ingest warned): if it is, images of one "
            "patient may be in different folds, and every cross-validated figure and CI here is "
            "likely optimistic; data.patient_column=subject_id groups them\n") in unused

    _group_manifest(data, lambda i: f"P{i // 2:03d}")  # two eyes per patient
    grouped = write_report(tmp_path).read_text()
    assert ("- folds: grouped by patient, 15 patients for 30 training images (each patient's images "
            "in one fold); the bootstrap 95% CIs resample images, not patients, so with correlated "
            "images of one patient they are likely too narrow\n") in grouped
    assert "treated as independent" not in grouped

    _group_manifest(data, lambda i: f"P{i:03d}")  # one image per patient: the CIs are not too narrow
    single = write_report(tmp_path).read_text()
    assert "- folds: grouped by patient, 30 patients for 30 training images" in single
    assert "not patients" not in single

    # a fine-tuning that resampled patients (comparison.json says so): the CIs are patient-level
    _group_manifest(data, lambda i: f"P{i // 2:03d}")
    (tmp_path / "finetune").mkdir()
    (tmp_path / "finetune" / "comparison.json").write_text(json.dumps({"ci_resamples": "patients",
                                                                      "ci_units": 15}))
    patients = write_report(tmp_path).read_text()
    assert ("- folds: grouped by patient, 15 patients for 30 training images (each patient's images "
            "in one fold); the bootstrap 95% CIs resample patients (15 patients, each with all its "
            "images)\n") in patients
    assert "not patients" not in patients
    # one made before it was recorded: images, as it did
    (tmp_path / "finetune" / "comparison.json").write_text(json.dumps({"rows": []}))
    assert "the bootstrap 95% CIs resample images, not patients" in write_report(tmp_path).read_text()


TWIN_FACTS = {"near_duplicate_mse": 1e-4, "cache_size": 64, "compared_px": 64, "n_images": 8, "n_groups": 4,
              "with_patients": False}
"""ingest_summary.json's near_duplicates of an ingest that kept 4 pairs of near twins together."""


def test_report_says_the_near_twins_the_folds_kept_together_and_the_cis_over_their_groups(tmp_path: Path) -> None:
    """An ingest with data.near_duplicate_mse (its summary's near_duplicates, its manifest's
    fold_group) and a fine-tuning that resampled those groups: report.md says how many images
    in how many groups, the threshold, and that the CIs resample the image groups; without the
    option the line and the provenance are as before."""
    from drac_ssl.grading.bundle import data_provenance

    data = make_fake_ingest(tmp_path, n_train=30, n_test=2)
    before = write_report(tmp_path).read_text()
    assert "near twins" not in before and "near_duplicates" not in data_provenance(data)
    summary = json.loads((data / "ingest_summary.json").read_text())
    summary["near_duplicates"] = TWIN_FACTS
    (data / "ingest_summary.json").write_text(json.dumps(summary))
    with open(data / "manifest.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    train = [r for r in rows if r["split"] == "train"]
    for row in rows:
        row["fold_group"] = ""  # not a training image
    for i, row in enumerate(train):  # training rows 0-7 in pairs: 26 units for 30 images
        row["fold_group"] = train[i - i % 2]["id"] if i < 8 else row["id"]
    with open(data / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    assert data_provenance(data)["near_duplicates"] == TWIN_FACTS
    (tmp_path / "finetune").mkdir()
    (tmp_path / "finetune" / "comparison.json").write_text(json.dumps({"ci_resamples": "groups", "ci_units": 26}))
    report = write_report(tmp_path).read_text()
    assert ("- folds: the 30 training images treated as independent (no patient column) but for near "
            "twins: 8 labelled images in 4 groups, each group in one fold (data.near_duplicate_mse=0.0001: "
            "a mean squared pixel difference below it, compared at 64 px); images of one patient, if any, "
            "may be in different folds; the bootstrap 95% CIs resample the image groups the folds kept "
            "whole (26 image groups, each with all its images)\n") in report
    # a fine-tuning made before it resampled them: images, and that they are likely too narrow
    (tmp_path / "finetune" / "comparison.json").write_text(json.dumps({"ci_resamples": "images", "ci_units": 30}))
    assert ("the bootstrap 95% CIs resample images, not the groups the folds kept whole, so with near "
            "twins among the images they are likely too narrow") in write_report(tmp_path).read_text()


def test_the_model_card_says_how_the_folds_were_formed(exported_run: Path) -> None:
    meta = json.loads((exported_run / "bundle" / "metadata.json").read_text())
    assert meta["data"]["n_patients"] is None  # the fake ingest has no patient column
    assert "- Folds: the 30 training images treated as independent (no patient column)" in \
        bundles._model_card(meta)
    card = bundles._model_card({**meta, "data": {**meta["data"], "unused_patient_column": "PID"}})
    assert "- Folds: the 30 training images treated as independent, although the label CSV's " \
           "column 'PID' looks like a patient id" in card
    # data.ungradable=leave_out: the model never saw the rows graders found ungradable
    assert meta["data"]["n_left_out_ungradable"] == 0 and "ungradable" not in card
    card = bundles._model_card({**meta, "data": {**meta["data"], "n_left_out_ungradable": 1}})
    assert ("- 1 row marked ungradable was left out (data.ungradable=leave_out), with its image; "
            "ingest_summary.json lists it.\n") in card
    # data.missing=leave_out: label rows of a partial download the model never saw
    assert meta["data"]["n_left_out_missing"] == 0 and "image is missing" not in card
    card = bundles._model_card({**meta, "data": {**meta["data"], "n_left_out_missing": 18}})
    assert ("- 18 label rows whose image is missing were left out (data.missing=leave_out); "
            "ingest_summary.json lists them.\n") in card
    meta["data"].update(n_train=44, n_patients=23)
    card = bundles._model_card(meta)
    assert ("- Folds: grouped by patient, 23 patients for 44 training images (each patient's images "
            "in one fold); the bootstrap 95% CIs resample images, not patients, so with correlated "
            "images of one patient they are likely too narrow.\n") in card
    # no patients: the CIs resampled images, and the metrics say so
    assert (meta["cv_metrics"]["ci_resamples"], meta["cv_metrics"]["ci_units"]) == ("images", 30)
    assert "of the 30 images, each its own unit" in meta["cv_metrics"]["protocol"]
    meta["cv_metrics"].update(ci_resamples="patients", ci_units=23)  # a run with patients
    card = bundles._model_card(meta)
    assert ("- Folds: grouped by patient, 23 patients for 44 training images (each patient's images "
            "in one fold); the bootstrap 95% CIs resample patients (23 patients, each with all its "
            "images).\n") in card
    assert "not patients" not in card
    # near twins kept together (data.near_duplicate_mse) with the patients, the CIs over the groups
    meta["data"]["near_duplicates"] = {**TWIN_FACTS, "with_patients": True}
    meta["cv_metrics"].update(ci_resamples="groups", ci_units=20)
    card = bundles._model_card(meta)
    assert ("- Folds: grouped by patient, 23 patients for 44 training images (each patient's images "
            "in one fold); near twins kept together: 8 labelled images in 4 groups, each group, with its "
            "images' patients, in one fold (data.near_duplicate_mse=0.0001: a mean squared pixel difference "
            "below it, compared at 64 px); the bootstrap 95% CIs resample the image groups the folds kept "
            "whole (20 image groups, each with all its images).\n") in card
    assert "resample patients" not in card
    del meta["data"]["n_patients"]  # a bundle built before the patients were counted: no line
    assert "Folds:" not in bundles._model_card(meta)


def test_a_colour_photo_on_a_grey_octa_model_is_doubted_as_in_the_app_a_16_bit_scan_is_a_note(
        exported_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The export graded a colour photograph on this grey UW-OCTA model with only a
    conversion note, where the app says it may not be OCTA: both now say the app's words
    (app.inputs.sanity_warnings, on stderr after the file name). A 16-bit grey scan is the
    training ingest's own conversion: a plain note in both, never that doubt."""
    from app.inputs import is_plain_note, load_bytes
    from app.predict import Predictor

    assert Predictor(exported_run, gradcam=False).kind == "octa"
    rng = np.random.default_rng(3)
    scan = next(iter(sorted((exported_run / "images" / "test").iterdir())))
    grey = cv2.imread(str(scan), cv2.IMREAD_GRAYSCALE)
    folder = _test_images_and(exported_run, tmp_path / "kinds", 1, "photo.png",
                              rng.integers(0, 256, (64, 64, 3), np.uint8))  # channels differ
    cv2.imwrite(str(folder / "deep.png"), grey.astype(np.uint16) * 257)
    app = {name: load_bytes((folder / name).read_bytes(), name, channels=1, kind="octa").warnings
           for name in ("photo.png", "deep.png")}
    (doubt,) = [w for w in app["photo.png"] if "may not be OCTA" in w]
    (depth,) = [w for w in app["deep.png"] if is_plain_note(w)]  # (and the app's 256 px "Too small")
    assert depth.startswith("16-bit") and not is_plain_note(doubt)
    capsys.readouterr()
    assert export.main([str(exported_run), "--images", str(folder), "--out", str(tmp_path / "k.csv")]) == export.EXIT_FLAGGED
    err = capsys.readouterr().err.splitlines()
    assert f"warning: photo.png: {doubt}" in err  # the app's words, on stderr
    assert f"note: deep.png: {depth}" in err
    assert not [x for x in err if "deep.png" in x and ("OCTA" in x or "Colour" in x or "converted to grey" in x)]
    # the function the export reads with says the same words
    assert predict.read_image(folder / "photo.png", 1, kind="octa")[1] == [f"photo.png: {doubt}"]
    notes: list[str] = []
    assert predict.read_image(folder / "deep.png", 1, kind="octa", notes=notes)[1] == []
    assert notes == [f"deep.png: {depth}"]


def test_the_incomplete_line_names_each_file_and_why_then_counts() -> None:
    from drac_ssl.grading.image_notes import incomplete_line

    assert incomplete_line([("a.png", "truncated PNG."), ("b.png", "empty")], 5) == (
        "INCOMPLETE: 2 of the 5 files not graded: a.png: truncated PNG; b.png: empty")
    many = incomplete_line([(f"{i}.png", "empty") for i in range(12)], 20)
    assert many.startswith("INCOMPLETE: 12 of the 20 files not graded") and many.endswith("9.png: empty; and 2 more")
    with pytest.raises(ValueError):
        incomplete_line([], 3)


def test_a_folder_whose_images_all_get_one_grade_is_said(
        exported_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The app said 'All 10 images got the same grade'; the export command graded a trial's 10
    images all one grade without a word. Now both say it, in one function's words."""
    folder = tmp_path / "same"
    folder.mkdir()
    image = np.full((64, 64), 90, np.uint8)
    image[::8] = 200  # not blank
    for i in range(5):
        cv2.imwrite(str(folder / f"s{i}.png"), image)
    capsys.readouterr()
    assert export.main([str(exported_run), "--images", str(folder), "--out", str(tmp_path / "s.csv")]) == export.EXIT_FLAGGED
    err = capsys.readouterr().err
    grade = int(_submission(tmp_path / "s.csv")[0]["class"])
    names = bundles.load_bundle(exported_run).grade_names
    assert (f"warning: All 5 images got the same grade ({grade} {names[grade]}): check that they are "
            "the kind of image this model was trained on") in err
    # four images may well share a grade: nothing said
    (folder / "s4.png").unlink()
    assert export.main([str(exported_run), "--images", str(folder), "--out", str(tmp_path / "t.csv")]) == export.EXIT_FLAGGED
    assert "got the same grade" not in capsys.readouterr().err


def test_byte_identical_copies_in_the_folder_are_named(
        exported_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A trial's test folder held '1003 copy.png' beside '1003.png': the ingest refuses such
    copies, the export graded both without a word."""
    folder = tmp_path / "copies"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"100{i}.png"), np.full((64, 64), 40 + 50 * i, np.uint8) + np.eye(64, dtype=np.uint8))
    (folder / "1002 copy.png").write_bytes((folder / "1002.png").read_bytes())
    capsys.readouterr()
    assert export.main([str(exported_run), "--images", str(folder), "--out", str(tmp_path / "c.csv")]) == export.EXIT_FLAGGED
    err = capsys.readouterr().err
    (line,) = [x for x in err.splitlines() if "byte-identical" in x]
    assert line.startswith("warning: 1 image(s) are byte-identical copies of another image in the folder (")
    assert "1002 copy.png" in line and "1002.png" in line and "each copy has its own row, with the same grade" in line
    assert len(_submission(tmp_path / "c.csv")) == 4  # still every file, as asked
    (folder / "1002 copy.png").unlink()
    assert export.main([str(exported_run), "--images", str(folder), "--out", str(tmp_path / "d.csv")]) == export.EXIT_FLAGGED
    assert "byte-identical" not in capsys.readouterr().err


def test_the_model_card_describes_the_protocol_in_words_not_metrics_json_fields(exported_run: Path) -> None:
    """A clinician read 'qwk_in_sample_thresholds uses ...; qwk_ci95_note: why an interval ...,
    else null' in the model card: the notes on metrics.json's fields stay in metrics.json."""
    meta = json.loads((exported_run / "bundle" / "metadata.json").read_text())
    card = (exported_run / "bundle" / "MODEL_CARD.md").read_text()
    assert "Out-of-fold predictions of every labelled image" in card
    assert "the QWK's 95% CI: percentile bootstrap" in card
    for field_note in ("qwk_in_sample_thresholds", "qwk_ci95_note", "decision_rules:", "else null"):
        assert field_note not in card, field_note
    assert "qwk_ci95_note" in meta["cv_metrics"]["protocol"]  # still documented for programs
    # a bundle made before protocol_words was stored: the protocol cut before the field notes
    del meta["cv_metrics"]["protocol_words"]
    older = bundles._model_card(meta)
    assert "Out-of-fold predictions of every labelled image" in older and "qwk_ci95_note" not in older


def _bundle_named(exported_run: Path, copy: Path, names: list[str]) -> Path:
    """A run folder ``copy`` holding a copy of ``exported_run``'s bundle whose grades are named
    ``names`` (its metadata's ``class_names``): a bundle of a user's own grade words."""
    shutil.copytree(exported_run / "bundle", copy / "bundle")
    meta_path = copy / "bundle" / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["class_names"] = names
    meta_path.write_text(json.dumps(meta))
    return copy


def test_the_notes_file_names_the_grades_in_the_bundles_own_words(
        exported_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A trial user (an OCTA researcher, grades none / non-proliferative / proliferative) found
    their names only in the free text of grade_note: ``--images`` wrote ``case,class,P0,P1,P2``.
    The notes file's grade_name gives each row's class in the bundle's names; the submission
    keeps DRAC's columns, numbers only."""
    own = ["none", "non-proliferative", "proliferative"]
    copy = _bundle_named(exported_run, tmp_path / "run", own)
    assert list(export.load_bundle(copy).grade_names) == own
    out = tmp_path / "grades.csv"
    capsys.readouterr()
    export.main([str(copy), "--images", str(exported_run / "images" / "test"), "--out", str(out)])
    err = capsys.readouterr().err.splitlines()
    with open(out, newline="", encoding="utf-8") as fh:
        assert fh.readline().rstrip("\n") == "case,class,P0,P1,P2"  # DRAC's format, unchanged
    submitted = _submission(out)
    assert all(r["class"] in ("0", "1", "2") for r in submitted) and not any(n in out.read_text() for n in own)
    # the tiny model's calibration failed: every row has a grade_note, so the notes file is written
    rows = list(csv.DictReader((tmp_path / "grades_notes.csv").open(newline="", encoding="utf-8-sig")))
    assert [r["case"] for r in rows] == [r["case"] for r in submitted]
    assert [r["grade_name"] for r in rows] == [own[int(r["class"])] for r in submitted]
    # and the console says the names once, with or without a notes file (a review, F4)
    assert err.count("grades: 0 none; 1 non-proliferative; 2 proliferative") == 1, err


def test_a_legend_line_names_a_bundles_own_grades_even_without_a_notes_file(
        exported_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A review (F4): the notes file, which carries grade_name, is written only when a row is
    flagged, a training or pretraining image or has a grade note, so a clean batch of a bundle
    with its own grade names showed them nowhere. Every export that writes grades with such a
    bundle prints one legend line on stderr; DRAC's three names print none (its console is
    unchanged), nor do names that are only the numbers."""
    assert export.grade_legend_line(["Normal", "NPDR", "PDR"]) == ""
    assert export.grade_legend_line(("0", "1", "2", "3", "4")) == ""
    assert export.grade_legend_line(["no referable DR", "referable DR"]) == "grades: 0 no referable DR; 1 referable DR"
    assert export.grade_legend_line(["a\nb", "c"]) == "grades: 0 a\\nb; 1 c"  # one line, whatever the config
    # a name with a comma: "; " between entries, so "0 a, b, 1 c" is not read as three grades
    assert export.grade_legend_line(["a, b", "c"]) == "grades: 0 a, b; 1 c"
    # ICDR in the words of grade_note and the app's page (a second read: "3 Severe" beside "3 Severe NPDR")
    assert export.grade_legend_line(["No DR", "Mild", "Moderate", "Severe", "PDR"]) == (
        "grades: 0 No apparent DR; 1 Mild NPDR; 2 Moderate NPDR; 3 Severe NPDR; 4 PDR")
    own = ["none", "non-proliferative", "proliferative"]
    copy = _bundle_named(exported_run, tmp_path / "run", own)
    # a clean batch: no grade notes (the tiny model's failed calibration notes every row)
    monkeypatch.setattr(export, "_grade_notes", lambda bundle, probs, classes: [""] * len(classes))
    folder = tmp_path / "clean"
    folder.mkdir()
    for source in sorted((exported_run / "images" / "test").iterdir())[:3]:  # like the training images,
        image = cv2.imread(str(source), cv2.IMREAD_UNCHANGED)  # but none of the run's (another SHA-256)
        image[0, 0] ^= 1
        cv2.imwrite(str(folder / source.name), image)
    for bundle_run, legend in ((copy, "grades: 0 none; 1 non-proliferative; 2 proliferative"), (exported_run, None)):
        out = tmp_path / f"{bundle_run.name}.csv"
        capsys.readouterr()
        code = export.main([str(bundle_run), "--images", str(folder), "--out", str(out)])
        captured = capsys.readouterr()
        assert out.is_file() and code == 0, (code, captured.err)
        assert not (tmp_path / f"{bundle_run.name}_notes.csv").exists()  # no notes file: the legend is all
        said = [x for x in captured.err.splitlines() if x.startswith("grades: ")]
        assert said == ([legend] if legend else []), captured.err
        assert "grades: " not in captured.out


def test_prediction_uses_the_flips_the_cross_validation_used_unless_told(
        exported_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A run fine-tuned with finetune.tta=false had its figures measured without flips, but the
    export command, the app and predict_images flipped every image (their default was on): a
    review found submissions that differed from the stage's. Now None, the default, means the
    bundle's tta.used_in_cv; --tta / --no-tta still choose, and the model card says which."""
    from app.predict import Predictor

    copy = tmp_path / "run"
    shutil.copytree(exported_run / "bundle", copy / "bundle")
    meta_path = copy / "bundle" / "metadata.json"
    meta = json.loads(meta_path.read_text())
    assert meta["tta"]["used_in_cv"] is True  # the fixture's finetune.tta default
    meta["tta"]["used_in_cv"] = False
    meta_path.write_text(json.dumps(meta))
    bundle = export.load_bundle(copy)
    assert bundle.tta_in_cv is False and export.load_bundle(exported_run).tta_in_cv is True
    test_dir = exported_run / "images" / "test"
    files = sorted(test_dir.iterdir())
    images = [predict.read_image(p, bundle.spec.channels)[0] for p in files]
    plain, _ = predict.predict_images(bundle, images, tta=False)
    flipped, _ = predict.predict_images(bundle, images, tta=True)
    assert np.abs(plain - flipped).max() > 1e-6  # the flips change the probabilities here
    assert np.array_equal(predict.predict_images(bundle, images)[0], plain)
    assert Predictor(bundle).tta is False and Predictor(bundle, tta=True).tta is True

    def written(*flags: str) -> np.ndarray:
        out = tmp_path / f"sub{len(flags)}{''.join(flags)}.csv"
        assert export.main([str(copy), "--images", str(test_dir), "--out", str(out), *flags]) == 0
        rows = {r["case"]: r for r in _submission(out)}
        return np.array([[float(rows[p.name][f"P{k}"]) for k in range(3)] for p in files])

    assert np.allclose(written(), plain, atol=1e-6)
    said = capsys.readouterr().out
    assert "no flips (test-time augmentation, as in the cross-validation)" in said
    assert np.allclose(written("--tta"), flipped, atol=1e-6)
    assert "the mean over 4 flips (test-time augmentation, NOT as in the cross-validation)" in \
        capsys.readouterr().out
    assert np.allclose(written("--no-tta"), plain, atol=1e-6)
    assert "cross-validation fold models without test-time augmentation, as the cross-validated " \
        "figures were measured" in " ".join(bundles._model_card(meta).split())
    assert "with flip test-time augmentation (the mean over 4 flips)" in \
        (exported_run / "bundle" / "MODEL_CARD.md").read_text()


def test_a_grade_the_ensemble_never_gives_is_noted_against_the_out_of_fold_shares() -> None:
    """A review found a fold ensemble that graded no test image PDR while the single fold
    models (whose figures the report gives) called 12 of 30 out-of-fold images PDR. The export
    now says when a grade given to >= 10 % out of fold is given to no test image, in words a
    reader follows (a trial user: "graded none of the 386 test images as 2 PDR (33 % out of
    fold)" was cryptic): the grade by name and number, and what the share is a share of ("as"
    kept: a review of the rewording read "graded none of the 36 test images PDR (grade 2)")."""
    names = ["Normal", "NPDR", "PDR"]
    oof = np.array([0] * 12 + [1] * 6 + [2] * 12)
    test = np.array([0] * 12 + [1] * 24)
    line = export._ensemble_grades_line(test, oof, names)
    assert line.startswith("the fold ensemble graded none of the 36 test images as PDR (grade 2), though "
                           "out of fold the single fold models gave PDR to 40 % of the 30 labelled "
                           "images (each image graded by the fold model that did not train on it)."), line
    assert "finetune.decision=argmax" in line
    two_gone = export._ensemble_grades_line(np.array([0] * 36), oof, names)
    assert two_gone.startswith("the fold ensemble graded none of the 36 test images as NPDR (grade 1) or "
                               "PDR (grade 2), though out of fold the single fold models gave NPDR to "
                               "20 % and PDR to 40 % of the 30 labelled images"), two_gone
    assert export._ensemble_grades_line(np.array([0] * 12 + [1] * 23 + [2]), oof, names) == ""
    rare = np.array([0] * 28 + [1, 2])  # 1 of 30 = 3 %: not said
    assert export._ensemble_grades_line(test, rare, names) == ""
    assert export._ensemble_grades_line(test[:19], oof, names) == ""  # too few test images
    assert export._ensemble_grades_line(test, None, names) == ""


def test_the_model_card_says_its_figures_are_single_fold_models_and_flags_an_edge_temperature(
        exported_run: Path) -> None:
    """A review: the card gave out-of-fold figures of single fold models as the bundle's, which
    grades with their mean, and did not say when the temperature sat at its search bound (the
    report did). Nor may it call the probabilities calibrated when that calibration failed (a
    review: "The probabilities are calibrated on out-of-fold predictions only." beside the
    temperature at its bound): the line follows grading.bundle.calibration_failed."""
    meta = json.loads((exported_run / "bundle" / "metadata.json").read_text())
    card = " ".join(bundles._model_card(meta).split())
    assert (f"this bundle grades with the mean of its {len(meta['folds'])} fold models" in card
            and "The ensemble itself has no out-of-fold figure" in card)
    for t, said in ((100.0, True), (0.01, True), (1.7, False)):
        meta["calibration"]["temperature"] = t
        card = " ".join(bundles._model_card(meta).split())
        assert ("sits at the edge of its search range (0.01..100)" in card) is said, (t, card)
        assert ("The probabilities are calibrated on out-of-fold predictions only." in card) is not said
        assert ("The probabilities are not calibrated: their calibration, fitted on out-of-fold "
                "predictions only, failed." in card) is said


def test_a_failed_calibration_is_said_on_the_export_console_and_in_its_summary(
        exported_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A trial user: the temperature hit its upper limit (100) in tiny runs, the probabilities
    flat (~0.333 each); report.md and the model card said so, the export's console and
    export/summary.json did not. The stage now says it (the card's rule,
    metrics.temperature_at_bound, through grading.bundle.calibration_warning) on its console,
    in the summary's notes and as calibration_failed, and --images on stderr. Its words: the
    plain meaning first, the temperature in brackets, the inferred claim as "likely to be"; and
    where the "no evidence of grading better than chance" warning comes first ("Do not read its
    grades or probabilities"), no "Read the grade" after it (a review: the two contradicted).
    Nor do the console, --images and report.md call the P columns "the calibrated
    probabilities" then (grading.bundle.probability_columns_words, the same rule)."""
    meta = json.loads((exported_run / "bundle" / "metadata.json").read_text())
    better = {**meta["cv_metrics"], "qwk": 0.6, "qwk_ci95": [0.4, 0.8]}  # no chance warning
    chance = {**meta["cv_metrics"], "qwk": 0.1, "qwk_ci95": [-0.1, 0.3]}  # its CI reaches 0
    assert bundles.chance_warning(better) is None and bundles.chance_warning(chance) is not None
    for t, top in ((100.0, True), (99.5, True), (0.01, False)):
        failed = {**meta, "cv_metrics": better, "calibration": {**meta["calibration"], "temperature": t}}
        said = bundles.calibration_warning(failed)
        assert said is not None and said.startswith("Probabilities not calibrated: the percentages are likely to be ")
        assert said.endswith("Read the grade, not the percentages.")
        assert ("nearly equal for every grade" in said) is top and ("overstating" in said) is not top, said
        assert (f"(the model's calibration failed: its temperature, {t:.3g}, is at the "
                f"{'top' if top else 'bottom'} of the range searched, 0.01..100)") in said, said
        with_chance = bundles.calibration_warning({**failed, "cv_metrics": chance})
        assert with_chance is not None and "Read the grade" not in with_chance
        assert with_chance.endswith("The percentages say nothing; see above about the grade.")
        assert bundles.probability_columns_words(failed).startswith(
            "the model's probabilities of the grades, NOT calibrated")
    for t in (1.7, 98.0, None, "100"):
        assert bundles.calibration_warning({**meta, "calibration": {**meta["calibration"], "temperature": t}}) is None
        assert bundles.probability_columns_words(
            {**meta, "calibration": {**meta["calibration"], "temperature": t}}) == "the calibrated probabilities of the grades"
    assert bundles.calibration_warning({}) is None
    run = tmp_path / "run"
    shutil.copytree(exported_run, run, ignore=shutil.ignore_patterns("bundles"))
    variant = meta["variant"]
    cal_file = run / "finetune" / variant / "calibration.json"
    for t, failed in ((1.7, False), (100.0, True)):
        cal_file.write_text(json.dumps({**json.loads(cal_file.read_text()), "temperature": t}))
        capsys.readouterr()
        export.run(tiny_config(), run)
        out = capsys.readouterr().out
        built = json.loads((run / "bundle" / "metadata.json").read_text())
        warning = bundles.calibration_warning(built)
        assert (warning is not None) is failed
        # an auditor's finding: metadata.json called the P columns calibrated whatever happened
        assert ("NOT calibrated" in built["submission"]["P"]) is failed, built["submission"]
        assert (built["submission"]["P"] == "calibrated ensemble probabilities") is not failed
        summary = json.loads((run / "export" / "summary.json").read_text())
        assert summary["calibration_failed"] is failed and summary["temperature"] == t, summary
        if failed:
            assert f"[export] WARNING: {warning}" in out, out
            assert warning in summary["notes"]
            assert "flat" not in warning and "its temperature, 100, is at the top" in warning
            assert "calibrated probabilities" not in out
            assert "P0..P2 = the model's probabilities of the grades, NOT calibrated" in out, out
        else:
            assert "Probabilities not calibrated" not in out + " ".join(summary["notes"])
            assert "P0..P2 = the calibrated probabilities of the grades" in out, out
    # --images with that bundle (the run's, temperature 100): on stderr with the other warnings
    assert export.main([str(run), "--images", str(run / "images" / "test"), "--out",
                        str(tmp_path / "graded.csv")]) == 0
    said = capsys.readouterr()
    assert f"warning: {warning}" in said.err, said.err
    assert "P0..P2 = the model's probabilities of the grades, NOT calibrated" in said.out, said.out
    assert "calibrated probabilities" not in said.out


def test_the_model_card_says_when_a_grade_had_no_labelled_image(exported_run: Path) -> None:
    """A trial: a two-grade set run on DRAC's three grades gave a card without a word of the
    grade no image had (its AUCs undefined)."""
    meta = json.loads((exported_run / "bundle" / "metadata.json").read_text())
    card = " ".join(bundles._model_card(meta).split())
    assert "No labelled image had grade" not in card
    meta["per_grade"][2] = {**meta["per_grade"][2], "images": 0, "found": 0, "recall": None}
    card = " ".join(bundles._model_card(meta).split())
    assert ("**No labelled image had grade 2 (PDR)**: this model has outputs for grades it never saw, "
            "and its AUCs are undefined; the grading scale (Normal, NPDR, PDR) may not be that of the "
            "labels.") in card


def test_the_model_cards_per_grade_table_calls_grade_0s_recall_specificity_with_two_grades() -> None:
    rows = [{"grade": 0, "name": "non-referable", "images": 10, "found": 9, "given": 11, "recall": 0.9},
            {"grade": 1, "name": "referable", "images": 5, "found": 3, "given": 4, "recall": 0.6}]
    assert "graded correctly (sensitivity, Wilson 95% CI; for grade 0, the specificity)" in bundles._per_grade_card(rows)
    three = [*rows, {"grade": 2, "name": "PDR", "images": 5, "found": 3, "given": 4, "recall": 0.6}]
    assert "| graded correctly (sensitivity, Wilson 95% CI) |" in bundles._per_grade_card(three)


def test_thresholds_print_with_enough_digits_to_tell_them_apart() -> None:
    from drac_ssl.grading.model import threshold_words

    assert threshold_words([0.5, 1.5]) == "0.500, 1.500"
    assert threshold_words([2.00094, 2.00115, 2.00118, 2.01201]) == "2.0009, 2.0011, 2.0012, 2.0120"
    assert threshold_words([1.00011, 1.00014]) == "1.00011, 1.00014"
    assert threshold_words([1.0, 1.0], " / ") == "1.000 / 1.000"  # equal ones stay equal
    assert threshold_words([None, float("nan"), 1.5]) == "n/a, n/a, 1.500"  # as figure_text writes it


def _two_variant_run(exported_run: Path, tmp_path: Path) -> Path:
    """A copy of the run (no bundles, no export) as if it had fine-tuned scratch too and the
    fine-tuning had selected scratch: ``finetune/scratch`` is a copy of ``finetune/vicreg``."""
    run = tmp_path / "run"
    shutil.copytree(exported_run, run, ignore=shutil.ignore_patterns("bundle", "bundles", "export"))
    shutil.copytree(run / "finetune" / "vicreg", run / "finetune" / "scratch")
    summary = json.loads((run / "finetune" / "summary.json").read_text())
    summary.update(selected="scratch", selection="highest out-of-fold QWK (finetune.decision=thresholds)",
                   selection_evidence="not shown better than vicreg (QWK difference 95% CI reaches 0)")
    (run / "finetune" / "summary.json").write_text(json.dumps(summary))
    return run


def test_an_export_that_writes_into_the_run_says_so_in_its_invocation_log(
        exported_run: Path, tmp_path: Path) -> None:
    """``export RUN --variant NAME`` writes RUN/bundles/NAME and RUN/export; the run folder
    explains itself only if its invocation log has the line (the training's and the
    report's have theirs). A reused bundle grading a folder outside RUN writes nothing there."""
    run = _two_variant_run(exported_run, tmp_path)
    log = run / "invocations.jsonl"

    def exports() -> list[dict]:
        lines = [json.loads(x) for x in log.read_text().splitlines()] if log.is_file() else []
        return [x for x in lines if x.get("tool") == "drac_ssl.export"]

    assert export.main([str(run), "--variant", "vicreg"]) == 0
    [line] = exports()
    assert line["ended"]["outcome"] == "finished" and line["pid"] == os.getpid()
    assert line["ended"]["exit_code"] == 0 and "note" not in line["ended"]
    out = tmp_path / "outside.csv"
    assert export.main([str(run), "--variant", "vicreg", "--images", str(run / "images" / "test"),
                        "--out", str(out)]) == 0
    assert len(exports()) == 1  # the bundle reused, nothing written into RUN
    # a folder with an unreadable file, skipped, the CSV inside RUN (so the line is written):
    # exit 3 is an incomplete submission, said as such, not a plain "finished"
    folder = _test_images_and(run, tmp_path / "clinic", 6, "a_cut.png", np.zeros((64, 64), np.uint8))
    (folder / "a_cut.png").write_bytes((folder / "a_cut.png").read_bytes()[:60])  # truncated
    assert export.main([str(run), "--variant", "vicreg", "--images", str(folder), "--out",
                        str(run / "mine.csv"), "--skip-unreadable"]) == export.EXIT_SKIPPED
    skipped = exports()[-1]["ended"]
    assert skipped["outcome"] == "finished" and skipped["exit_code"] == 3, skipped
    assert skipped["note"] == "incomplete submission: 1 file(s) skipped" and "error" not in skipped
    manifest = run / "data" / "manifest.csv"
    lines = manifest.read_text().splitlines(keepends=True)
    tests = [ln for ln in lines[1:] if ",test," in ln]
    manifest.write_text("".join([lines[0]] + [ln for ln in lines[1:] if ",test," not in ln] + tests[1:]))
    assert export.main([str(run), "--variant", "vicreg"]) == 1  # the submission fails its check
    failed = exports()[-1]["ended"]
    # the real exit code, not a made-up exception
    assert failed["outcome"] == "failed" and failed["exit_code"] == 1 and "error" not in failed, failed
    assert failed["note"] == "the submission failed its check"


def test_the_command_line_exports_a_variant_the_run_did_not_select(
        exported_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A trial's run selected scratch by chance: ``--variant vicreg`` builds that variant's
    bundle into RUN/bundles/vicreg (reused while the fine-tuning outputs are the same),
    grades a folder with it or writes its submission of the ingest's test images, and says
    that the run selected another variant, and why."""
    run = _two_variant_run(exported_run, tmp_path)
    test_dir = run / "images" / "test"
    out = tmp_path / "vicreg.csv"
    capsys.readouterr()
    assert export.main([str(run), "--variant", "vicreg", "--images", str(test_dir), "--out", str(out)]) == 0
    said = capsys.readouterr().out
    bundle_dir = run / "bundles" / "vicreg"
    meta = json.loads((bundle_dir / "metadata.json").read_text())
    assert meta["variant"] == "vicreg"
    assert meta["selection"].startswith("asked for by name; the run selected scratch")
    assert f"bundle: {bundle_dir} (vicreg, built from {run / 'finetune' / 'vicreg'})" in said, said
    assert ("the run selected scratch, not vicreg: highest out-of-fold QWK (finetune.decision="
            "thresholds); not shown better than vicreg (QWK difference 95% CI reaches 0)") in said
    # the CSV is that bundle's grading of the folder
    bundle = export.load_bundle(bundle_dir)
    rows = _submission(out)
    probs, classes = export.predict_images(
        bundle, [export.read_image_any(test_dir / r["case"]) for r in rows], tta=True)
    assert np.allclose(probs, [[float(r[f"P{k}"]) for k in range(3)] for r in rows], atol=2e-6)
    assert classes.tolist() == [int(r["class"]) for r in rows]
    # again: the same fine-tuning outputs, the bundle is reused, not rebuilt
    stamp = (bundle_dir / "metadata.json").stat().st_mtime_ns
    assert export.main([str(run), "--variant", "vicreg", "--images", str(test_dir), "--out", str(out)]) == 0
    assert (bundle_dir / "metadata.json").stat().st_mtime_ns == stamp
    assert f"bundle: {bundle_dir} (vicreg, reused: built from the same fine-tuning outputs)" in capsys.readouterr().out
    # a bundle built before bundles recorded the training images' bit depths: reused as it is,
    # said with how to rebuild it (review of the bitdepth merge, F6)
    summary_file = run / "data" / "ingest_summary.json"
    summary = json.loads(summary_file.read_text())
    summary["bit_depths"] = [{"file": "8-bit", "encoding": "grey", "bits_used": 8, "depth_from": "file",
                              "max_value": None, "n": {"train": 12, "test": 4, "unlabelled": 0}}]
    summary_file.write_text(json.dumps(summary))  # the ingest changed: rebuilt, with the depths
    assert export.main([str(run), "--variant", "vicreg", "--images", str(test_dir), "--out", str(out)]) == 0
    assert "was built before bundles recorded" not in capsys.readouterr().out
    built = json.loads((bundle_dir / "metadata.json").read_text())
    assert built["data"]["train_bit_depths"] == [{"file": "8-bit", "encoding": "grey", "bits_used": 8,
                                                  "n_train": 12}]
    del built["data"]["train_bit_depths"]  # as a bundle built before they were recorded
    (bundle_dir / "metadata.json").write_text(json.dumps(built))
    assert export.main([str(run), "--variant", "vicreg", "--images", str(test_dir), "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "(vicreg, reused: built from the same fine-tuning outputs)" in said
    assert (f"note: {bundle_dir} was built before bundles recorded the training images' bit depths"
            in said and f"delete {bundle_dir} and export again" in said), said
    # without --images: the variant's submission of the ingest's test images, as the stage writes it
    calibration = run / "finetune" / "vicreg" / "calibration.json"
    calibration.write_text(json.dumps(json.loads(calibration.read_text()), indent=1))  # the outputs changed
    assert export.main([str(run), "--variant", "vicreg"]) == 0
    said = capsys.readouterr().out
    assert f"(vicreg, built from {run / 'finetune' / 'vicreg'})" in said  # rebuilt, not reused
    submission = run / "export" / "submission_vicreg.csv"
    assert check_submission(submission, test_dir) == []
    assert sorted(_submission(submission), key=lambda r: r["case"]) == sorted(rows, key=lambda r: r["case"])
    assert json.loads((run / "export" / "summary_vicreg.json").read_text())["bundle"] == str(bundle_dir)
    # a review: the ingest's manifest changed while the fine-tuning did not: rebuilt, not reused
    manifest = run / "data" / "manifest.csv"
    manifest.write_text(manifest.read_text() + "\n")
    assert export.main([str(run), "--variant", "vicreg", "--images", str(test_dir), "--out", str(out)]) == 0
    assert f"(vicreg, built from {run / 'finetune' / 'vicreg'})" in capsys.readouterr().out
    # a review: an export whose submission fails its check left an earlier referable file
    # beside the new submission (here a test row taken out of the manifest: a case missing)
    stale = export.referable_path(submission)
    stale.write_text("case,P_referable,referable\nx.png,0.5,1\n")
    kept = manifest.read_text()
    lines = kept.splitlines(keepends=True)
    manifest.write_text("".join([lines[0]] + [ln for ln in lines[1:] if ",test," not in ln]
                                + [ln for ln in lines[1:] if ",test," in ln][1:]))
    # the check fails: exit 1 as documented (was 2, as bad input)
    assert export.main([str(run), "--variant", "vicreg"]) == 1
    assert not stale.exists()
    assert not submission.exists() and not (run / "export" / "summary_vicreg.json").exists()
    assert export.failed_submission_path(submission).is_file()
    # a review: with --out MINE.csv the failed export removed the user's file ('as an earlier
    # export wrote them'): --out is left as it was, its .failed beside it; the stage's own
    # submission and summary go together
    assert export.main([str(run), "--variant", "vicreg"]) == 1  # the manifest mended below
    manifest.write_text(kept)
    assert export.main([str(run), "--variant", "vicreg"]) == 0  # the stage's own files again
    mine = tmp_path / "mine.csv"
    mine.write_text("case,class,P0,P1,P2\nan earlier file of mine\n")  # an earlier export's, replaceable
    export.referable_path(mine).write_text("case,P_referable,referable\nmine too\n")
    manifest.write_text("".join([lines[0]] + [ln for ln in lines[1:] if ",test," not in ln]
                                + [ln for ln in lines[1:] if ",test," in ln][1:]))
    capsys.readouterr()
    assert export.main([str(run), "--variant", "vicreg", "--out", str(mine)]) == 1
    err = capsys.readouterr().err
    assert mine.read_text().endswith("an earlier file of mine\n")
    assert export.referable_path(mine).read_text().endswith("mine too\n")
    assert export.failed_submission_path(mine).is_file() and "Traceback" not in err
    assert f"{mine} is as it was" in err and "removed, as an earlier export wrote them" in err, err
    assert str(mine) not in err.split("removed, as an earlier export wrote them")[1], err
    assert not submission.exists() and not (run / "export" / "summary_vicreg.json").exists()
    manifest.write_text(kept)
    capsys.readouterr()
    # the selected variant: no word of another selection
    assert export.main([str(run), "--variant", "scratch", "--images", str(test_dir), "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert f"bundle: {run / 'bundles' / 'scratch'} (scratch, built" in said and "the run selected" not in said
    # a variant the run did not fine-tune, or no such variant: exit 2, naming the variants it has
    for name in ("vicreg_umm", "simclr"):
        assert export.main([str(run), "--variant", name]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error:") and f"no fine-tuned variant {name!r}" in err
        assert "it has scratch, vicreg" in err and "Traceback" not in err
    assert not (run / "bundles" / "vicreg_umm").exists()


def test_a_bundle_is_not_built_from_weights_newer_than_the_variants_model_json(
        exported_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A fine-tuning rerun interrupted after it replaced one fold's weights (the variant's
    model.json, calibration and metrics are written only when every fold is done) left a
    variant whose files describe two different trainings: ``--variant`` built a bundle from
    that mixed state without a word. model.json records each weight file's SHA-256; a
    weight file that differs is an error naming the fold, the file and the fix."""
    run = _two_variant_run(exported_run, tmp_path)
    vdir = run / "finetune" / "vicreg"
    model_json = json.loads((vdir / "model.json").read_text())
    folds = model_json["folds"]
    from drac_ssl.io import atomic_write_bytes, sha256_file

    for entry in folds:  # every weight file named, with its hash as written
        assert set(entry["sha256"]) == set(entry["weights"])
        assert all(entry["sha256"][n] == sha256_file(vdir / n) for n in entry["weights"])
    first, second = folds[0]["weights"][-1], folds[1]["weights"][-1]
    atomic_write_bytes(vdir / first, (vdir / second).read_bytes())  # a retrained fold, valid weights
    # the rerun was interrupted: stages.json records the fine-tuning running, not done (a finished
    # one whose file changed afterwards gets the retraining fix: test_bundle_damaged_fold_file)
    stages = json.loads((run / "stages.json").read_text())
    stages["finetune"] = {**stages["finetune"], "status": "running"}
    (run / "stages.json").write_text(json.dumps(stages))
    with pytest.raises(bundles.BundleError) as err:
        bundles.build_bundle(run, "vicreg", out=tmp_path / "bundle")
    said = str(err.value)
    assert f"fold {folds[0]['fold']}" in said and first in said and "model.json" in said
    assert "interrupted" in said and "fix:" in said and "finetune" in said
    assert not (tmp_path / "bundle").exists()
    capsys.readouterr()
    assert export.main([str(run), "--variant", "vicreg"]) == 2
    err_text = capsys.readouterr().err
    assert err_text.startswith("error:") and first in err_text and "Traceback" not in err_text
    # a model.json written before the hashes were recorded is read as before
    for entry in folds:
        entry.pop("sha256")
    (vdir / "model.json").write_text(json.dumps(model_json))
    assert (bundles.build_bundle(run, "vicreg", out=tmp_path / "bundle") / "metadata.json").is_file()


def test_files_the_export_cannot_grade_are_named_in_the_batch_tabs_words(
        exported_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A .webp and a .txt among the images are named with why (the app batch tab's words) and
    handled like unreadable files: nothing written, or --skip-unreadable's INCOMPLETE line,
    exit 3 and record; a sub-folder gets a note, a dot-file nothing; --check against the folder
    says the files no row can cover."""
    from PIL import Image

    from app.inputs import PLAIN_TEXT, InputRejected, load_bytes

    folder = tmp_path / "clinic"
    folder.mkdir()
    tests = sorted((exported_run / "images" / "test").iterdir())
    for path in tests:
        shutil.copy(path, folder / path.name)
    Image.fromarray(np.full((64, 64), 90, np.uint8)).save(folder / "x.webp")
    (folder / "notes.txt").write_text("scan notes")
    (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (folder / "old").mkdir()
    shutil.copy(tests[0], folder / "old" / tests[0].name)
    app_words = {}  # the batch tab's reason for each, after the file name
    for name in ("x.webp", "notes.txt"):
        with pytest.raises(InputRejected) as raised:
            load_bytes((folder / name).read_bytes(), name)
        app_words[name] = str(raised.value).replace("`", "").removeprefix(name).lstrip(": ")
    # the same sentence: a text file's start is quoted by neither (a new-user trial found the
    # export quoting "Patient: John Smith, DOB..." where the app says plain text)
    assert PLAIN_TEXT in app_words["notes.txt"] and "scan notes" not in app_words["notes.txt"]
    expected = {"x.webp": "x.webp: is a WEBP file",
                "notes.txt": "notes.txt: " + app_words["notes.txt"].rstrip(".")}
    assert app_words["x.webp"].startswith("is a WEBP file;")
    out = tmp_path / "grades.csv"
    capsys.readouterr()
    assert export.main([str(exported_run), "--images", str(folder), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert not out.exists() and ".DS_Store" not in err
    assert [x for x in err.splitlines() if x.startswith("error:")] == [
        "error: 1 of the 7 file(s) cannot be graded (nothing written):"], err
    assert expected["x.webp"] in err, err
    # a file holding no image at all is said in a note, not a test image left out
    assert f"note: {folder / 'notes.txt'}: {expected['notes.txt'].removeprefix('notes.txt: ')}" in err, err
    assert "--skip-unreadable" in err.splitlines()[-1]
    assert export.main([str(exported_run), "--images", str(folder), "--out", str(out),
                        "--skip-unreadable"]) == export.EXIT_SKIPPED
    captured = capsys.readouterr()
    *_, last, pretrained = captured.out.splitlines()  # the run's own test images: pretrained on
    assert pretrained.startswith("NOTE: 6 of 6 graded images were among those the self-supervised pretraining (VICReg) of this model's backbone read"), pretrained
    assert last.startswith("INCOMPLETE: 1 of the 7 files not graded: ")
    assert captured.out.startswith("INCOMPLETE: 6 of the 7 file(s) graded")
    assert expected["x.webp"] in last and "notes.txt" not in last, last
    assert ".DS_Store" not in captured.out + captured.err
    assert [x for x in captured.err.splitlines() if "old" in x and "sub-folder" in x
            and x.startswith("note:")], captured.err
    assert out.read_text() == (exported_run / "export" / "submission.csv").read_text()
    said = json.loads(export.skipped_record_path(out).read_text())
    assert said["complete"] is False and {s["file"] for s in said["skipped"]} == {"x.webp"}
    # the full submission of the six images, checked against the folder: the WEBP image said
    assert export.main(["--check", str(exported_run / "export" / "submission.csv"),
                        "--images", str(folder)]) == 1
    said_out = capsys.readouterr().out
    assert "x.webp' is a WEBP file" in said_out and "notes.txt" not in said_out
    assert ".DS_Store" not in said_out and str(folder / "old") not in said_out
    (folder / "x.webp").unlink()  # a README beside the test images does not fail the check
    assert export.main(["--check", str(exported_run / "export" / "submission.csv"),
                        "--images", str(folder)]) == 0


def test_the_export_never_quotes_a_text_file_among_the_images(
        exported_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A new-user trial (F11): the export said of a text file in the image folder "it holds
    text \"Patient: John Smith, DOB...\"", on stderr and in the skipped-files record: a
    patient's details in a log that gets pasted. The app never quotes such a file
    (holds_words); the export now says the same "plain text", for a text file with a text
    name (a note) and one named as an image (skipped as unreadable) alike, and the --check of
    a folder holding it too."""
    from drac_ssl.grading.image_notes import PLAIN_TEXT, holds_words

    secret = "Patient: John Smith, DOB 01.02.1950, referral for DR grading"
    folder = _test_images_and(exported_run, tmp_path / "clinic", 3, "scan.png", np.zeros((64, 64), np.uint8))
    (folder / "scan.png").write_text(secret)  # a note saved under an image's name
    (folder / "letter.txt").write_text(secret)
    (folder / "letter.dat").write_bytes(secret.encode("latin-1"))  # not named as an image
    assert holds_words(secret.encode()) == PLAIN_TEXT
    out = tmp_path / "g.csv"
    capsys.readouterr()
    assert export.main([str(exported_run), "--images", str(folder), "--out", str(out),
                        "--skip-unreadable"]) == export.EXIT_SKIPPED
    captured = capsys.readouterr()
    said = captured.out + captured.err + export.skipped_record_path(out).read_text()
    assert "John" not in said and "Patient" not in said, said
    assert f"scan.png: not an image (it holds {PLAIN_TEXT})" in captured.err, captured.err
    assert f"letter.txt: is not an image (PNG, JPEG, TIFF or BMP expected; it holds {PLAIN_TEXT})" \
        in captured.err, captured.err
    capsys.readouterr()
    assert export.main([str(exported_run), "--images", str(folder), "--out", str(tmp_path / "h.csv")]) == 2
    assert export.main(["--check", str(out), "--images", str(folder)]) == 1
    captured = capsys.readouterr()
    assert "John" not in captured.out + captured.err and PLAIN_TEXT in captured.err, captured


def test_check_against_a_run_of_another_scale_says_it_once(
        exported_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A 5-grade file checked against a run whose model has 3: one line naming both (wrong
    run or wrong file?), not a header to rewrite and a column error per row."""
    cases, _ = export.manifest_test_cases(exported_run)
    sub = tmp_path / "five.csv"
    sub.write_text("case,class,P0,P1,P2,P3,P4\n" + "".join(f"{c},1,0.2,0.2,0.2,0.2,0.2\n" for c in cases))
    capsys.readouterr()
    assert export.main(["--check", str(sub), "--manifest", str(exported_run)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{sub}:1: the submission has 5 grades") and "the manifest" in lines[0]
    assert "has 3 grades (" in lines[0] and "wrong file" in lines[0]


def test_bundle_provenance_names_the_runs_seed_and_commits(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("run:\n  seed: 7\n")
    (tmp_path / "environment.json").write_text(json.dumps({"git_commit": "54e10d4", "git_dirty": False}))
    (tmp_path / "stages.json").write_text(json.dumps(
        {"finetune": {"status": "done", "code": {"git_commit": "17e12e1", "git_dirty": True}}}))
    prov = bundles.run_provenance(tmp_path)
    assert prov["run_seed"] == 7 and prov["run_code"] == {"git_commit": "54e10d4", "git_dirty": False}
    assert prov["finetune_code"] == {"git_commit": "17e12e1", "git_dirty": True}
    line = bundles._provenance_card({"provenance": {**prov, "built_with": {"git_commit": "abc1234",
                                                                            "git_dirty": False}}})
    assert line == ("\n- Provenance: run seed 7; run made at commit 54e10d4, fine-tuned at commit "
                    "17e12e1 (dirty); bundle built at commit abc1234.")
    assert bundles._provenance_card({}) == ""  # a bundle built before provenance was recorded


def test_weights_that_do_not_fit_the_metadata_model_are_a_bundle_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A review edited a colour bundle's metadata to 1 channel: the export said torch's "size
    mismatch for backbone.conv1.weight" and the app printed a traceback."""
    from app.demo_bundle import build_demo_bundle

    bundle_dir = build_demo_bundle(tmp_path / "run", image_size=32, source_size=48, n_folds=2, channels=3)
    meta_path = bundle_dir / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["model"]["in_channels"], meta["input"]["channels"] = 1, 1
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(bundles.BundleError) as caught:
        export.load_bundle(bundle_dir)
    words = str(caught.value)
    assert "weights do not fit the model its metadata describes (1 input channel(s)" in words
    assert "backbone.conv1.weight (64, 3, 7, 7) in the file, (64, 1, 7, 7) in the model" in words
    # the bundle's own run (RUN/bundle): its rebuild, as any damaged bundle's (rebuild_advice)
    assert "fix:" in words and f"build_bundle('{tmp_path / 'run'}')" in words


@pytest.mark.parametrize("keep", [0.5, 0.0])
def test_a_cut_short_or_empty_weight_file_is_a_bundle_error_and_export_exits_2(
        tmp_path: Path, keep: float, capsys: pytest.CaptureFixture[str]) -> None:
    from app.demo_bundle import build_demo_bundle

    bundle_dir = build_demo_bundle(tmp_path / "run", image_size=32, source_size=48, n_folds=2)
    weights = sorted(bundle_dir.glob("*.safetensors"))[-1]
    data = weights.read_bytes()
    weights.write_bytes(data[:int(len(data) * keep)])
    (tmp_path / "imgs").mkdir()
    cv2.imwrite(str(tmp_path / "imgs" / "a.png"), np.zeros((48, 48), np.uint8))
    args = [str(bundle_dir), "--images", str(tmp_path / "imgs"), "--out", str(tmp_path / "s.csv")]
    # the build recorded the folds' digests: the changed file is refused before it is read
    with pytest.raises(bundles.BundleError, match="SHA-256") as info:
        export.load_bundle(bundle_dir)
    assert f"{weights} (fold 1): SHA-256" in str(info.value) and "not the ones" in str(info.value)
    assert export.main(args) == 2
    err = capsys.readouterr().err
    assert "SHA-256" in err and "not the ones" in err and "Traceback" not in err
    meta_path = bundle_dir / "metadata.json"
    meta = json.loads(meta_path.read_text())
    for entry in meta["folds"]:  # a bundle built before digests were recorded: read, and refused
        del entry["sha256"]
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(bundles.BundleError, match="damaged safetensors file") as info:
        export.load_bundle(bundle_dir)
    assert str(weights) in str(info.value) and "fix:" in str(info.value)
    assert export.main(args) == 2
    err = capsys.readouterr().err
    assert "damaged safetensors file" in err and "Traceback" not in err
    assert not (tmp_path / "s.csv").exists()


def test_out_that_is_a_folder_is_refused_before_any_grading(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    images, out = tmp_path / "imgs", tmp_path / "existing"
    images.mkdir()
    out.mkdir()
    (out / "keep.txt").write_text("x")
    # the run folder does not exist: the --out check comes first, before any bundle is read
    assert export.main([str(tmp_path / "no-run"), "--images", str(images), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{out}: --out is a folder" in err and ".csv file path" in err and "Traceback" not in err
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


@pytest.mark.parametrize("device", ["gpu", "cuda", "mps", "cuda:1"])
def test_a_bad_device_names_the_device_flag_before_any_bundle_is_read(
        tmp_path: Path, device: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    (tmp_path / "imgs").mkdir()
    assert export.main([str(tmp_path / "no-run"), "--images", str(tmp_path / "imgs"), "--out",
                        str(tmp_path / "s.csv"), "--device", device]) == 2
    err = capsys.readouterr().err
    assert f"--device {device}" in err and "fix: --device auto" in err
    assert "run.device" not in err and "no-run" not in err


def test_device_names_are_the_preflights_and_a_cuda_index_the_machine_lacks_is_refused(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A review: ``--device mps`` (any torch device) passed the export's check and failed
    later, where ``python -m drac_ssl.train`` refuses ``run.device=mps`` at once."""
    from drac_ssl.runtime import resolve_device

    assert resolve_device("cpu") == torch.device("cpu")
    for name in ("mps", "xpu", "meta", "cuda:x"):
        with pytest.raises(RuntimeError, match="not a device this package runs on"):
            resolve_device(name, setting="--device")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("cuda:1") == torch.device("cuda:1")
    with pytest.raises(RuntimeError, match=r"(?s)has 2 CUDA device\(s\), numbered from 0.*fix: run.device=cuda:0"):
        resolve_device("cuda:2")


def test_a_bundle_missing_a_fold_file_says_how_to_rebuild_it(exported_run: Path, tmp_path: Path) -> None:
    """A review deleted bundle/fold0.safetensors: the export said only "weight file of fold 0
    is missing". Now it says the bundle is incomplete and how to rebuild it from the run."""
    copy = tmp_path / "run"
    shutil.copytree(exported_run / "bundle", copy / "bundle")
    shutil.copytree(exported_run / "finetune", copy / "finetune")
    gone = copy / "bundle" / json.loads((copy / "bundle" / "metadata.json").read_text())["folds"][0]["weights"][-1]
    gone.unlink()
    with pytest.raises(bundles.BundleError) as caught:
        export.load_bundle(copy)
    assert f"{gone} (fold 0)" in str(caught.value) and "the bundle is incomplete" in str(caught.value)
    # the run has its oof.csv: the rebuild gives the card its out-of-fold calibration line again
    assert f"build_bundle('{copy}', oof_calibration=oof_calibration_of('{copy}'))" in str(caught.value)


@pytest.mark.parametrize(("edit", "said"), [
    (lambda meta: meta.pop("calibration"), "has no 'calibration' entry"),
    (lambda meta: meta.pop("folds"), "has no 'folds' entry"),
    (lambda meta: meta.pop("model"), "has no 'model' entry"),
    (lambda meta: meta.update(folds={"weights": []}), "'folds' is a dict, not a list"),
    (lambda meta: meta["calibration"].pop("temperature"), "'calibration' lacks 'temperature'"),
])
def test_a_metadata_json_without_an_entry_load_bundle_needs_is_a_bundle_error(
        tmp_path: Path, edit: Callable[[dict], object], said: str) -> None:
    """An audit: load_bundle of a metadata.json without ``calibration`` or ``folds`` raised a
    bare KeyError, and one without ``model`` said the bundle came from a newer drac_ssl."""
    from app.demo_bundle import build_demo_bundle

    bundle_dir = build_demo_bundle(tmp_path / "run", image_size=32, source_size=48, n_folds=2)
    meta_path = bundle_dir / "metadata.json"
    meta = json.loads(meta_path.read_text())
    edit(meta)
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(bundles.BundleError) as caught:
        export.load_bundle(bundle_dir)
    words = str(caught.value)
    assert words.startswith(f"{meta_path}: ") and said in words, words
    assert "newer drac_ssl" not in words and "\n  fix: " in words and "build_bundle(" in words, words


def test_a_metadata_json_that_is_not_an_object_is_a_bundle_error(tmp_path: Path) -> None:
    from app.demo_bundle import build_demo_bundle

    bundle_dir = build_demo_bundle(tmp_path / "run", image_size=32, source_size=48, n_folds=2)
    (bundle_dir / "metadata.json").write_text("[1, 2]")
    with pytest.raises(bundles.BundleError, match=r"metadata.json: .*a list, not a JSON object"):
        export.load_bundle(bundle_dir)


def _files_the_decoder_converts(folder: Path) -> Path:
    """``folder`` with one colour picture in three files the decoder converts with a warning:
    ``rgba.png`` whose left quarter is transparent (at the share a plain note allows,
    :data:`data_prep.decode.MOSTLY_TRANSPARENT_SHARE`), ``cmyk.jpg`` (CMYK) and ``f32.tiff``
    (32-bit float RGB, 0..1, which Pillow cannot open: OpenCV decodes it)."""
    from PIL import Image

    folder.mkdir(exist_ok=True)
    yy, xx = np.mgrid[:64, :64]
    rgb = np.dstack([xx * 4, yy * 4, 255 - xx * 2]).astype(np.uint8)  # channels differ
    alpha = np.where(xx < 16, 0, 255).astype(np.uint8)
    Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(folder / "rgba.png")
    Image.fromarray(rgb).convert("CMYK").save(folder / "cmyk.jpg", quality=95)
    cv2.imwrite(str(folder / "f32.tiff"), rgb[..., ::-1].astype(np.float32) / 255)
    return folder


@pytest.mark.parametrize("channels", [1, 3])
def test_read_image_says_what_the_decoder_did_in_the_apps_and_the_ingests_words(
        tmp_path: Path, channels: int) -> None:
    """read_image kept only the 16-bit note of the decoder's findings: a quarter-transparent PNG
    (composited over black), a CMYK JPEG and a float TIFF were converted without a word, where
    the ingest and the app warn. Now each finding is said as the app says it (``Image file:
    ...``, after the file's name), in the ingest's words: the decoder's warnings among the
    warnings, its notes (decoded by OpenCV) among the notes."""
    from app.inputs import load_bytes
    from data_prep.validate import inspect_image
    from drac_ssl.grading.image_notes import is_plain_note

    folder = _files_the_decoder_converts(tmp_path / "files")
    plain_seen = 0
    kind = "octa" if channels == 1 else "fundus"
    for name, words in (("rgba.png", "25.0% of the pixels are (partly) transparent: composited over black"),
                        ("cmyk.jpg", "converted to RGB without colour management"),
                        ("f32.tiff", "float image (0..1): values 0..1 scaled by 255")):
        data = (folder / name).read_bytes()
        ingest = inspect_image(data, name, channels=channels)  # the ingest's findings
        found = [p for p in ingest.problems if p.kind not in ("channels", "size")]
        assert any(words in p.what for p in found), (name, found)
        notes: list[str] = []
        _, said = predict.read_image(folder / name, channels, kind=kind, notes=notes)
        for problem in found:
            line = f"{name}: Image file: {problem.what}."
            # a fact about the file that casts no doubt on the image is a note, as on the app's page
            plain = problem.severity == "note" or is_plain_note(f"Image file: {problem.what}.")
            assert line in (notes if plain else said), (line, said, notes)
            plain_seen += problem.severity == "warning" and plain
        app = [w for w in load_bytes(data, name, channels=channels, kind=kind).warnings
               if w.startswith("Image file: ")]
        assert sorted(f"{name}: {w}" for w in app) == sorted(
            s for s in said + notes if s.startswith(f"{name}: Image file: "))
    assert plain_seen  # the composited transparency: a decoder warning the app says as a note
    # the transparent quarter is black, and said so
    pixels, _ = predict.read_image(folder / "rgba.png", 3)
    assert pixels[:, :16].max() == 0 and pixels[:, 16:].max() > 0


def test_the_export_says_what_the_decoder_did_to_each_file_as_the_app_does(
        exported_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``python -m drac_ssl.export --skip-unreadable`` on a folder with a quarter-transparent PNG,
    a CMYK JPEG and a float TIFF printed nothing about them. Each is now said per image on
    stderr, in the app's words (warnings as ``warning:``, the OpenCV decode as ``note:``);
    the summary counts them apart from the conversions to the model's channels."""
    from app.inputs import load_bytes

    # plain.png: a grey gradient, neither blank nor noise (--skip-unreadable skips those, F4)
    folder = _test_images_and(exported_run, tmp_path / "clinic", 2, "plain.png",
                              np.tile((np.arange(64) * 3).astype(np.uint8), (64, 1)))
    _files_the_decoder_converts(folder)
    capsys.readouterr()
    assert export.main([str(exported_run), "--images", str(folder), "--out", str(tmp_path / "x.csv"),
                        "--skip-unreadable"]) == export.EXIT_FLAGGED
    captured = capsys.readouterr()
    err = captured.err.splitlines()
    for name in ("rgba.png", "cmyk.jpg", "f32.tiff"):
        app = [w for w in load_bytes((folder / name).read_bytes(), name, channels=1, kind="octa").warnings
               if w.startswith("Image file: ")]
        assert app, name
        for words in app:
            assert f"warning: {name}: {words}" in err or f"note: {name}: {words}" in err, (name, words)
    # facts about the file, not doubts about the image: notes, as the app's page says them
    assert any(x.startswith("note: rgba.png: Image file: 25.0% of the pixels are (partly) transparent")
               for x in err)
    assert any(x.startswith("note: cmyk.jpg: Image file: CMYK") and "without colour management" in x
               for x in err)
    assert not [x for x in err if x.startswith("warning: ") and "Image file" in x], err
    assert "note: f32.tiff: Image file: Pillow cannot open this file; decoded by OpenCV" in " ".join(err)
    assert not [x for x in err if "plain.png" in x and "Image file" in x]
    summary = captured.out.splitlines()[0]
    assert "3 converted to the model's channels" in summary  # the three colour files, not their findings
    assert "3 with a note about the file itself (see the notes)" in summary
    assert "warning about the file itself" not in summary


def test_a_folder_without_images_says_where_to_point_images(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--images emptydir`` said only "no images (.png, ...) in this folder": a fix line now
    says to point --images at the folder holding the images themselves, that sub-folders are
    not searched, and names a sub-folder that holds images. A folder with nothing to grade at
    all is no wrong command: exit 5 (a hospital review, F6: test_export_clinic_batch.py)."""
    from app.demo_bundle import build_demo_bundle

    bundle_dir = build_demo_bundle(tmp_path / "run", image_size=32, source_size=48, n_folds=1)
    empty = tmp_path / "emptydir"
    empty.mkdir()
    out = tmp_path / "s.csv"
    assert export.main([str(bundle_dir), "--images", str(empty), "--out", str(out)]) == export.EXIT_NO_IMAGES
    assert capsys.readouterr().out.startswith(f"NOTHING TO GRADE: {empty} holds no image (.png, ")
    assert not out.exists()
    cv2.imwrite(str(empty / "scan.png"), np.full((48, 48), 128, np.uint8))
    (empty / "scan.png").rename(empty / "scan.dat")  # an image under a name that is no case's
    assert export.main([str(bundle_dir), "--images", str(empty), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"error: {empty}: no images (.png, " in err
    assert ("\n  fix: rename the files above as each line says, or point --images at the folder that "
            "holds the images themselves (its sub-folders are not searched)") in err, err
    assert not out.exists()
    (empty / "scan.dat").unlink()
    sub = empty / "left eyes"
    sub.mkdir()
    cv2.imwrite(str(sub / "a.png"), np.full((48, 48), 128, np.uint8))
    assert export.main([str(bundle_dir), "--images", str(empty), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"e.g. --images '{sub}'" in err, err
    assert not out.exists()


def test_per_patient_folders_given_as_images_get_the_command_that_copies_them_into_one(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A DeepDRiD user: --images .../Online-Challenge1&2-Evaluation/Images (per-patient folders
    401/ .. 412/, no image of its own) got a note per folder, 'move its images up one level',
    and only 'e.g. --images .../401'. The error now gives the command that copies the images
    of every sub-folder into one folder (names kept, bash runs it) and how to grade that
    folder; no per-folder notes, and a folder with images of its own keeps at most 10 of them."""
    from app.demo_bundle import build_demo_bundle

    bundle_dir = build_demo_bundle(tmp_path / "run", image_size=32, source_size=48, n_folds=1)
    images = tmp_path / "Online-Challenge1&2-Evaluation" / "Images"
    for patient in range(401, 413):
        (images / str(patient)).mkdir(parents=True)
        for eye in ("l1", "r1"):
            cv2.imwrite(str(images / str(patient) / f"{patient}_{eye}.png"), np.full((48, 48), patient % 200, np.uint8))
    out = tmp_path / "s.csv"
    assert export.main([str(bundle_dir), "--images", str(images), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "move its images up" not in err and "a sub-folder, not graded" not in err, err
    assert "12 sub-folders (401/, 402/, 403/ and 9 more; per-patient folders?)" in err, err
    flat = images.with_name("Images_flat")
    (command,) = [line.strip() for line in err.splitlines() if line.strip().startswith("mkdir -p ")]
    assert f"then run this command again with --images {shlex.quote(str(flat))}" in err, err
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, check=False)
    assert done.returncode == 0, (command, done.stderr)
    assert len(list(flat.glob("*.png"))) == 24
    assert export.main([str(bundle_dir), "--images", str(flat), "--out", str(out)]) == export.EXIT_FLAGGED
    assert len(_submission(out)) == 24
    # images of its own beside 12 sub-folders: graded, and the sub-folder notes capped at 10
    cv2.imwrite(str(images / "own.png"), np.full((48, 48), 7, np.uint8))
    assert export.main([str(bundle_dir), "--images", str(images), "--out", str(out)]) == export.EXIT_FLAGGED
    notes = [line for line in capsys.readouterr().err.splitlines() if "sub-folder" in line]
    assert len(notes) == 11 and notes[-1].startswith("note: ... and 2 more sub-folders"), notes


@pytest.mark.parametrize("cwd, given", [("parent", "Images"), ("images", "."), ("patient", "..")])
def test_per_patient_folders_given_by_a_relative_path_get_a_command_that_copies_them(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        cwd: str, given: str) -> None:
    """A review: --images Images (relative) printed 'mkdir -p Images_flat && (cd Images && find
    ... -exec cp {} Images_flat/ ;)', which after the cd copies into a folder that is not
    there (nothing copied) and still exits 0; --images . crashed on Path('.').with_name and
    --images .. named '.._flat'. The command names its folders by absolute paths: run from the
    folder the export was run in, it copies every image, and a cp that fails fails the command."""
    from app.demo_bundle import build_demo_bundle

    bundle_dir = build_demo_bundle(tmp_path / "run", image_size=32, source_size=48, n_folds=1)
    images = tmp_path / "Images"
    for patient in (401, 402, 403):
        (images / str(patient)).mkdir(parents=True)
        for eye in ("l1", "r1"):
            cv2.imwrite(str(images / str(patient) / f"{patient}_{eye}.png"), np.full((48, 48), 9, np.uint8))
    here = {"parent": tmp_path, "images": images, "patient": images / "401"}[cwd]
    monkeypatch.chdir(here)
    assert export.main([str(bundle_dir), "--images", given, "--out", str(tmp_path / "s.csv")]) == 2
    err = capsys.readouterr().err
    assert "has an empty name" not in err and ".._flat" not in err, err
    flat = tmp_path / "Images_flat"
    (command,) = [line.strip() for line in err.splitlines() if line.strip().startswith("mkdir -p ")]
    assert f"then run this command again with --images {shlex.quote(str(flat))}" in err, err
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, check=False,
                          cwd=here)
    assert done.returncode == 0, (command, done.stderr)
    assert sorted(p.name for p in flat.iterdir()) == sorted(p.name for p in images.glob("*/*.png"))
    # a cp that fails (a folder in the way of one copy) fails the command, not a silent exit 0
    (flat / "402_l1.png").unlink()
    (flat / "402_l1.png").mkdir()
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, check=False,
                          cwd=here)
    assert done.returncode != 0 and "402_l1.png" in done.stderr, (command, done.stderr)


@pytest.mark.parametrize("where", ["run", "unfinished", "variant", "variant+config", "elsewhere"])
def test_a_corrupt_bundle_metadata_names_the_file_and_how_to_rebuild_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str) -> None:
    """A damaged ``metadata.json`` said "the bundle metadata is unreadable (Extra data: ...)"
    and no fix: it now names the file and says how to rebuild the bundle: the export stage's
    build_bundle for RUN/bundle, ``python -m drac_ssl.export RUN --variant NAME`` for a
    variant's bundle (build_bundle into its folder when the run has no config.yaml), the
    generic call for a bundle copied elsewhere or of a run without its fine-tuning. The
    advice given for a run folder works: the bundle loads again."""
    from app.demo_bundle import build_demo_bundle

    run = tmp_path / "run"
    bundle_dir = build_demo_bundle(run, image_size=32, source_size=48, n_folds=1)
    assert (run / "finetune" / "summary.json").is_file()  # a run whose fine-tuning finished
    if where == "unfinished":
        shutil.rmtree(run / "finetune")
    if where.startswith("variant"):
        (run / "bundles").mkdir()
        bundle_dir = bundle_dir.rename(run / "bundles" / "vicreg")
    if where == "variant+config":
        (run / "config.yaml").write_text("{}\n")
    if where == "elsewhere":
        bundle_dir = bundle_dir.rename(tmp_path / "copied")
    meta = bundle_dir / "metadata.json"
    meta.write_text(meta.read_text() + "xx\n")
    with pytest.raises(bundles.BundleError) as caught:
        export.load_bundle(bundle_dir)
    said = str(caught.value)
    assert said.startswith(f"{meta}: the bundle metadata is unreadable (Extra data: "), said
    fix = said.split("\n  fix: ")[1]
    generic = "build_bundle('RUN', oof_calibration=oof_calibration_of('RUN'))"
    assert {"run": f"build_bundle('{run}')", "unfinished": generic, "elsewhere": generic,
            "variant": f"build_bundle('{run}', 'vicreg', '{bundle_dir}')",
            "variant+config": f"{python_command('drac_ssl.export')} {run} --variant vicreg"}[where] in fix, said
    images = tmp_path / "images"
    images.mkdir()
    cv2.imwrite(str(images / "a.png"), np.full((48, 48), 128, np.uint8))
    assert export.main([str(bundle_dir), "--images", str(images), "--out", str(tmp_path / "x.csv")]) == 2
    assert f"error: {said}" in capsys.readouterr().err
    if where in ("run", "variant"):  # the python -c advice, run as given
        call = fix.split(f'{python_word()} -c "')[1].rstrip('"')
        exec(call, {})  # noqa: S102 - the package's own advice, tested
        assert export.load_bundle(bundle_dir).grade_names


def test_check_against_an_array_file_or_a_folder_without_images_is_a_usage_error_with_the_working_command(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A new-user trial: ``--check RUN/export/submission.csv --images retinamnist_public.npz`` was
    told to give the .npz's folder; that folder then gave ``submission.csv:0: no images (...)
    -> pass the folder of test images with --images``, exit 1 (the file failed), a dead end
    blamed on line 0 of a valid submission. A MedMNIST .npz holds its test images as rows of
    the array: both are usage errors (exit 2) whose fix is the command that works, ``--check
    CSV --manifest RUN`` (RUN the run the CSV was written into); a folder without images too."""
    from drac_ssl import submission

    run = tmp_path / "runs" / "rm"
    (run / "data").mkdir(parents=True)
    cases = ["test_0000.png", "test_0001.png"]
    (run / "data" / "manifest.csv").write_text(
        "id,grade,split,fold\ntrain_0000.png,0,train,0\n" + "".join(f"{c},,test,\n" for c in cases))
    (run / "data" / "ingest_summary.json").write_text(json.dumps({"grades": {"names": ["Normal", "NPDR", "PDR"]}}))
    csv_path = run / "export" / "submission.csv"
    csv_path.parent.mkdir()
    csv_path.write_text("case,class,P0,P1,P2\n" + "".join(f"{c},0,0.8,0.1,0.1\n" for c in cases))
    npz = tmp_path / "shared" / "retinamnist_public.npz"
    npz.parent.mkdir()
    np.savez(npz, test_images=np.zeros((2, 4, 4), np.uint8))
    works = f"{python_command('drac_ssl.export')} --check {csv_path} --manifest {run}"
    capsys.readouterr()
    for images in (npz, npz.parent):  # the file, then its folder as the old advice said
        assert export.main(["--check", str(csv_path), "--images", str(images)]) == 2, images
        captured = capsys.readouterr()
        assert ":0:" not in captured.out and "pass the folder of test images" not in captured.out, captured
        assert "give its folder" not in captured.err, captured.err
        assert "rows of the array, not" in captured.err and "\n  fix: " in captured.err, captured.err
        assert captured.err.rstrip().endswith(works), captured.err
    assert "retinamnist_public.npz, an array file" in captured.err  # the folder names what it holds
    # the command given works: the submission is valid against the run's test cases
    assert export.main(shlex.split(works)[3:]) == 0
    assert "OK: 2 cases" in capsys.readouterr().out
    # a folder without any image, and no array file: a usage error too, in both check commands
    empty = tmp_path / "empty"
    (empty / "patient1").mkdir(parents=True)
    (empty / "patient1" / "test_0000.png").write_bytes(b"")
    assert export.main(["--check", str(csv_path), "--images", str(empty)]) == 2
    err = capsys.readouterr().err
    assert f"error: {empty}: no images (.png, " in err and f"e.g. {empty / 'patient1'}" in err, err
    assert submission.main(["--check", str(csv_path), "--images", str(empty)]) == 2
    assert f"error: {empty}: no images (.png, " in capsys.readouterr().err
    # a submission outside a run: RUN stays a word, said what it is
    loose = tmp_path / "team.csv"
    shutil.copy(csv_path, loose)
    assert export.main(["--check", str(loose), "--images", str(npz)]) == 2
    assert "--manifest RUN (RUN: the run folder whose ingest read the test images" in capsys.readouterr().err


def test_check_against_a_manifest_without_test_images_says_the_fix(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A new user's trial: --check preds.csv --images new_photos --manifest runs/mine, the run's
    manifest listing no test images, exited 2 with 'the manifest lists no test images' and no
    fix. The fix: drop --manifest and check against --images, the scale from --grades K (the
    run's K) or the header."""
    data = tmp_path / "runs" / "mine" / "data"
    data.mkdir(parents=True)
    (data / "manifest.csv").write_text("id,grade,split,fold\n001.png,0,train,0\n002.png,2,train,1\n")
    (data / "ingest_summary.json").write_text(json.dumps({"grades": {"names": ["Normal", "NPDR", "PDR"]}}))
    images = tmp_path / "new_photos"
    images.mkdir()
    (images / "a.png").write_bytes(b"")  # a folder of images (one without is a usage error)
    preds = tmp_path / "preds.csv"
    preds.write_text("case,class,P0,P1,P2\n")
    capsys.readouterr()
    assert export.main(["--check", str(preds), "--images", str(images), "--manifest", str(data.parent)]) == 2
    err = capsys.readouterr().err
    assert f"error: {data.parent}: the manifest lists no test images" in err
    assert ("fix: drop --manifest to check against --images alone: the grade scale then comes from "
            "--grades 3 (this run's Normal, NPDR, PDR) or, without it, from the CSV's header") in err
    # followed: the check runs against the folder
    assert export.main(["--check", str(preds), "--images", str(images), "--grades", "3"]) != 2
    # without --images: the manifest has nothing to check against, the fix names --images
    assert export.main(["--check", str(preds), "--manifest", str(data.parent)]) == 2
    assert "fix: pass --images DIR (the folder of the images the CSV grades) instead of --manifest" \
        in capsys.readouterr().err


def test_the_ok_line_says_which_variant_graded_and_why(
        exported_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A DRAC trial's run selected scratch and the export ended 'OK: 386 image(s) graded with
    runs/first-try/bundle': nothing said that the pretraining played no part in the submission."""
    run = _two_variant_run(exported_run, tmp_path)
    bundles.build_bundle(run)  # the run's own bundle: the selected variant, scratch
    test_dir = run / "images" / "test"
    out = tmp_path / "team.csv"

    def ok_line(*args: str) -> str:
        assert export.main([*args, "--images", str(test_dir), "--out", str(out)]) == 0
        return next(line for line in capsys.readouterr().out.splitlines() if line.startswith("OK:"))

    capsys.readouterr()
    line = ok_line(str(run))
    assert (f"graded with {run / 'bundle'} (variant scratch, random init: no pretraining; the one the "
            f"run selected, highest out-of-fold QWK, as {run / 'finetune' / 'summary.json'} says) -> {out}") in line, line
    line = ok_line(str(run), "--variant", "vicreg")
    assert f"(variant vicreg, asked for by name; the run selected scratch) -> {out}" in line, line
    line = ok_line(str(run), "--variant", "scratch")
    assert ("(variant scratch, random init: no pretraining; asked for by name, and the run's own "
            f"choice too) -> {out}") in line, line
    # a bundle folder away from its run: its own record says why
    shutil.copytree(run / "bundle", tmp_path / "shipped")
    line = ok_line(str(tmp_path / "shipped"))
    assert (f"(variant scratch, random init: no pretraining; the one the run selected, highest "
            f"out-of-fold QWK, as {tmp_path / 'shipped' / 'metadata.json'} says)") in line, line
    # a bundle that records no variant (an older build): the line as it was
    meta = json.loads((tmp_path / "shipped" / "metadata.json").read_text())
    del meta["variant"], meta["selection"]
    (tmp_path / "shipped" / "metadata.json").write_text(json.dumps(meta))
    assert f"graded with {tmp_path / 'shipped'} -> {out}" in ok_line(str(tmp_path / "shipped"))


def test_the_model_card_says_when_the_crop_to_the_fundus_disc_was_not_applied(
        exported_run: Path, tmp_path: Path) -> None:
    """data.fundus_crop=true on copies already cropped to the disc: the ingest left every image
    as it is (its `no dark surround` warnings, ingest_summary.json's findings_by_kind), yet the
    model card said `crop to the fundus disc`. The bundle's data facts carry the count, and
    the card says the crop was requested and on how many images it was not applied."""
    data = tmp_path / "data"
    shutil.copytree(exported_run / "data", data)
    summary = json.loads((data / "ingest_summary.json").read_text())
    summary.update(preprocessing={"fundus_crop": True, "graham": False},
                   findings_by_kind={"warning:fundus-surround": 36})
    (data / "ingest_summary.json").write_text(json.dumps(summary))
    meta = json.loads((exported_run / "bundle" / "metadata.json").read_text())
    meta["input"]["ingest_preprocessing"] = {"fundus_crop": True, "graham": False}
    meta["data"] = bundles.data_provenance(data, meta["class_names"])  # what build_bundle records
    assert json.loads(json.dumps(meta["data"])) == meta["data"]  # it travels in metadata.json
    card = bundles._model_card(meta)
    assert ("- Fundus preprocessing of the ingest, replayed on every input: crop to the fundus disc "
            "(requested; not applied to 36 of 36 images: no dark surround around the disc)") in card, card
    meta["data"] = bundles.data_provenance(exported_run / "data", meta["class_names"])  # no warnings
    assert "replayed on every input: crop to the fundus disc (B. Graham" in bundles._model_card(meta)


@pytest.mark.parametrize("cut", [True, 0, 3, -1, "2", 2.0])
def test_the_referable_file_takes_only_a_cut_the_app_takes(
        exported_run: Path, tmp_path: Path, cut: object) -> None:
    """A review: the export wrote a referable file for a cut the app refuses (``True``, which
    Python counts as the int 1, or a grade outside 1..K-1): one helper now says the cut for
    both (:func:`drac_ssl.grading.bundle.referable_cut_of`)."""
    bundle = export.load_bundle(exported_run / "bundle")
    submission = tmp_path / "s.csv"
    shutil.copy(exported_run / "export" / "submission.csv", submission)
    meta = copy.deepcopy(bundle.metadata)
    meta.setdefault("cv_metrics", {})["referable"] = {"from_grade": cut, "rule": "a test"}
    bundle.metadata = meta
    assert export.write_referable_beside(bundle, submission) == (None, "")
    assert not export.referable_path(submission).exists()
    assert bundles.referable_cut_of(meta, 3) is None
    app_source = (Path(__file__).resolve().parents[2] / "app" / "predict.py").read_text()
    assert "def referable_cut_of" not in app_source and "referable_cut_of(" in app_source  # the same one
    meta["cv_metrics"]["referable"]["from_grade"] = 2
    assert bundles.referable_cut_of(meta, 3) == 2 and bundles.referable_cut_of(meta, 2) is None
    path, line = export.write_referable_beside(bundle, submission)
    assert path == export.referable_path(submission) and path.is_file() and "P_referable = P2" in line


def test_a_rebuilt_bundle_replaces_the_old_one_whole_or_not_at_all(
        exported_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A review: ``build_bundle`` removed the old bundle and then renamed the new one into
    place; a failure (or Ctrl-C) in between left no bundle at all. The old one is now moved
    aside first and put back when the new one cannot be renamed into place; on success no
    hidden copy is left beside it."""
    import os

    run = tmp_path / "run"
    shutil.copytree(exported_run, run, ignore=shutil.ignore_patterns("bundles", "export"))
    old = (run / "bundle" / "metadata.json").read_bytes()
    real = os.replace

    seen: list[str] = []

    def refuse_the_new_bundle(src: object, dst: object) -> None:
        if Path(str(src)).name.startswith(".bundle.tmp-"):
            seen.extend(sorted(p.name for p in run.iterdir() if p.name.startswith(".bundle")))
            raise OSError(13, "Permission denied (a test)")
        real(src, dst)

    monkeypatch.setattr(os, "replace", refuse_the_new_bundle)
    with pytest.raises(OSError, match="a test"):
        bundles.build_bundle(run)
    monkeypatch.setattr(os, "replace", real)
    # the old one was aside under a name the next training's start sweeps if this process dies
    from drac_ssl.io import _PID_TEMPORARY

    assert seen == [f".bundle.old.tmp-{os.getpid()}", f".bundle.tmp-{os.getpid()}"], seen
    assert _PID_TEMPORARY.match(seen[0])
    assert (run / "bundle" / "metadata.json").read_bytes() == old  # the old bundle, whole
    assert sorted(p.name for p in run.iterdir() if p.name.startswith(".bundle")) == []
    bundles.load_bundle(run / "bundle")
    out = bundles.build_bundle(run)  # a rebuild that succeeds: no copy of the old one left
    assert out == run / "bundle" and (out / "metadata.json").is_file()
    assert sorted(p.name for p in run.iterdir() if p.name.startswith(".bundle")) == []
    bundles.load_bundle(out)


def test_the_export_command_is_refused_while_a_training_holds_the_run_folder(
        exported_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A review: ``python -m drac_ssl.export RUN --variant NAME`` wrote RUN/bundles/NAME and
    RUN/export while a training (or another export) of RUN could write them too: it now holds
    the run's lock like the report does, and is refused (exit 75, the training's for a busy
    folder, which a job script requeues; it was 2; nothing written) while another process
    holds it; a training started meanwhile is refused, the export named."""
    from drac_ssl.exit_codes import RUN_BUSY
    from drac_ssl.runtime import RunBusy, hold_run

    run = tmp_path / "run"
    shutil.copytree(exported_run, run, ignore=shutil.ignore_patterns("bundles", "export"))
    capsys.readouterr()
    with hold_run(run):
        assert export.main([str(run), "--variant", "vicreg"]) == RUN_BUSY == 75
        assert export.main([str(run), "--variant", "vicreg", "--images", str(run / "images" / "test"),
                            "--out", str(tmp_path / "v.csv")]) == RUN_BUSY
    err = capsys.readouterr().err
    assert err.count("error:") == 2 and "Traceback" not in err
    assert "in use: python -m drac_ssl.train, process" in err and "this export would write" in err, err
    assert not (run / "bundles").exists() and not (run / "export").exists()
    assert not (tmp_path / "v.csv").exists()
    seen: list[str] = []
    real = export.run

    def run_while_a_training_tries(*args: object, **kwargs: object) -> export.ExportResult:
        with pytest.raises(RunBusy) as refused:
            with hold_run(run):
                pass
        seen.append(str(refused.value))
        return real(*args, **kwargs)

    export.run = run_while_a_training_tries
    try:
        assert export.main([str(run), "--variant", "vicreg"]) == 0
    finally:
        export.run = real
    assert "in use: python -m drac_ssl.export, process" in seen[0], seen
    assert (run / "export" / "submission_vicreg.csv").is_file()
    # a review: a reused bundle grading --images took no lock even with --out inside RUN, and
    # overwrote the run's own submission while a training held the folder: refused now
    assert export.main([str(run), "--variant", "vicreg", "--images", str(run / "images" / "test"),
                        "--out", str(tmp_path / "v.csv")]) == 0  # the bundle is built: reused below
    mine = (run / "export" / "submission_vicreg.csv").read_bytes()
    capsys.readouterr()
    with hold_run(run):
        assert export.main([str(run), "--variant", "vicreg", "--images", str(run / "images" / "test"),
                            "--out", str(run / "inside.csv")]) == RUN_BUSY
        # the run's own submission is refused as --out before any lock (drac_ssl/out_paths.py)
        assert export.main([str(run), "--variant", "vicreg", "--images", str(run / "images" / "test"),
                            "--out", str(run / "export" / "submission_vicreg.csv")]) == 2
        # outside RUN it only reads: no lock needed, graded while the training holds RUN
        assert export.main([str(run), "--variant", "vicreg", "--images", str(run / "images" / "test"),
                            "--out", str(tmp_path / "w.csv")]) == 0
    err = capsys.readouterr().err
    assert "in use: python -m drac_ssl.train, process" in err
    assert f"--out lies in {run / 'export'}, a folder of the run's own files" in err, err
    assert (run / "export" / "submission_vicreg.csv").read_bytes() == mine


@pytest.mark.parametrize("stage", ["pretrain", "finetune", "export"])
def test_the_export_command_exits_busy_while_the_runs_training_still_runs(
        stage: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A review: ``export RUN --variant NAME``, ``export RUN --images DIR --out CSV`` and
    ``export RUN`` on a run whose training still runs (an export job started while the
    training, or its requeued copy, runs: the commonest busy case on SLURM) exited 2, said as
    the unfinished run, which a job script cannot tell from a bad setting; they now exit 75
    (try again later) with the same words. A lock left by a dead training is no run in
    progress: the same commands still exit 2, the run's own command given as the fix."""
    from drac_ssl.exit_codes import RUN_BUSY
    from drac_ssl.run_state import RUN_LOCK
    from drac_ssl.runtime import hold_run

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("run:\n  stages: [ingest, pretrain, umm, finetune, export]\n")
    done = {"status": "done", "seconds": 1.0, "finished_utc": "2026-01-01T00:00:00+00:00", "outputs": {}}
    order = ["ingest", "pretrain", "umm", "finetune", "export"]
    stages = {name: done for name in order[:order.index(stage)]}
    (run / "stages.json").write_text(json.dumps({**stages, stage: {"status": "running"}}))
    if stage == "export":  # the fine-tuning done: export RUN says where its submission will be
        (run / "finetune").mkdir()
        (run / "finetune" / "summary.json").write_text(json.dumps({"selected": "vicreg", "variants": {"vicreg": {}}}))
    images = tmp_path / "images"
    images.mkdir()
    cv2.imwrite(str(images / "a.png"), np.zeros((8, 8), np.uint8))
    commands = [[str(run), "--images", str(images), "--out", str(tmp_path / "a.csv")], [str(run)]]
    if stage != "export":  # finetune/summary.json there: --variant would build its bundle
        commands.append([str(run), "--variant", "vicreg"])
    capsys.readouterr()
    with hold_run(run):  # the training, running
        assert [export.main(argv) for argv in commands] == [RUN_BUSY] * len(commands) == [75] * len(commands)
    err = capsys.readouterr().err
    assert err.count("error:") == len(commands) and "Traceback" not in err, err
    assert err.count("its training is still running") == len(commands), err
    assert f"{stage} running (python -m drac_ssl.train, process {os.getpid()}" in err, err
    assert not (tmp_path / "a.csv").exists() and not (run / "bundles").exists()
    # the lock file left by a training killed since (its record names a process that is gone)
    (run / RUN_LOCK).write_text(json.dumps({"tool": "drac_ssl.train", "pid": 2 ** 22 + 1,
                                            "host": "elsewhere", "date_utc": "2026-01-01T00:00:00+00:00"}))
    assert [export.main(argv) for argv in commands] == [2] * len(commands)
    err = capsys.readouterr().err
    assert "still running" not in err and f"{stage} killed" in err, err


def test_score_exits_busy_while_the_runs_training_still_runs(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A review: ``--score TEAM.csv --labels L.csv RUN`` on a run whose training still runs
    scored without RUN's bundle, warned "RUN is no run or bundle folder" and exited 0 (a job
    script went on with figures that lacked RUN's checks); the export's other modes exit 75
    (try again later) there, and so does --score now, in their words, nothing written."""
    from drac_ssl.exit_codes import RUN_BUSY
    from drac_ssl.runtime import hold_run

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("run:\n  stages: [ingest, pretrain, umm, finetune, export]\n")
    (run / "stages.json").write_text(json.dumps({"pretrain": {"status": "running"}}))
    sub = _write_scored_submission(tmp_path / "team.csv")
    labels = _write_idrid_labels(tmp_path / "b. IDRiD_Disease Grading_Testing Labels.csv")
    out = tmp_path / "score.json"
    argv = ["--score", str(sub), "--labels", str(labels), "--json", str(out), str(run)]
    capsys.readouterr()
    with hold_run(run):  # the training, running
        assert export.main(argv) == RUN_BUSY == 75
    said = capsys.readouterr()
    assert said.err.startswith(f"error: {run}: a run folder with no model bundle (bundle/) yet: its training "
                               f"is still running: "), said.err
    assert "no run or bundle folder" not in said.err and not said.out
    record = json.loads(out.read_text())  # a refusal's record, not a score (docs/running.md)
    assert record["ok"] is False and record["exit_code"] == RUN_BUSY and "qwk" not in record, record


def test_the_export_command_reads_a_run_folder_it_cannot_write(
        exported_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A review: ``RUN --variant NAME --images DIR --out CSV`` on a run folder it cannot write
    (read-only, an immutable lock file, another user's) stopped with a PermissionError
    traceback on RUN/.train.lock, though with a reused bundle it writes nothing into RUN. The
    lock is needed only to write: a path that only reads goes on without it; one that would
    write says so (error:, exit 2), naming the folder and the fix. (A root test process can
    write anything: the lock file's open is made to fail instead.)"""
    from drac_ssl.runtime import RUN_LOCK

    run = tmp_path / "run"
    shutil.copytree(exported_run, run, ignore=shutil.ignore_patterns("bundles", "export"))
    test_dir = run / "images" / "test"
    out = tmp_path / "v.csv"
    assert export.main([str(run), "--variant", "vicreg", "--images", str(test_dir), "--out", str(out)]) == 0
    built = (run / "bundles" / "vicreg" / "metadata.json").stat().st_mtime_ns
    real_open = os.open

    def refused(path: object, *args: object, **kwargs: object) -> int:
        if Path(str(path)).name == RUN_LOCK:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", refused)
    capsys.readouterr()
    # the bundle is reused: nothing is written into RUN, the lock is not needed
    out.unlink()
    assert export.main([str(run), "--variant", "vicreg", "--images", str(test_dir), "--out", str(out)]) == 0
    said = capsys.readouterr()
    # the OK line, its class line, and the notes file's line (the run pretrained on these test images)
    assert "Traceback" not in said.err and said.out.splitlines()[-3].startswith("OK: 6 image(s) graded"), said
    assert said.out.splitlines()[-1].startswith("NOTE: 6 of 6 graded images were among those the self-supervised")
    assert check_submission(out, test_dir) == []
    assert (run / "bundles" / "vicreg" / "metadata.json").stat().st_mtime_ns == built
    # the bundle must be rebuilt, or the submission of the test images written into RUN/export:
    # a clean error naming the folder and the fix, nothing written
    calibration = run / "finetune" / "vicreg" / "calibration.json"
    calibration.write_text(json.dumps(json.loads(calibration.read_text()), indent=1))  # the outputs changed
    for argv in (["--images", str(test_dir), "--out", str(tmp_path / "w.csv")], []):
        assert export.main([str(run), "--variant", "vicreg", *argv]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: {run}: this export cannot write into the run folder "
                              f"(Permission denied: {run / RUN_LOCK})"), err
        assert "Traceback" not in err and "fix: " in err and "cp -r" in err, err
    assert (run / "bundles" / "vicreg" / "metadata.json").stat().st_mtime_ns == built
    assert not (tmp_path / "w.csv").exists() and not (run / "export").exists()
    # any other OSError (a disk full, a folder gone read-only under it) is an error: line too
    monkeypatch.setattr(os, "open", real_open)

    def full(*args: object, **kwargs: object) -> int:
        raise OSError(28, "No space left on device", str(tmp_path / "w.csv"))

    monkeypatch.setattr(export, "_predict_folder", full)
    assert export.main([str(run), "--images", str(test_dir), "--out", str(tmp_path / "w.csv")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {tmp_path / 'w.csv'}: No space left on device") and "Traceback" not in err, err


def test_a_bundle_without_weight_digests_grades_from_a_run_folder_it_cannot_write(
        exported_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Review F2 of killtests6: a bundle whose folds record no SHA-256 of their weights (built
    before digests were recorded) is an older record, rebuilt by ``export RUN --variant NAME``;
    grading a folder with it from a run folder it cannot write took the lock to rebuild it and
    was refused ("cannot write into the run folder") where it graded before. It grades with
    the bundle as it is, the note saying its weights are used unverified."""
    from drac_ssl.grading.bundle import reusable_bundle
    from drac_ssl.runtime import RUN_LOCK

    run = tmp_path / "run"
    shutil.copytree(exported_run, run, ignore=shutil.ignore_patterns("bundles", "export"))
    test_dir, out = run / "images" / "test", tmp_path / "v.csv"
    assert export.main([str(run), "--variant", "vicreg", "--images", str(test_dir), "--out", str(out)]) == 0
    meta_path = run / "bundles" / "vicreg" / "metadata.json"
    meta = json.loads(meta_path.read_text())
    assert all(entry["sha256"] for entry in meta["folds"])
    for entry in meta["folds"]:
        del entry["sha256"]
    meta_path.write_text(json.dumps(meta))
    built = meta_path.stat().st_mtime_ns
    # export RUN --variant NAME (building under the lock) rebuilds it; grading a folder reuses it
    assert reusable_bundle(run, "vicreg") is None
    assert reusable_bundle(run, "vicreg", unhashed_weights_ok=True) == run / "bundles" / "vicreg"
    real_open = os.open

    def refused(path: object, *args: object, **kwargs: object) -> int:
        if Path(str(path)).name == RUN_LOCK:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", refused)  # a root test process writes anything: the lock's open fails
    capsys.readouterr()
    out.unlink()
    assert export.main([str(run), "--variant", "vicreg", "--images", str(test_dir), "--out", str(out)]) == 0
    said = capsys.readouterr()
    assert "Traceback" not in said.err and "cannot write into the run folder" not in said.err, said
    assert f"note: {run / 'bundles' / 'vicreg'} records no SHA-256 of its weights files" in said.err, said.err
    assert check_submission(out, test_dir) == []
    assert meta_path.stat().st_mtime_ns == built
    # an --out inside the run folder takes the lock, and would rebuild the bundle: both said
    assert export.main([str(run), "--variant", "vicreg", "--images", str(test_dir),
                        "--out", str(run / "in.csv")]) == 2
    err = capsys.readouterr().err
    assert "cannot write into the run folder" in err and f"{run / 'in.csv'} (inside the run folder)" in err
    assert "(the vicreg bundle, to build from" in err, err


def test_a_demo_variant_bundle_gets_no_note_to_rebuild_it_for_a_pretraining_list(tmp_path: Path) -> None:
    """Review F6 of killtests6: a demo bundle built just now by ``export RUN --variant NAME``
    was said to be "built before that list" with a rebuild to add the images its backbone's
    pretraining read; a demo's random weights were pretrained on nothing, and a rebuild adds no
    list. No such note for it (its pretraining_image cells still say unknown); a real bundle
    without the list keeps it."""
    bundle_dir, notes, written = tmp_path / "bundles" / "vicreg", tmp_path / "a_notes.csv", tmp_path / "a.csv"
    meta = {"variant": "vicreg", "demo": True}
    assert export._pretraining_doubt_line(None, [None], "", bundle_dir, meta, notes, written) == ""
    line = export._pretraining_doubt_line(None, [None], "", bundle_dir, {"variant": "vicreg"}, notes, written)
    assert line.startswith(f"NOTE: {bundle_dir} records no list of the images its backbone's self-supervised")


def test_a_failed_submission_is_not_left_under_its_name(
        exported_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A review: the stage wrote export/submission.csv and then checked it; a file failing
    its check stayed under its name (and the earlier export's summary.json beside it), to be
    submitted by someone looking only at export/. It is now checked under a name that says it
    failed (kept for a look, named in the error) and renamed onto submission.csv only when it
    passes; an earlier export's submission and summary, which no longer describe the run's
    bundle, go."""
    run = tmp_path / "run"
    shutil.copytree(exported_run, run, ignore=shutil.ignore_patterns("bundles"))
    submission = run / "export" / "submission.csv"
    assert submission.is_file() and (run / "export" / "summary.json").is_file()  # an earlier export
    manifest = run / "data" / "manifest.csv"
    lines = manifest.read_text().splitlines(keepends=True)  # a test row lost: a case missing
    manifest.write_text("".join([lines[0]] + [ln for ln in lines[1:] if ",test," not in ln]
                                + [ln for ln in lines[1:] if ",test," in ln][1:]))
    with pytest.raises(bundles.BundleError) as raised:
        export.run(tiny_config(), run)
    assert not submission.exists() and not (run / "export" / "summary.json").exists()
    failed = export.failed_submission_path(submission)
    said = str(raised.value)
    assert said.startswith(f"{failed}: the written submission fails its check:\n  {failed}:"), said
    assert f"not as {submission}: do not submit it" in said
    assert failed.is_file() and check_submission(failed, run / "images" / "test") != []
    assert sorted(p.name for p in (run / "export").iterdir() if p.name.startswith(".")) == []
    manifest.write_text("".join(lines))  # mended: the export writes it, the failed file goes
    export.run(tiny_config(), run)
    assert check_submission(submission, run / "images" / "test") == [] and not failed.exists()
    # the command line grading a folder: a file failing the check is not left at --out
    out = tmp_path / "grades.csv"
    earlier = "case,class,P0,P1,P2\nan earlier file,0,1.0,0.0,0.0\n"  # an earlier export's, to be replaced
    out.write_text(earlier)
    real = export.check_submission
    try:
        export.check_submission = lambda path, *a, **k: [f"{path}:0: a problem (a test) -> mend it"]
        capsys.readouterr()
        assert export.main([str(run), "--images", str(run / "images" / "test"), "--out", str(out)]) == 1
    finally:
        export.check_submission = real
    printed = capsys.readouterr().out
    failed = export.failed_submission_path(out)
    assert out.read_text() == earlier and failed.is_file()
    assert printed.startswith(f"{failed}:0: a problem (a test) -> mend it\nPROBLEMS: 6 image(s) graded"), printed
    assert f"-> {failed}" in printed and f"{out} is as it was" in printed, printed
    assert not export.referable_path(out).exists() and not export.referable_path(failed).exists()
    assert export.main([str(run), "--images", str(run / "images" / "test"), "--out", str(out)]) == 0
    assert check_submission(out, run / "images" / "test") == [] and not failed.exists()
    # a review: the run folder through a link and --out spelled through the real folder named
    # the stage's own file twice: it was removed and said to be 'as it was'
    link = tmp_path / "link"
    link.symlink_to(run)
    own = run / "export" / "submission_vicreg.csv"
    assert export.main([str(run), "--variant", "vicreg"]) == 0 and own.is_file()
    manifest.write_text("".join([lines[0]] + [ln for ln in lines[1:] if ",test," not in ln]
                                + [ln for ln in lines[1:] if ",test," in ln][1:]))
    capsys.readouterr()
    kept = own.read_bytes()
    # the run's export/ folder is refused as --out before any grading now (out_paths), through
    # the link too: the stage's own file is neither replaced nor said to be 'as it was'
    assert export.main([str(link), "--variant", "vicreg", "--out", str(own)]) == 2
    err = capsys.readouterr().err
    assert "--out lies in" in err and "a folder of the run's own files" in err and "is as it was" not in err, err
    assert own.read_bytes() == kept and not export.failed_submission_path(own).exists()



# --------------------------------------------------------------------------------------
# --score: a submission against labels the user holds (IDRiD's test grades, APTOS's public
# split, a held-out set of one's own)

ICDR = ("No DR", "Mild", "Moderate", "Severe", "PDR")
# 8 images on the 5 ICDR grades; QWK and accuracy by hand (docs: rows true, columns class):
# weighted disagreements (0,1) (2,3) (4,2): (1 + 1 + 4) / 16 = 0.375; expected from the
# margins (true 2,1,2,1,2; class 1,2,2,2,1): (8*50 + 8*44 - 2*16*16) / (8*16) = 1.875;
# QWK = 1 - 0.375 / 1.875 = 0.8. Accuracy 5/8; F1 per grade 2/3, 2/3, 1/2, 2/3, 2/3: 19/30.
SCORED_TRUE = (0, 0, 1, 2, 2, 3, 4, 4)
SCORED_CLASS = (0, 1, 1, 2, 3, 3, 4, 2)
SCORED_CONFUSION = [[1, 1, 0, 0, 0], [0, 1, 0, 0, 0], [0, 0, 1, 1, 0], [0, 0, 0, 1, 0], [0, 0, 1, 0, 1]]


def _scored_probs() -> np.ndarray:
    """Rows peaked on the submitted class, but the last row's largest P is grade 4, not its
    class 2: QWK and accuracy must score the class column, the AUCs the P columns."""
    probs = np.full((8, 5), 0.1)
    probs[np.arange(8), SCORED_CLASS] = 0.6
    probs[7] = [0.05, 0.05, 0.3, 0.1, 0.5]
    return probs


def _write_scored_submission(path: Path, classes: tuple[int, ...] = SCORED_CLASS,
                             names: list[str] | None = None) -> Path:
    names = names or [f"IDRiD_{i + 1:03d}.jpg" for i in range(len(classes))]
    probs = _scored_probs()
    lines = ["case,class,P0,P1,P2,P3,P4"] + [
        f"{name},{c}," + ",".join(f"{p:.6f}" for p in row)
        for name, c, row in zip(names, classes, probs, strict=True)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _write_idrid_labels(path: Path, grades: tuple[int, ...] = SCORED_TRUE, extra: list[str] = ()) -> Path:
    """IDRiD's testing-label CSV: 'Image name' without extension, 'Retinopathy grade', the
    trailing space of 'Risk of macular edema ', rows in another order than the submission."""
    rows = [f"IDRiD_{i + 1:03d},{g},0" for i, g in enumerate(grades)]
    rows = rows[::-1] + list(extra)
    path.write_text("Image name,Retinopathy grade,Risk of macular edema \n" + "\n".join(rows) + "\n")
    return path


def test_score_gives_the_hand_computed_figures_of_a_5_grade_submission(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sklearn.metrics import roc_auc_score

    from drac_ssl.figures import format_ci
    from drac_ssl.metrics import accuracy_score, bootstrap_ci, macro_ovo_auc, macro_ovr_auc

    sub = _write_scored_submission(tmp_path / "team.csv")
    labels = _write_idrid_labels(tmp_path / "b. IDRiD_Disease Grading_Testing Labels.csv")
    out = tmp_path / "scored" / "score.json"
    assert export.main(["--score", str(sub), "--labels", str(labels), "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "8 cases, 5 grades (0 No DR, 1 Mild, 2 Moderate, 3 Severe, 4 PDR)" in printed, printed
    assert "QWK 0.800 (95% CI " in printed, printed
    assert "'Image name'" in printed and "'Retinopathy grade'" in printed and "IDRiD" in printed, printed
    assert "8 names without extension" in printed, printed  # IDRiD_001 -> IDRiD_001.jpg
    # the confusion matrix, rows true grades, columns the submitted class, with the ICDR names
    table = [ln for ln in printed.splitlines() if ln.startswith("| ")]
    assert table[0] == "| true \\ class | 0 No DR | 1 Mild | 2 Moderate | 3 Severe | 4 PDR |", table
    assert table[1:6] == [f"| {g} {ICDR[g]} | " + " | ".join(map(str, row)) + " |"
                          for g, row in enumerate(SCORED_CONFUSION)], table
    assert table[6] == "| grade | true | given | recall (95% CI) | precision |", table  # the per-grade table
    record = json.loads(out.read_text())
    assert record["n"] == 8 and record["num_grades"] == 5 and record["class_names"] == list(ICDR)
    assert record["qwk"] == pytest.approx(0.8) and record["accuracy"] == pytest.approx(0.625)
    assert record["macro_f1"] == pytest.approx(19 / 30) and record["confusion"] == SCORED_CONFUSION
    lo, hi = record["qwk_ci95"]
    assert -1 <= lo <= 0.8 <= hi <= 1 and lo < hi
    y, probs = np.array(SCORED_TRUE), _scored_probs()
    assert record["auc_ovr"] == pytest.approx(roc_auc_score(y, probs, multi_class="ovr", average="macro"))
    assert record["auc_ovo"] == pytest.approx(roc_auc_score(y, probs, multi_class="ovo", average="macro"))
    assert record["auc"] == record["auc_ovo"]  # DRAC's tie-breaker, as metrics.json names it
    # the figures in report.md's words, each AUC and the accuracy with its interval, drawn on the
    # QWK's resamples (the same n_boot, seed and images)
    for key, metric in (("auc_ovo_ci95", macro_ovo_auc), ("auc_ovr_ci95", macro_ovr_auc),
                        ("accuracy_ci95", accuracy_score)):
        given = probs if key.startswith("auc") else np.array(SCORED_CLASS)
        assert record[key] == pytest.approx(list(bootstrap_ci(y, given, metric, n_boot=record["n_boot"],
                                                               seed=record["seed"]))), key
    ovo_ci, ovr_ci, acc_ci = (format_ci(*record[key]) for key in ("auc_ovo_ci95", "auc_ovr_ci95", "accuracy_ci95"))
    assert (f"AUC {record['auc_ovo']:.3f} (95% CI {ovo_ci}) (one-vs-one; one-vs-rest {record['auc_ovr']:.3f} "
            f"(95% CI {ovr_ci})), accuracy 0.625 (95% CI {acc_ci}), macro F1 0.633." in printed), printed
    assert record["label_columns"] == {"image": "Image name", "grade": "Retinopathy grade"}
    assert record["submission"] == str(sub) and record["labels"] == str(labels)
    assert record["package_version"] and record["date_utc"].startswith("20")
    assert record["command"].startswith(f"{python_command('drac_ssl.export')} --score ")
    assert record["chance_warning"] is None and "better than chance" not in printed


def test_score_says_it_read_grades_written_as_words_as_the_ingest_says_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A new-user review: labels written ``No DR`` / ``Moderate`` were scored right but, unlike
    the ingest, without a word that they were read as numbers; the ingest's note is printed
    (and kept in the record's ``label_notes``)."""
    sub = _write_scored_submission(tmp_path / "team.csv")
    labels = tmp_path / "words.csv"
    labels.write_text("Image name,Retinopathy grade\n" + "".join(
        f"IDRiD_{i + 1:03d},{ICDR[g] if i < 4 else g}\n" for i, g in enumerate(SCORED_TRUE)))
    out = tmp_path / "score.json"
    assert export.main(["--score", str(sub), "--labels", str(labels), "--json", str(out)]) == 0
    err = capsys.readouterr().err
    said = (f"{labels}: 4 grades written as names, read as numbers: No DR=0, Mild=1, Moderate=2 -> "
            "nothing to do (scored as those numbers)")
    assert f"note: {said}" in err, err
    assert json.loads(out.read_text())["label_notes"] == [said]
    assert json.loads(out.read_text())["qwk"] == pytest.approx(0.8)
    # numbers only: no such note
    plain = _write_idrid_labels(tmp_path / "numbers.csv")
    assert export.main(["--score", str(sub), "--labels", str(plain)]) == 0
    assert "written as names" not in capsys.readouterr().err


def test_score_refuses_a_case_without_label_and_a_label_without_case(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sub = _write_scored_submission(tmp_path / "team.csv")
    # IDRiD_003 (line 4 of the submission) lost its label: nothing is scored, not 7 of 8
    short = tmp_path / "short.csv"
    short.write_text("Image name,Retinopathy grade\n" + "".join(
        f"IDRiD_{i + 1:03d},{g}\n" for i, g in enumerate(SCORED_TRUE) if i != 2))
    assert export.main(["--score", str(sub), "--labels", str(short)]) == 2
    captured = capsys.readouterr()
    assert "QWK" not in captured.out
    err = captured.err
    assert "1 of the 8 cases of" in err and f"{sub}:4: IDRiD_003.jpg" in err, err
    assert "names no case" not in err  # only one side is off, and only it is said
    # a label row that names no case: counted and pointed at, file:line
    long = _write_idrid_labels(tmp_path / "long.csv", extra=["IDRiD_099,2,0"])
    assert export.main(["--score", str(sub), "--labels", str(long)]) == 2
    err = capsys.readouterr().err
    assert "1 of the 9 label rows of" in err and f"{long}:10: IDRiD_099" in err, err
    assert "no label in" not in err


def test_score_reads_a_bom_crlf_semicolon_label_file_with_aptos_columns(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sub = _write_scored_submission(tmp_path / "team.csv", names=[f"{i:03x}a9.png" for i in range(8)])
    labels = tmp_path / "labels.csv"  # European Excel: BOM, CRLF, semicolons, a blank last line
    text = "id_code;diagnosis\r\n" + "".join(f"{i:03x}a9;{g}\r\n" for i, g in enumerate(SCORED_TRUE)) + ";\r\n"
    labels.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert export.main(["--score", str(sub), "--labels", str(labels)]) == 0
    printed = capsys.readouterr().out
    assert "QWK 0.800" in printed and "accuracy 0.625" in printed, printed
    assert "'id_code'" in printed and "'diagnosis'" in printed and "semicolon-separated" in printed, printed


def test_score_names_a_missing_column_with_the_fix_and_takes_the_columns_given(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sub = _write_scored_submission(tmp_path / "team.csv")
    labels = tmp_path / "mine.csv"
    labels.write_text("file,dr_grade\n" + "".join(f"IDRiD_{i + 1:03d}.jpg,{g}\n" for i, g in enumerate(SCORED_TRUE)))
    assert export.main(["--score", str(sub), "--labels", str(labels)]) == 2
    err = capsys.readouterr().err
    assert "no grade column" in err and "'file', 'dr_grade'" in err, err
    assert "did you mean 'dr_grade'? pass --grade-column 'dr_grade'" in err, err
    assert export.main(["--score", str(sub), "--labels", str(labels), "--grade-column", "dr_grad"]) == 2
    assert "did you mean 'dr_grade'? pass --grade-column 'dr_grade'" in capsys.readouterr().err
    assert export.main(["--score", str(sub), "--labels", str(labels), "--image-column", "file",
                        "--grade-column", "dr_grade"]) == 0
    assert "QWK 0.800" in capsys.readouterr().out


def test_score_refuses_grades_outside_the_scale_and_names_without_one_case(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sub = _write_scored_submission(tmp_path / "team.csv")
    labels = _write_idrid_labels(tmp_path / "labels.csv", grades=(0, 0, 1, 2, 2, 3, 4, 5))
    assert export.main(["--score", str(sub), "--labels", str(labels)]) == 2
    err = capsys.readouterr().err
    assert f"{labels}:2: grade 5 of IDRiD_008 is outside 0..4" in err, err  # reversed rows: line 2
    # a name without extension that two cases share is ambiguous, not a guess
    both = _write_scored_submission(tmp_path / "both.csv", names=[
        "IDRiD_001.jpg", "IDRiD_001.png", *(f"IDRiD_{i:03d}.jpg" for i in range(3, 9))])
    labels = _write_idrid_labels(tmp_path / "labels2.csv")
    assert export.main(["--score", str(both), "--labels", str(labels)]) == 2
    err = capsys.readouterr().err
    assert f"{labels}:9: IDRiD_001 (no extension) matches 2 cases" in err, err


def test_score_refuses_a_submission_that_fails_its_check_with_the_checks_lines(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sub = _write_scored_submission(tmp_path / "team.csv")
    text = sub.read_text().splitlines()
    text[3] = text[3].replace(",1,", ",7,", 1)  # line 4: class 7 on a 5-grade file
    sub.write_text("\n".join(text) + "\n")
    labels = _write_idrid_labels(tmp_path / "labels.csv")
    assert export.main(["--score", str(sub), "--labels", str(labels)]) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines()[0].startswith(f"{sub}:4: class 7 is outside {{0, 1, 2, 3, 4}} -> "), captured.out
    assert "nothing was scored" in captured.err and "QWK" not in captured.out


def test_score_says_when_the_submission_is_no_evidence_of_better_than_chance(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sub = _write_scored_submission(tmp_path / "team.csv", classes=(2, 4, 0, 1, 3, 2, 0, 4))
    labels = _write_idrid_labels(tmp_path / "labels.csv")
    out = tmp_path / "score.json"
    assert export.main(["--score", str(sub), "--labels", str(labels), "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    record = json.loads(out.read_text())
    assert record["qwk_ci95"][0] <= 0
    assert "No evidence that this submission grades better than chance: QWK" in printed, printed
    assert record["chance_warning"] and record["chance_warning"] in printed


def test_score_options_go_together_and_are_refused_before_torch_loads(tmp_path: Path) -> None:
    sub = _write_scored_submission(tmp_path / "team.csv")
    labels = _write_idrid_labels(tmp_path / "labels.csv")
    code = ("import contextlib, io, json, runpy, sys\n"
            "results = []\n"
            "for argv in json.loads(sys.argv[1]):\n"
            "    sys.argv = ['drac_ssl.export', *argv]\n"
            "    out, err = io.StringIO(), io.StringIO()\n"
            "    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):\n"
            "        try:\n"
            "            runpy.run_module('drac_ssl.export', run_name='__main__', alter_sys=True)\n"
            "            code = 'no exit'\n"
            "        except SystemExit as stop:\n"
            "            code = stop.code\n"
            "    results.append([code, 'torch' in sys.modules, out.getvalue(), err.getvalue()])\n"
            "print(json.dumps(results))\n")
    cases = [["--score", str(sub)],  # no --labels
             ["--score", str(sub), "--labels", str(labels), "--images", str(tmp_path)],
             ["--labels", str(labels)],  # --labels without --score
             ["--score", str(sub), "--labels", str(labels)]]
    import os
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1",
           "PYTHONPATH": os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(cases)], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout.splitlines()[-1])
    (c1, t1, _, e1), (c2, t2, _, e2), (c3, t3, _, e3), (c4, t4, o4, _) = results
    assert (c1, t1) == (2, False) and "--score needs --labels" in e1, e1
    assert (c2, t2) == (2, False) and "--images" in e2, e2
    assert (c3, t3) == (2, False) and "--labels" in e3 and "--score" in e3, e3
    assert (c4, t4) == (0, False) and "QWK 0.800" in o4, o4  # the scoring itself loads no torch


def _labels_csv(path: Path, grades: list[int | str], header: str = "Image name,Retinopathy grade",
                names: list[str] | None = None) -> Path:
    """A label CSV of IDRiD's two columns, rows in the submission's order (line 2 is IDRiD_001)."""
    names = names or [f"IDRiD_{i + 1:03d}" for i in range(len(grades))]
    path.write_text(header + "\n" + "".join(f"{n},{g}\n" for n, g in zip(names, grades, strict=True)))
    return path


def test_score_refuses_a_json_path_that_is_the_submission_or_the_labels(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--json lab.csv once overwrote the label file with the figures (exit 0): the inputs are
    never the output, however the path is spelled, and a .csv is no JSON file name."""
    sub = _write_scored_submission(tmp_path / "team.csv")
    labels = _write_idrid_labels(tmp_path / "labels.csv")
    kept = labels.read_bytes(), sub.read_bytes()
    (tmp_path / "sub").mkdir()
    for json_path, named in ((labels, "--labels"), (tmp_path / "sub" / ".." / "team.csv", "--score")):
        assert export.main(["--score", str(sub), "--labels", str(labels), "--json", str(json_path)]) == 2
        err = capsys.readouterr().err
        assert named in err and "overwrite" in err and "fix: " in err, err
    assert (labels.read_bytes(), sub.read_bytes()) == kept
    assert export.main(["--score", str(sub), "--labels", str(labels), "--json", str(tmp_path / "score.csv")]) == 2
    err = capsys.readouterr().err
    assert "JSON" in err and "score.json" in err and not (tmp_path / "score.csv").exists(), err


def _run_export(argv: list[str], stdout: int | object,
                unbuffered: bool = False) -> subprocess.CompletedProcess[str]:
    """``python -m drac_ssl.export ARGV`` with ``stdout`` (a file descriptor or file);
    ``unbuffered``: PYTHONUNBUFFERED=1, so that each print meets a closed or full stdout."""
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1",
           "PYTHONPATH": os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")])}
    if unbuffered:
        env["PYTHONUNBUFFERED"] = "1"
    return subprocess.run([sys.executable, "-m", "drac_ssl.export", *argv], cwd=repo, env=env,
                          stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=300)


def test_score_writes_its_json_and_exits_quietly_when_stdout_is_closed_or_full(tmp_path: Path) -> None:
    """``--score ... --json F | head -1`` once ended in a BrokenPipeError traceback, exit 1,
    and no F (written after the printing); ``> /dev/full`` likewise."""
    sub = _write_scored_submission(tmp_path / "team.csv")
    labels = _write_idrid_labels(tmp_path / "labels.csv")
    out = tmp_path / "score.json"
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line: every write is EPIPE
    try:
        proc = _run_export(["--score", str(sub), "--labels", str(labels), "--json", str(out)], write)
    finally:
        os.close(write)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr and proc.stderr == "", proc.stderr
    assert json.loads(out.read_text())["qwk"] == pytest.approx(0.8)
    if not Path("/dev/full").exists():
        return
    out.unlink()
    with open("/dev/full", "w") as full:
        proc = _run_export(["--score", str(sub), "--labels", str(labels), "--json", str(out)], full)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.count("error: ") == 1 and "No space left" in proc.stderr, proc.stderr
    assert out.is_file()


def test_folder_grading_survives_a_closed_or_full_stdout(exported_run: Path, tmp_path: Path) -> None:
    """``export RUN --images DIR --out F | head -1`` printed its summary with a bare print: a
    closed pipe ended in a BrokenPipeError traceback, exit 1 (documented as "the submission
    fails its check"). The grades are written either way; a full stdout is one error line."""
    test_dir = exported_run / "images" / "test"
    team = tmp_path / "team.csv"
    read, write = os.pipe()
    os.close(read)
    try:
        proc = _run_export([str(exported_run), "--images", str(test_dir), "--out", str(team)], write)
    finally:
        os.close(write)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert team.read_text() == (exported_run / "export" / "submission.csv").read_text()
    if not Path("/dev/full").exists():
        return
    team.unlink()
    with open("/dev/full", "w") as full:
        proc = _run_export([str(exported_run), "--images", str(test_dir), "--out", str(team)], full)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "No space left" in errors[0] and str(team) in errors[0], proc.stderr
    assert team.is_file() and "incomplete" not in errors[0] and "failed its check" not in errors[0]
    # a CSV written without some files: the error line says the grades' file is incomplete
    partial = tmp_path / "partial"
    shutil.copytree(test_dir, partial)
    (partial / "zz_broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with open("/dev/full", "w") as full:
        proc = _run_export([str(exported_run), "--images", str(partial), "--out", str(team),
                            "--skip-unreadable"], full)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert proc.returncode == 2 and len(errors) == 1, proc.stderr
    assert "(incomplete: files were skipped)" in errors[0], errors


def test_variant_folder_grading_survives_a_closed_or_full_stdout(exported_run: Path, tmp_path: Path) -> None:
    """``export RUN --variant NAME --images DIR --out F`` printed its ``bundle: ...`` lines
    with a bare print before grading: unbuffered, ``| true`` ended in "error: Broken pipe",
    exit 2 and no F; ``> /dev/full`` likewise. They go with the summary now."""
    run = _two_variant_run(exported_run, tmp_path)
    test_dir = run / "images" / "test"
    team = tmp_path / "team.csv"
    argv = [str(run), "--variant", "vicreg", "--images", str(test_dir), "--out", str(team)]
    read, write = os.pipe()
    os.close(read)
    try:
        proc = _run_export(argv, write, unbuffered=True)
    finally:
        os.close(write)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr and "error" not in proc.stderr, proc.stderr
    assert team.is_file()
    if not Path("/dev/full").exists():
        return
    team.unlink()
    with open("/dev/full", "w") as full:
        proc = _run_export(argv, full, unbuffered=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "No space left" in errors[0] and str(team) in errors[0], proc.stderr
    assert team.is_file()


def test_score_with_grades_off_the_submission_says_the_scoring_fix(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sub = _write_scored_submission(tmp_path / "team.csv")
    labels = _write_idrid_labels(tmp_path / "labels.csv")
    assert export.main(["--score", str(sub), "--labels", str(labels), "--grades", "3"]) == 1
    captured = capsys.readouterr()
    assert "drop --grades" in captured.out and "--grades 5" in captured.out, captured.out
    assert "--manifest" not in captured.out, captured.out  # --score takes no --manifest
    assert f"--check {sub} --grades 3 lists the same" in captured.err, captured.err


def test_score_with_a_scale_named_writes_plain_numbers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--grades icdr`` is a GradeCount (an int that keeps the scale's name), which
    ``yaml.safe_dump`` refuses: the record written (--json) and read back holds a plain int."""
    import yaml

    from drac_ssl.scale import grades_count
    from drac_ssl.scoring import score

    five = grades_count("icdr")
    with pytest.raises(yaml.representer.RepresenterError):
        yaml.safe_dump({"k": five})
    sub = _write_scored_submission(tmp_path / "team.csv")
    labels = _write_idrid_labels(tmp_path / "labels.csv")
    out = tmp_path / "score.json"
    assert export.main(["--score", str(sub), "--labels", str(labels), "--grades", "icdr", "--json", str(out)]) == 0
    capsys.readouterr()
    assert json.loads(out.read_text())["num_grades"] == 5
    record = score(sub, labels, num_grades=five, n_boot=20)
    assert type(record["num_grades"]) is int and "num_grades: 5" in yaml.safe_dump(record)


def test_score_says_a_grade_absent_from_the_labels_in_the_users_terms(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sub = _write_scored_submission(tmp_path / "team.csv")
    labels = _labels_csv(tmp_path / "lab_no2.csv", [0, 0, 1, 1, 1, 3, 4, 4])  # no grade 2
    out = tmp_path / "score.json"
    assert export.main(["--score", str(sub), "--labels", str(labels), "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"grade 2 (Moderate) has no image in {labels}: the macro AUCs are undefined" in printed, printed
    assert "y_true" not in printed and "data.grades" not in printed and "out-of-fold" not in printed, printed
    record = json.loads(out.read_text())
    per_grade = record["auc_per_grade"]
    assert per_grade["Moderate"] is None and per_grade["PDR"] is not None
    assert f"PDR {per_grade['PDR']:.3f}" in printed and "Moderate n/a" not in printed, printed


def test_score_of_labels_of_one_grade_says_so_and_blames_no_model(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sub = _write_scored_submission(tmp_path / "team.csv")
    labels = _labels_csv(tmp_path / "lab_one.csv", [0] * 8)
    out = tmp_path / "score.json"
    assert export.main(["--score", str(sub), "--labels", str(labels), "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"Note: Every label of {labels} is grade 0 (No DR): with one true grade nothing can be measured" in printed, printed
    assert "better than chance" not in printed and "needs more labelled images" not in printed, printed
    assert "absent" not in printed and "undefined" not in printed, printed  # one note, not three
    assert json.loads(out.read_text())["chance_warning"] is None


def test_score_says_whether_two_rows_of_one_image_agree(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sub = _write_scored_submission(tmp_path / "team.csv")
    grades = list(SCORED_TRUE)
    labels = _labels_csv(tmp_path / "lab_dup.csv", [*grades, 2, 0],
                         names=[f"IDRiD_{i + 1:03d}" for i in range(8)] + ["IDRiD_001", "IDRiD_002"])
    assert export.main(["--score", str(sub), "--labels", str(labels)]) == 2
    err = capsys.readouterr().err
    assert f"{labels}:10: IDRiD_001 names the case IDRiD_001.jpg again, grade 2 here, 0 on line 2: which is right?" in err, err
    assert f"{labels}:11: IDRiD_002 names the case IDRiD_002.jpg again, with the same grade (line 3)" in err, err


def test_score_of_1_based_labels_is_one_error_with_the_csv_fix(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sub = _write_scored_submission(tmp_path / "team.csv")
    labels = _labels_csv(tmp_path / "lab_1b.csv", [g + 1 for g in SCORED_TRUE])
    assert export.main(["--score", str(sub), "--labels", str(labels)]) == 2
    err = capsys.readouterr().err
    # the standard library's csv (pandas mangled ids such as 007: tests/data_prep/test_label_grades.py)
    assert err.count("1-based") == 1 and "import csv" in err and "pd.read_csv" not in err, err
    assert "the submission's scale has 5 grades, 0..4" in err and "--grades" not in err, err
    assert f"{labels}:8" not in err and f"{labels}:9" not in err, err  # not one error per row


def test_score_of_labels_on_a_wider_scale_asks_for_a_submission_on_theirs(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    probs = ["0.6,0.2,0.2", "0.2,0.6,0.2", "0.2,0.2,0.6"]
    sub = tmp_path / "team3.csv"
    sub.write_text("case,class,P0,P1,P2\n" + "".join(
        f"IDRiD_{i + 1:03d}.jpg,{min(c, 2)},{probs[min(c, 2)]}\n" for i, c in enumerate(SCORED_CLASS)))
    labels = _labels_csv(tmp_path / "lab.csv", list(SCORED_TRUE))  # grades 0..4: ICDR
    assert export.main(["--score", str(sub), "--labels", str(labels)]) == 2
    err = capsys.readouterr().err
    assert ("the labels use grades up to 4, the submission has 3 grades: score a submission from "
            "a model on the labels' scale") in err, err
    assert "write 0 (Normal)" not in err and err.count(" -> ") == 1, err  # one error, not one per row


def test_score_says_a_grade_name_of_another_scale_is_neither_number_nor_name(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sub = _write_scored_submission(tmp_path / "team.csv")
    labels = _labels_csv(tmp_path / "lab.csv", [*SCORED_TRUE[:7], "Stage 4 retinopathy"])
    assert export.main(["--score", str(sub), "--labels", str(labels)]) == 2
    err = capsys.readouterr().err
    assert ("'Stage 4 retinopathy' of IDRiD_008 is neither a grade number nor one of the names No DR, "
            "Mild, Moderate, Severe, PDR") in err, err
    assert "is not an integer" not in err, err
    # ICDR's long name of grade 4 is that grade (data_prep.validate.GRADE_NAME_ALIASES)
    labels = _labels_csv(tmp_path / "long.csv", [*SCORED_TRUE[:7], "Proliferative DR"])
    assert export.main(["--score", str(sub), "--labels", str(labels)]) == 0


def test_score_asks_whether_submission_and_labels_were_swapped(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sub = _write_scored_submission(tmp_path / "team.csv")
    labels = _write_idrid_labels(tmp_path / "labels.csv")
    assert export.main(["--score", str(labels), "--labels", str(sub)]) == 1
    assert "did you swap --score and --labels?" in capsys.readouterr().err
    other = _write_scored_submission(tmp_path / "team2.csv")  # a submission given as the labels
    assert export.main(["--score", str(sub), "--labels", str(other)]) == 2
    assert "did you swap --score and --labels?" in capsys.readouterr().err
    assert export.main(["--score", str(sub), "--labels", str(tmp_path / "nope.csv")]) == 2
    assert "swap" not in capsys.readouterr().err


def test_score_small_wordings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sub = _write_scored_submission(tmp_path / "team.csv")
    labels = _write_idrid_labels(tmp_path / "labels.csv")
    # one column for both roles: one error, not a grade error per row
    assert export.main(["--score", str(sub), "--labels", str(labels), "--image-column", "Image name",
                        "--grade-column", "image name"]) == 2
    err = capsys.readouterr().err
    assert "same column" in err and "not an integer" not in err and err.count(" -> ") == 1, err
    # a header without rows: said once, not also as 8 cases without label
    empty = tmp_path / "empty.csv"
    empty.write_text("Image name,Retinopathy grade\n")
    assert export.main(["--score", str(sub), "--labels", str(empty)]) == 2
    err = capsys.readouterr().err
    assert "header but no rows" in err and "no label in" not in err, err
    # labels that name no case: the question ends the sentence, no '?:'
    stray = _labels_csv(tmp_path / "stray.csv", list(SCORED_TRUE), names=[f"x{i}" for i in range(8)])
    assert export.main(["--score", str(sub), "--labels", str(stray)]) == 2
    err = capsys.readouterr().err
    assert "?:" not in err and "no label names a case" in err, err
    # leading zeros in the labels, not lost by them: matched by number, said neutrally
    numbered = _write_scored_submission(tmp_path / "numbered.csv", names=[f"{i + 1}.png" for i in range(8)])
    zeros = _labels_csv(tmp_path / "zeros.csv", list(SCORED_TRUE), names=[f"{i + 1:03d}" for i in range(8)])
    assert export.main(["--score", str(numbered), "--labels", str(zeros)]) == 0
    printed = capsys.readouterr().out
    assert "matched by number" in printed and "001 <-> 1.png" in printed and "spreadsheet" not in printed, printed
    # names that match a case only by ignoring letter case: said, with an example, as the ingest
    # says it (a review: --score matched them without a word)
    upper = _labels_csv(tmp_path / "upper.csv", list(SCORED_TRUE), names=[f"IDRID_{i + 1:03d}" for i in range(8)])
    assert export.main(["--score", str(sub), "--labels", str(upper)]) == 0
    printed = capsys.readouterr().out
    assert "8 names matched a case only by ignoring letter case (e.g. IDRID_001 -> IDRiD_001.jpg)" in printed, printed
    assert export.main(["--score", str(sub), "--labels", str(labels)]) == 0
    assert "letter case" not in capsys.readouterr().out
    # a --json that cannot be written: the error has its fix
    blocked = tmp_path / "blocked"
    blocked.mkdir()
    blocked.chmod(0o500)
    try:
        if not os.access(blocked, os.W_OK):  # root writes anywhere
            assert export.main(["--score", str(sub), "--labels", str(labels), "--json",
                                str(blocked / "score.json")]) == 2
            err = capsys.readouterr().err
            assert "cannot write the JSON" in err and "fix: choose a writable path" in err, err
    finally:
        blocked.chmod(0o700)
    # two grades named by their numbers: '(0, 1)', not '(0 0, 1 1)'
    two = tmp_path / "two.csv"
    two.write_text("case,class,P0,P1\n" + "".join(
        f"IDRiD_{i + 1:03d}.jpg,{g % 2},{0.6 if g % 2 == 0 else 0.4},{0.4 if g % 2 == 0 else 0.6}\n"
        for i, g in enumerate(SCORED_TRUE)))
    lab2 = _labels_csv(tmp_path / "lab2.csv", [g % 2 for g in SCORED_TRUE])
    # IDRiD's Retinopathy grade is an ICDR column: against two grades only as mapped (0/1 kept by 1)
    assert export.main(["--score", str(two), "--labels", str(lab2)]) == 2
    assert "add --labels-referable-from 1 if they are the model's two grades" in capsys.readouterr().err
    assert export.main(["--score", str(two), "--labels", str(lab2), "--labels-referable-from", "1"]) == 0
    printed = capsys.readouterr().out
    assert "8 cases, 2 grades (0, 1)" in printed, printed


def test_score_against_the_real_aptos_label_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The real APTOS 2019 train.csv (id_code without .png, diagnosis 0..4), as Kaggle ships
    it: a submission of its images scored against it, once exact and once with two grades
    swapped."""
    labels = need(SHARED_DATA / "aptos_samples" / "train.csv", "the real APTOS label file")
    rows = [line.split(",") for line in labels.read_text().split()[1:]]
    grades = [int(g) for _, g in rows]

    def submission(classes: list[int]) -> Path:
        out = tmp_path / "aptos.csv"
        lines = ["case,class,P0,P1,P2,P3,P4"]
        for (code, _), c in zip(rows, classes, strict=True):
            lines.append(f"{code}.png,{c}," + ",".join("0.6" if k == c else "0.1" for k in range(5)))
        out.write_text("\n".join(lines) + "\n")
        return out

    assert export.main(["--score", str(submission(grades)), "--labels", str(labels), "--grades", "5"]) == 0
    printed = capsys.readouterr().out
    assert f"{len(rows)} cases, 5 grades" in printed and "QWK 1.000" in printed, printed
    assert "accuracy 1.000" in printed and "the APTOS layout's" in printed, printed
    swapped = list(grades)
    first4, first0 = swapped.index(4), swapped.index(0)
    swapped[first4], swapped[first0] = 0, 4  # one PDR called No DR and one No DR called PDR
    assert export.main(["--score", str(submission(swapped)), "--labels", str(labels)]) == 0
    printed = capsys.readouterr().out
    assert f"accuracy {(len(rows) - 2) / len(rows):.3f}" in printed and "QWK 1.000" not in printed, printed


def test_the_summary_counts_files_read_as_they_are_apart_from_conversions(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A review: on a colour model the summary's "N converted to the model's channels" counted
    the RGB files of grey pictures, which are read as they are ("No colour: ... read as they
    are"), with the grey files, which are converted (replicated). They are now counted apart."""
    from PIL import Image

    from app.demo_bundle import build_demo_bundle
    from drac_ssl.config import GRADE_SCALES

    bundle = build_demo_bundle(tmp_path / "run", image_size=28, source_size=28, n_folds=1,
                               channels=3, grade_names=GRADE_SCALES["icdr"])
    folder = tmp_path / "images"
    folder.mkdir()
    yy, xx = np.mgrid[0:64, 0:64]
    grey = (90 + 60 * np.sin(xx / 5.0) * np.cos(yy / 7.0)).astype(np.uint8)
    colour = np.stack([grey, grey // 2, 255 - grey], axis=-1)
    Image.fromarray(grey).save(folder / "grey.png")  # a grey file: replicated, a conversion
    Image.fromarray(np.stack([grey] * 3, axis=-1)).save(folder / "rgb_of_grey.png")  # read as it is
    Image.fromarray(colour).save(folder / "colour.png")
    capsys.readouterr()
    assert export.main([str(bundle), "--images", str(folder), "--out", str(tmp_path / "g.csv")]) == export.EXIT_FLAGGED
    captured = capsys.readouterr()
    assert "warning: rgb_of_grey.png: No colour:" in captured.err and "warning: grey.png: Grey image" in captured.err
    summary = captured.out.splitlines()[0]
    assert "1 converted to the model's channels (see the warnings)" in summary, summary
    assert "1 with three identical channels, read as they are (see the warnings)" in summary, summary


@pytest.mark.parametrize(("flags", "said", "not_said"), [
    ([True, False, False], "There is nothing to grade in it: its grade must not be used; its row is in "
                           "the CSV", "in them"),
    ([True, True, False], "There is nothing to grade in them: their grades must not be used; their rows "
                          "are in the CSV", "in it:"),
])
def test_the_blank_image_line_says_it_of_one_image_and_them_of_several(
        flags: list[bool], said: str, not_said: str) -> None:
    """One blank image of three was told "There is nothing to grade in them; their rows are in
    the CSV": the line now speaks of one image in the singular."""
    line = export._blank_line(np.array(flags), ["a.png", "b.png", "c.png"])
    assert said in line and not_said not in line, line


def test_the_noise_and_unlike_lines_speak_of_one_image_in_the_singular_too() -> None:
    one, cases = np.array([False, True, False]), ["a.png", "b.png", "c.png"]
    noise, unlike = export._noise_line(one, cases), export._unlike_line(one, cases)
    assert "so its grade means nothing and must not be used; its row is in the CSV" in noise, noise
    assert "Check the file:" in noise, noise
    assert "Its grade may mean nothing; check that it is the kind" in unlike, unlike
    assert "their" not in (noise + unlike).lower(), (noise, unlike)
    several = export._noise_line(np.array([True, True, False]), cases)
    assert "so their grades mean nothing" in several and "Check each file:" in several, several


def _run_with_rule(root: Path, decision: str, thresholds: list[float], cases: list[str],
                   output: str = "classification") -> Path:
    """A run folder with what --check --manifest reads: its manifest's test cases, its grade
    scale and its bundle's class rule (metadata.json's calibration)."""
    (root / "data").mkdir(parents=True)
    (root / "data" / "manifest.csv").write_text(
        "id,grade,split,fold\n" + "".join(f"{c},,test,\n" for c in cases))
    (root / "data" / "ingest_summary.json").write_text(json.dumps({"grades": {"names": ["Normal", "NPDR", "PDR"]}}))
    (root / "bundle").mkdir()
    (root / "bundle" / "metadata.json").write_text(json.dumps({"calibration": {
        "output": output, "temperature": 1.0, "thresholds": thresholds, "decision": decision}}))
    return root


def test_check_against_a_run_warns_once_of_classes_its_rule_does_not_give(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A review: --check --manifest RUN passed rows whose class contradicts their probabilities
    without a word, though RUN's bundle says its rule (finetune.decision: argmax, or the expected
    grade cut at its thresholds). DRAC accepts any class, so the file stays valid (exit 0), and
    one warning counts the rows and names the first few: case, class given, the rule's class."""
    cases = [f"{i:03d}.png" for i in range(8)]
    rows = {  # P rows; expected grades 0.2, 1.0, 1.8, 0.9, 1.1, 0.3, 1.7, 1.0
        "000.png": (0, "0.800000,0.200000,0.000000"), "001.png": (1, "0.100000,0.800000,0.100000"),
        "002.png": (2, "0.000000,0.200000,0.800000"), "003.png": (2, "0.300000,0.500000,0.200000"),
        "004.png": (0, "0.200000,0.500000,0.300000"), "005.png": (0, "0.700000,0.300000,0.000000"),
        "006.png": (1, "0.100000,0.100000,0.800000"), "007.png": (2, "0.500000,0.000000,0.500000")}
    sub = tmp_path / "team.csv"
    sub.write_text("case,class,P0,P1,P2\n" + "".join(f"{c},{g},{p}\n" for c, (g, p) in rows.items()))
    argmax = _run_with_rule(tmp_path / "a", "argmax", [0.5, 1.5], cases)
    capsys.readouterr()
    assert export.main(["--check", str(sub), "--manifest", str(argmax)]) == 0  # still valid
    captured = capsys.readouterr()
    assert captured.out.startswith("OK: 8 cases")
    (line,) = [x for x in captured.err.splitlines() if x.startswith("warning:")]
    # 007.png ties P0 and P2: either is the most probable grade
    assert line.startswith("warning: 3 of the 8 rows have a class other than the one the bundle's rule "
                           "gives (finetune.decision=argmax: the most probable grade; "
                           f"{argmax / 'bundle' / 'metadata.json'}): 003.png class 2 (the rule gives 1), "
                           "004.png class 0 (the rule gives 1), 006.png class 1 (the rule gives 2). "), line
    assert "007.png" not in line
    assert "DRAC accepts any class" in line and "--variant" in line
    record = tmp_path / "check.json"  # --json says the same warning, not only stderr
    assert export.main(["--check", str(sub), "--manifest", str(argmax), "--json", str(record)]) == 0
    [warned] = json.loads(record.read_text(encoding="utf-8"))["warnings"]
    assert warned["line"] is None and line == "warning: " + warned["what"]
    capsys.readouterr()
    cut = _run_with_rule(tmp_path / "t", "thresholds", [0.75, 1.25], cases)
    assert export.main(["--check", str(sub), "--manifest", str(cut)]) == 0
    (line,) = [x for x in capsys.readouterr().err.splitlines() if x.startswith("warning:")]
    # expected grades: 003.png 0.9 -> 1, 004.png 1.1 -> 1, 006.png 1.7 -> 2, 007.png 1.0 -> 1
    # (the tie of 007.png's P0 and P2 let its class 2 pass as argmax's)
    assert line.startswith("warning: 4 of the 8 rows have a class other than the one the bundle's rule "
                           "gives (finetune.decision=thresholds: the expected grade cut at 0.75, 1.25; "), line
    assert ("003.png class 2 (the rule gives 1), 004.png class 0 (the rule gives 1), 006.png class 1 "
            "(the rule gives 2), 007.png class 2 (the rule gives 1). ") in line
    # a file whose classes are the rule's says nothing; nor does a check without the run
    agree = tmp_path / "agree.csv"
    agree.write_text("case,class,P0,P1,P2\n" + "".join(
        f"{c},{ {'003.png': 1, '004.png': 1, '006.png': 2, '007.png': 1}.get(c, g)},{p}\n" for c, (g, p) in rows.items()))
    assert export.main(["--check", str(agree), "--manifest", str(cut)]) == 0
    assert "warning:" not in capsys.readouterr().err
    images = tmp_path / "test_images"  # the same cases as files: valid, and no run to say a rule
    images.mkdir()
    for case in cases:
        (images / case).write_bytes(b"")
    assert export.main(["--check", str(sub), "--images", str(images), "--grades", "3"]) == 0
    assert "have a class other than" not in capsys.readouterr().err
    # a regression head cut at thresholds: its score is not the expected grade of P, so the
    # rule cannot be replayed from the file: nothing said
    regression = _run_with_rule(tmp_path / "r", "thresholds", [0.75, 1.25], cases, output="regression")
    assert export.main(["--check", str(sub), "--manifest", str(regression)]) == 0
    assert "warning:" not in capsys.readouterr().err


def test_the_exported_submission_follows_its_bundles_rule(
        exported_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The file the export writes gives every row its rule's class: no warning on its check."""
    capsys.readouterr()
    assert export.main(["--check", str(exported_run / "export" / "submission.csv"),
                        "--manifest", str(exported_run)]) == 0
    assert "warning:" not in capsys.readouterr().err


def test_the_model_card_says_which_folds_validate_without_a_grade(exported_run: Path) -> None:
    """The card's per-fold table showed n/a AUCs for folds without some grade, unexplained: its
    data lines now say which folds lack which grade (data_provenance's ``folds_without_grade``)
    and the fix that fills every fold; a bundle made before, or folds holding every grade, say
    nothing."""
    meta = json.loads((exported_run / "bundle" / "metadata.json").read_text())
    assert meta["data"]["folds_without_grade"] == {}  # the fake ingest's folds hold every grade
    assert "validates without" not in bundles._model_card(meta)
    names = meta["class_names"]
    meta["data"].update(folds_without_grade={"1": [0, 2]}, fold_gap_fix="data.fold_seed=4 (checked)")
    card = bundles._model_card(meta)
    assert (f"- Fold 0 validates without any grade 1 ({names[1]}) image, fold 2 without any grade 1 "
            f"({names[1]}) image: those folds' AUCs cannot be computed (n/a in the per-fold table") in card
    assert "To put every grade in every fold: data.fold_seed=4 (checked)." in card
    del meta["data"]["folds_without_grade"]
    assert "validates without" not in bundles._model_card(meta)


def test_check_scale_line_says_grades_not_a_bare_count(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A review: --check --manifest RUN ended its scale line with "(the manifest of RUN has 3)",
    which reads as 3 cases; it says "has 3 grades" (and --grades: "says 3 grades")."""
    cases = [f"{i:03d}.png" for i in range(4)]
    run = _run_with_rule(tmp_path / "r", "argmax", [0.5, 1.5], cases)
    sub = tmp_path / "team.csv"
    sub.write_text("case,class,P0,P1,P2\n" + "".join(f"{c},0,0.600000,0.300000,0.100000\n" for c in cases))
    capsys.readouterr()
    assert export.main(["--check", str(sub), "--manifest", str(run)]) == 0
    err = capsys.readouterr().err
    assert (f"checked as 3 grades (P0..P2), against 4 test case(s) of the manifest (the manifest of "
            f"{run} has 3 grades)") in err, err
    # without the manifest's cases, 4 rows of DRAC's 3 grades are no DRAC submission (exit 3)
    assert export.main(["--check", str(sub), "--grades", "3"]) == 3
    assert "(--grades says 3 grades)" in capsys.readouterr().err


def test_check_warns_of_one_hot_probabilities_as_the_writer_does(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A review: --check passed a file whose every P row is one-hot without a word, though
    write_submission warns of it (the tie-breaking AUC is meaningless). The file is valid
    (exit 0); the writer's warning line goes to stderr, once; real probabilities say nothing."""
    cases = [f"{i:03d}.png" for i in range(4)]
    run = _run_with_rule(tmp_path / "r", "argmax", [0.5, 1.5], cases)
    onehot = tmp_path / "onehot.csv"
    onehot.write_text("case,class,P0,P1,P2\n" + "".join(
        f"{c},{g},{','.join('1.000000' if k == g else '0.000000' for k in range(3))}\n"
        for g, c in zip([0, 1, 2, 1], cases, strict=True)))
    capsys.readouterr()
    assert export.main(["--check", str(onehot), "--manifest", str(run)]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("OK: 4 cases")
    warned = [x for x in captured.err.splitlines() if "one-hot" in x]
    assert warned == ["warning: every probability row is one-hot: the tie-breaking AUC will be "
                      "meaningless; write the model's (calibrated) probabilities instead"], captured.err
    soft = tmp_path / "soft.csv"
    soft.write_text("case,class,P0,P1,P2\n" + "".join(f"{c},0,0.600000,0.300000,0.100000\n" for c in cases))
    assert export.main(["--check", str(soft), "--manifest", str(run)]) == 0
    assert "one-hot" not in capsys.readouterr().err


FOLDS_SAVED = "2 of 6 folds saved: scratch 2 of 2, vicreg 0 of 2, vicreg_umm 0 of 2"


def _unfinished_run(root: Path, stages: dict[str, dict[str, object]], argv: list[str] | None = None,
                    cwd: str | None = None) -> Path:
    """A run folder's records as python -m drac_ssl.train leaves them part way: config.yaml's
    run.out_dir and run.name (this folder, from ``cwd``) and run.stages (all five), ``stages``
    as stages.json and one training line in invocations.jsonl (``argv``: the command as typed,
    recorded; None: an older run's line with only the joined command; ``cwd``: where it ran,
    by default a folder ``work`` beside the run's, made here), ended interrupted. No bundle,
    no fine-tuning summary."""
    root.mkdir(parents=True)
    if cwd is None:
        cwd = str(root.parent / "work")
        Path(cwd).mkdir(exist_ok=True)
    (root / "config.yaml").write_text(f"run:\n  out_dir: {root.parent}\n  name: {root.name}\n"
                                      "  stages: [ingest, pretrain, umm, finetune, export]\n")
    (root / "stages.json").write_text(json.dumps(stages))
    line: dict[str, object] = {"tool": "drac_ssl.train", "pid": 1, "host": "elsewhere", "cwd": cwd,
                               "command": "python -m drac_ssl.train -c configs/drac.yaml",
                               "ended": {"outcome": "interrupted", "stage": "finetune"}}
    if argv is not None:
        line["argv"] = argv
    (root / "invocations.jsonl").write_text(json.dumps(line) + "\n")
    return root


DONE = {"status": "done", "seconds": 1.0, "finished_utc": "2026-01-01T00:00:00+00:00", "outputs": {}}


def test_export_of_an_interrupted_run_says_its_state_and_the_command_that_finishes_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A review: export RUN on a run whose fine-tuning was interrupted said "neither a model
    bundle ... nor a run folder with bundle/" and a fix with a literal '...'. It says it is a
    run folder, which stage was interrupted with what it saved, which are not run, and the
    run's own command (quoted for the shell, in the folder it ran in) to finish it; exit 2,
    nothing written. --variant NAME the same, for its fine-tuning."""
    argv = ["python", "-m", "drac_ssl.train", "-c", "configs/drac.yaml", "data.root=/data/DRAC 2022",
            "run.name=ctrlc-ft"]
    run = _unfinished_run(tmp_path / "ctrlc-ft", {
        "ingest": DONE, "pretrain": DONE, "umm": DONE,
        "finetune": {"status": "interrupted", "seconds": 33.0, "attempts": 1, "saved": FOLDS_SAVED}}, argv)
    out = tmp_path / "team.csv"
    images = tmp_path / "graded"  # a folder of its own: --out outside it
    images.mkdir()
    capsys.readouterr()
    assert export.main([str(run), "--images", str(images), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert not out.exists()
    command = (f"cd {tmp_path / 'work'} && python -m drac_ssl.train -c configs/drac.yaml "
               "'data.root=/data/DRAC 2022' run.name=ctrlc-ft")
    # and meanwhile how to see the run so far: an interrupted run has no report.md (a trial),
    # in this interpreter's words, as the records name it (.venv/bin/python where no venv is active)
    from drac_ssl.runtime import interpreter_word

    report = f"{interpreter_word()} -m drac_ssl.report {run} writes report.md for the run so far"
    assert err == (f"error: {run}: a run folder with no model bundle (bundle/) yet: its training has "
                   f"not finished: finetune interrupted ({FOLDS_SAVED}); export not run; done: ingest, "
                   f"pretrain, umm.\n  fix: finish the run with its own command (it resumes where it "
                   f"stopped; finished stages are skipped): {command}; then rerun this command "
                   f"(meanwhile, {report})\n"), err
    assert "..." not in err
    assert export.main([str(run), "--variant", "scratch", "--images", str(images), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {run}: a run folder whose fine-tuning has not finished (no "
                          f"finetune/summary.json): its training has not finished: finetune "
                          f"interrupted ({FOLDS_SAVED}); export not run"), err
    assert f"fix: finish the run with its own command (it resumes where it stopped; finished stages " \
           f"are skipped): {command}; then rerun this command" in err


def test_a_copied_or_moved_run_folder_is_resumed_in_place_not_where_it_was_made(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An upgrade review: the command that finishes a copied run folder replayed its recorded
    command with cd to the folder it was made from, which resumed the original run there (with
    that tree's interpreter), not the copy. Where the recorded cwd, run.out_dir and run.name do
    not name this folder, or that cwd is gone, the command names this folder's own config.yaml,
    parent and name."""
    from drac_ssl import run_state
    from drac_ssl.starting import python_command

    monkeypatch.chdir(tmp_path)
    made_in = tmp_path / "old_tree"
    argv = [".venv/bin/python", "-m", "drac_ssl.train", "-c", "configs/fundus.yaml", "run.name=int2"]
    run = _unfinished_run(made_in / "runs" / "int2", {"ingest": DONE}, argv, cwd=str(made_in))
    (run / "config.yaml").write_text("run:\n  out_dir: runs\n  name: int2\n")  # relative, as saved
    assert run_state.resume_command(run) == f"cd {made_in} && .venv/bin/python -m drac_ssl.train -c " \
                                            "configs/fundus.yaml run.name=int2"  # the original: as recorded
    copied = tmp_path / "elsewhere" / "int2-copy"
    shutil.copytree(run, copied)
    full = copied.resolve()
    in_place = (f"{python_command('drac_ssl.train')} -c {full / 'config.yaml'} run.out_dir={full.parent} "
                f"run.name={full.name}")
    assert run_state.resume_command(copied) == in_place
    assert run_state.resume_command(copied, ["ingest", "pretrain"]) == in_place + " run.stages=[ingest,pretrain]"
    shutil.rmtree(made_in)  # the tree it was made in is gone: the recorded command cannot run
    moved = tmp_path / "runs" / "int2"
    shutil.copytree(copied, moved)
    assert run_state.resume_command(moved).endswith(f"-c {moved.resolve() / 'config.yaml'} "
                                                    f"run.out_dir={moved.resolve().parent} run.name=int2")


def test_export_of_a_run_still_training_names_the_stage_and_the_process(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A review: export RUN while the run was in its pretraining blamed the command. The run's
    lock is held (as the training holds it): the stage running and its process are said, and
    the fix is to wait; a run of an older drac_ssl (no argv recorded) that is not running gets
    a runnable command of its own config.yaml."""
    import platform

    from drac_ssl.io import try_lock
    from drac_ssl.runtime import RUN_LOCK

    run = _unfinished_run(tmp_path / "ctrlc", {"ingest": DONE})
    holder = {"tool": "drac_ssl.train", "pid": os.getpid(), "host": platform.node(),
              "date_utc": "2026-12-03T10:00:00+00:00"}
    (run / RUN_LOCK).write_text(json.dumps(holder) + "\n")
    images = tmp_path / "graded"  # a folder of its own: --out outside it
    images.mkdir()
    fd = os.open(run / RUN_LOCK, os.O_RDWR)
    try:
        assert try_lock(fd)
        capsys.readouterr()
        # 75 (RUN_BUSY): a training still runs, so a job script retries (cluster2's review)
        assert export.main([str(run), "--images", str(images), "--out", str(tmp_path / "early.csv")]) == 75
        err = capsys.readouterr().err
    finally:
        os.close(fd)
    assert err == (f"error: {run}: a run folder with no model bundle (bundle/) yet: its training is "
                   f"still running: pretrain running (python -m drac_ssl.train, process {os.getpid()} on "
                   f"{platform.node()}, running since 2026-12-03T10:00:00+00:00); umm not run; finetune not "
                   f"run; export not run; done: ingest.\n  fix: wait for it to finish (its export stage "
                   f"writes what this command reads), then rerun this command\n"), err
    # the lock released: the interrupted run of a drac_ssl that recorded no argv
    assert export.main([str(run), "--images", str(images), "--out", str(tmp_path / "early.csv")]) == 2
    err = capsys.readouterr().err
    full = run.resolve()
    assert "its training has not finished: pretrain not run; umm not run" in err, err
    assert (f"python -m drac_ssl.train -c {full / 'config.yaml'} run.out_dir={full.parent} "
            f"run.name={full.name}; then rerun this command") in err, err


def test_a_pretraining_run_of_a_generic_data_set_is_not_told_to_run_a_fine_tuning_it_cannot(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A review: export RUN on a cifar10 run (run.stages=[pretrain], a correctness check) was
    told to rerun it with run.stages up to export, which the preflight refuses for such data."""
    run = _unfinished_run(tmp_path / "cifar", {"pretrain": DONE},
                          ["python", "-m", "drac_ssl.train", "-c", "configs/cifar10.yaml"], cwd=str(Path.cwd()))
    (run / "config.yaml").write_text("data:\n  dataset: cifar10\nrun:\n  stages: [pretrain]\n")
    images = tmp_path / "graded"  # a folder of its own: --out outside it
    images.mkdir()
    capsys.readouterr()
    assert export.main([str(run), "--images", str(images), "--out", str(tmp_path / "x.csv")]) == 2
    err = capsys.readouterr().err
    assert "a pretraining run of data.dataset=cifar10" in err and "run.stages" not in err, err
    assert "fix: evaluate its backbone with k-NN / linear probes" in err, err


def test_the_recorded_command_keeps_its_words_for_the_resume_command(monkeypatch: pytest.MonkeyPatch) -> None:
    """The run's records keep the command word by word (``argv``), and its line is quoted for
    the shell: a data.root with a space was written unquoted, so the command could not be run
    again as recorded."""
    from drac_ssl import runtime, starting

    monkeypatch.setattr(sys, "argv", ["train.py", "-c", "configs/drac.yaml", "data.root=/data/DRAC 2022"])
    assert runtime.command_argv()[-3:] == ["-c", "configs/drac.yaml", "data.root=/data/DRAC 2022"]
    assert runtime.command_line().endswith(" -c configs/drac.yaml 'data.root=/data/DRAC 2022'")
    assert shlex.split(runtime.command_line())[1:] == runtime.command_argv()[1:]
    # words the shell reads as syntax are quoted too (a review: data.root=/data/R&D/DRAC ran
    # data.root=/data/R in the background, data.root=/data/drac(1) was a syntax error)
    odd = ["data.root=/data/R&D/DRAC", "data.root=/data/drac(1)", "run.name=a;b", "data.root=/x|y",
           "data.root=/a<b>", "run.name=#1", "data.root=/d/{a,b}", "run.stages=[ingest,pretrain]"]
    monkeypatch.setattr(sys, "argv", ["train.py", *odd])
    line = runtime.command_line()
    assert "run.stages=[ingest,pretrain]" in line.split(" ")  # the package's fixes stay readable
    words = subprocess.run(["bash", "-c", f'printf "%s\\n" {line.partition(" ")[2]}'],
                           capture_output=True, text=True, check=True).stdout.splitlines()
    assert words == runtime.command_argv()[1:], (line, words)
    # the interpreter as it ran, not a bare python that without an active venv is another one
    monkeypatch.setattr(starting.shutil, "which", lambda name: None)
    assert runtime.command_argv()[0] in (os.path.relpath(sys.executable), sys.executable)
    assert Path(runtime.command_argv()[0]).resolve() == Path(sys.executable).resolve()
    monkeypatch.setattr(starting.shutil, "which", lambda name: sys.executable)
    assert runtime.command_argv()[0] == "python"


def test_a_run_that_did_not_ask_for_export_gets_its_command_with_the_stages_up_to_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A run of run.stages=[ingest,pretrain], all done: export RUN says its run.stages leave
    export out, and its own command with run.stages replaced (not given twice) up to export."""
    run = _unfinished_run(tmp_path / "pre", {"ingest": DONE, "pretrain": DONE},
                          ["python", "-m", "drac_ssl.train", "run.stages=[ingest,pretrain]", "run.name=pre"],
                          cwd=str(Path.cwd()))
    (run / "config.yaml").write_text("run:\n  stages: [ingest, pretrain]\n")
    images = tmp_path / "graded"  # a folder of its own: --out outside it
    images.mkdir()
    capsys.readouterr()
    assert export.main([str(run), "--images", str(images), "--out", str(tmp_path / "x.csv")]) == 2
    err = capsys.readouterr().err
    assert err == (f"error: {run}: a run folder with no model bundle (bundle/) yet: its run.stages "
                   f"(ingest,pretrain) do not include export; done: ingest, pretrain.\n  fix: finish the "
                   f"run with its own command (it resumes where it stopped; finished stages are "
                   f"skipped): python -m drac_ssl.train run.name=pre "
                   f"run.stages=[ingest,pretrain,umm,finetune,export]; then rerun this command\n"), err


def test_the_export_stage_says_its_grading_progress_off_a_terminal_and_chunks_change_nothing(
        exported_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A carried review item: the export stage graded every test image in one call, without a
    bar or a line, the stage's longest silence in a log. It grades PREDICT_CHUNK at a time
    now, with the command line's progress rule; each image's figures are its own, so the
    submission is the same byte for byte."""
    from drac_ssl import console

    run = tmp_path / "run"
    shutil.copytree(exported_run, run)
    monkeypatch.setattr(export, "PREDICT_CHUNK", 4)  # the 6 test images in two chunks
    monkeypatch.setattr(console, "progress_clock", StepClock(61.0))
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    capsys.readouterr()
    export.run(tiny_config(), run)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("[export] ")]
    assert lines[0].startswith("[export] 4 of 6 test images graded ("), lines
    assert lines[-1].startswith("[export] 6 of 6 test images graded ("), lines
    assert (run / "export" / "submission.csv").read_bytes() == (exported_run / "export" / "submission.csv").read_bytes()
    summary = (run / "export" / "summary.json").read_text().replace(str(run), str(exported_run))
    assert summary == (exported_run / "export" / "summary.json").read_text()


def test_a_trial_runs_bundle_says_its_unlike_the_training_images_check_is_unreliable(exported_run: Path) -> None:
    """A new user's trial bundle of RetinaMNIST let all 30 APTOS photographs through its
    "unlike the training images" check while metadata.json said "weak": false and the app said
    nothing. A trial run's bundle (this one: pretrain.max_steps_per_epoch=1) records the check
    weak with its reasons, load_bundle reads it so (a trial bundle built before, too), and the
    caveat of every grade (the app's, the export's) says the check is unreliable; a bundle of a
    full run, or one without the trial-run record, reads as before."""
    meta = json.loads((exported_run / "bundle" / "metadata.json").read_text())
    assert meta["trial_run"]["trial"] is True
    profile_meta = meta["input_profile"]
    assert profile_meta["weak"] and profile_meta["weak_reasons"] == ["few_images", "trial_run"]
    assert "the model it measures with is a trial run's" in profile_meta["caveat"]
    unreliable = ("Its check for images unlike the training images is unreliable for this bundle: an "
                  "image it does not flag may still be of another kind.")
    assert unreliable in bundles.grade_caveats(meta) and unreliable in bundles.caveat_line(meta)
    loaded = export.load_bundle(exported_run)
    assert loaded.input_profile is not None and loaded.input_profile.trial_run and loaded.input_profile.weak
    # enough images and a full run: no caveat; a trial bundle built before "weak" counted the trial: said
    full = {**meta, "trial_run": {"trial": False}, "input_profile": {**profile_meta, "weak": False}}
    assert unreliable not in bundles.grade_caveats(full)
    assert bundles.with_trial_run(loaded.input_profile, full) is loaded.input_profile
    older = {**full, "trial_run": meta["trial_run"]}
    assert unreliable in bundles.grade_caveats(older)
    unknown = {k: v for k, v in full.items() if k != "trial_run"}  # built before the record: unknown
    assert bundles.grade_caveats(unknown) == []
    assert bundles.grade_caveats({**older, "input_profile": {"file": None, "why": "no cache"}}) == [
        bundles.grade_caveats(older)[0]]  # no check at all: said apart, not as an unreliable one


def test_graded_training_images_are_said_by_the_export_and_by_score(
        exported_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A new user's trial (F2): grading the model's own training images and scoring them printed
    the scores without a word. The bundle lists its training images' SHA-256 (compact, in
    metadata.json: a standalone bundle can tell); the export says "N of M images were used to
    train this model" in its last line and the notes file, and --score says it from that notes
    file, or from RUN with --images; a bundle built before the list says nothing."""
    meta = json.loads((exported_run / "bundle" / "metadata.json").read_text())
    assert meta["training_images"]["images"] == 30
    folder = tmp_path / "mine"
    folder.mkdir()
    test_image = sorted((exported_run / "images" / "test").iterdir())[0]
    for path in (exported_run / "images" / "train" / "001.png", exported_run / "images" / "train" / "002.png",
                 test_image):
        shutil.copy(path, folder / path.name)
    out_csv = tmp_path / "g.csv"
    capsys.readouterr()
    assert export.main([str(exported_run), "--images", str(folder), "--out", str(out_csv)]) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    said = ("2 of 3 images were used to train this model (same SHA-256): scores on them are not a test; "
            "exact copies (same decoded pixels) only; re-encoded or resized copies are not detected")
    assert last.startswith(f"NOTE: {said}") and str(tmp_path / "g_notes.csv") in last
    notes = {r["case"]: r["training_image"] for r in csv.DictReader((tmp_path / "g_notes.csv").open(encoding="utf-8-sig"))}
    assert notes == {"001.png": "yes (same SHA-256)", "002.png": "yes (same SHA-256)", test_image.name: ""}
    labels = tmp_path / "labels.csv"
    labels.write_text(f"image,level\n001,0\n002,1\n{test_image.stem},2\n")
    score = ["--score", str(out_csv), "--labels", str(labels)]
    assert export.main(score) == 0
    assert f"warning: {said} ({tmp_path / 'g_notes.csv'})" in capsys.readouterr().err.splitlines()
    (tmp_path / "g_notes.csv").unlink()  # RUN and the graded files tell it too
    assert export.main([str(exported_run), *score, "--images", str(folder)]) == 0
    assert f"warning: {said} (the files of {folder}" in capsys.readouterr().err
    assert export.main([str(exported_run), *score]) == 0  # RUN without the files: how to tell
    assert "add --images DIR" in capsys.readouterr().err
    assert export.main([*score, "--images", str(folder)]) == 2  # --images alone tells nothing
    assert "--images goes with RUN under --score" in capsys.readouterr().err
    old = tmp_path / "old_bundle"  # built before the list: nothing said, no notes file
    shutil.copytree(exported_run / "bundle", old)
    del meta["training_images"]
    (old / "metadata.json").write_text(json.dumps(meta))
    assert export.main([str(old), "--images", str(folder), "--out", str(tmp_path / "o.csv")]) == 0
    assert "used to train" not in capsys.readouterr().out
    old_notes = tmp_path / "o_notes.csv"  # written, if at all, for its grade notes alone, and its
    # training_image cells say that it cannot be told, not "no" (a review: they were left empty)
    assert not old_notes.exists() or {r["training_image"] for r in csv.DictReader(old_notes.open(encoding="utf-8-sig"))} == {"unknown"}
    assert export.main([str(old), *score, "--images", str(folder)]) == 0
    assert "used to train" not in capsys.readouterr().err


def test_a_tie_is_said_as_a_tie_by_the_export_for_a_bundle_that_recorded_highest() -> None:
    """A new user's trial (F6): every variant at QWK 0.000 and two tied on AUC too, the export
    said the variant was chosen by the "highest out-of-fold QWK". A bundle built before the tie
    words is said again from its comparison rows."""
    rows = [{"variant": "scratch", "qwk": 0.0, "auc": 0.536}, {"variant": "vicreg", "qwk": 0.0, "auc": 0.544},
            {"variant": "vicreg_umm", "qwk": 0.0, "auc": 0.544}]
    meta = {"variant": "vicreg_umm", "comparison": rows, "cv_metrics": {"decision": "thresholds"},
            "selection": "highest out-of-fold QWK (finetune.decision=thresholds; a tie goes to the higher "
                         "AUC one-vs-one, as DRAC breaks ties, then to vicreg_umm, vicreg, scratch in that "
                         "order); not shown better than scratch"}
    words = export._variant_words(Path("/x/bundle"), meta, named=False)
    assert "highest" not in words
    assert ("tied on out-of-fold QWK (0.000, with scratch and vicreg) and AUC one-vs-one (0.544, with "
            "vicreg); chosen by the tie-break order vicreg_umm, vicreg, scratch, by the figures of") in words
    rows[2]["qwk"] = 0.1  # a lead: the recorded words, as before
    assert "the one the run selected, highest out-of-fold QWK, as " in export._variant_words(
        Path("/x/bundle"), meta, named=False)


def test_a_bundle_built_from_a_summary_that_called_a_tie_highest_says_the_tie_in_its_model_card(
        exported_run: Path, tmp_path: Path) -> None:
    """F6 of the trial, the model card's first lines: a summary written before the tie words
    (selection "highest out-of-fold QWK" of variants tied on QWK and AUC) builds a bundle whose
    metadata and model card say the tie and the order that broke it."""
    run = _two_variant_run(exported_run, tmp_path)
    summary = json.loads((run / "finetune" / "summary.json").read_text())
    figures = {"qwk": 0.0, "auc": 0.5, "auc_ovr": 0.5, "accuracy": 0.3}
    summary.update(variants={"scratch": figures, "vicreg": figures}, decision="thresholds", selected="vicreg",
                   selection_evidence="not shown better than scratch")
    (run / "finetune" / "summary.json").write_text(json.dumps(summary))
    bundle = bundles.build_bundle(run)
    meta = json.loads((bundle / "metadata.json").read_text())
    tie = ("tied on out-of-fold QWK (0.000, with scratch) and AUC one-vs-one (0.500, with scratch); "
           "chosen by the tie-break order vicreg_umm, vicreg, scratch")
    assert meta["variant"] == "vicreg" and meta["selection"].startswith(tie)
    assert meta["selection"].endswith("; not shown better than scratch")
    assert tie in (bundle / "MODEL_CARD.md").read_text() and "highest" not in meta["selection"]


def test_a_damaged_variant_bundle_is_rebuilt_by_the_command_its_refusal_advises(
        exported_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Review F2: a weights file of RUN/bundles/NAME replaced after the build was "reused" (only
    the fine-tuning outputs and the files' presence were compared), then refused by the hash
    check, whose fix (``export RUN --variant NAME``) reused it again: a loop. Now rebuilt."""
    run = _two_variant_run(exported_run, tmp_path)
    assert export.main([str(run), "--variant", "vicreg"]) == 0
    bundle_dir = run / "bundles" / "vicreg"
    meta = json.loads((bundle_dir / "metadata.json").read_text())
    names = [w for f in meta["folds"] for w in f["weights"]]
    victim, other = names[-1], next(w for w in names if w != names[-1])
    assert bundles.reusable_bundle(run, "vicreg") == bundle_dir  # intact: reused
    (bundle_dir / victim).unlink()  # replaced by another file (a new inode, another content)
    shutil.copyfile(bundle_dir / other, bundle_dir / victim)
    with pytest.raises(bundles.BundleError) as caught:
        export.load_bundle(bundle_dir)
    advice = str(caught.value)
    assert "--variant vicreg" in advice and "not the ones" in advice
    assert bundles.reusable_bundle(run, "vicreg") is None  # damaged: would be rebuilt
    capsys.readouterr()
    assert export.main([str(run), "--variant", "vicreg"]) == 0  # the advised command
    said = capsys.readouterr().out
    assert f"(vicreg, built from {run / 'finetune' / 'vicreg'})" in said and "reused" not in said, said
    assert len(export.load_bundle(bundle_dir).models) == len(meta["folds"])
    assert bundles.reusable_bundle(run, "vicreg") == bundle_dir


def test_list_images_and_the_submission_put_2_png_before_10_png(tmp_path: Path) -> None:
    """Natural order, not string order: ``export.list_images`` (mutation O02) and the case
    column that ``export --images`` writes (mutation O03) list 2.png before 10.png."""
    from png_bytes import walk_scan

    from app.demo_bundle import build_demo_bundle

    images = tmp_path / "imgs"
    images.mkdir()
    for seed, name in enumerate(("10.png", "2.png")):
        cv2.imwrite(str(images / name), walk_scan(64, seed))
    assert [p.name for p in export.list_images(images)] == ["2.png", "10.png"]
    bundle_dir = build_demo_bundle(tmp_path / "run", image_size=32, source_size=48, n_folds=2)
    assert export.main([str(bundle_dir), "--images", str(images), "--out", str(tmp_path / "s.csv")]) == 0
    with (tmp_path / "s.csv").open(newline="") as f:
        assert [row[0] for row in csv.reader(f)][1:] == ["2.png", "10.png"]


def test_the_runs_own_export_records_its_command_without_the_folders_above(
        exported_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Catches a stage export (export RUN --variant NAME) recording its command line whole: the
    sidecar travels with the submission, so each path in it is cut to its last component (as
    --images does), never the run's full path (a user's, a patient's folder name)."""
    run = _two_variant_run(exported_run, tmp_path)
    monkeypatch.setattr(sys, "argv", [str(Path(export.__file__)), str(run), "--variant", "vicreg"])
    assert export.main([str(run), "--variant", "vicreg"]) in (0, export.EXIT_FLAGGED)
    [sidecar] = (run / "export").glob("submission_vicreg_provenance.json")
    command = json.loads(sidecar.read_text(encoding="utf-8"))["command"]
    assert str(tmp_path) not in command and str(Path(export.__file__).parent) not in command, command
    assert f" {run.name} --variant vicreg" in command, command


def test_a_failed_stage_export_removes_the_earlier_grading_record_with_the_earlier_submission(
        exported_run: Path, tmp_path: Path) -> None:
    """Catches a stale submission_provenance.json kept when the stage's export fails its check:
    the earlier submission.csv and summary go, and the record naming their model must go too
    (else it describes whatever CSV is put there next)."""
    run = tmp_path / "run"
    shutil.copytree(exported_run, run, ignore=shutil.ignore_patterns("bundles"))
    sidecar = run / "export" / "submission_provenance.json"
    assert sidecar.is_file()  # the earlier export's
    manifest = run / "data" / "manifest.csv"
    lines = manifest.read_text().splitlines(keepends=True)  # one test row lost: a case missing
    tests = [ln for ln in lines[1:] if ",test," in ln]
    manifest.write_text("".join([lines[0]] + [ln for ln in lines[1:] if ",test," not in ln] + tests[1:]))
    with pytest.raises(bundles.BundleError):
        export.run(tiny_config(), run)
    assert not (run / "export" / "submission.csv").exists()
    assert not sidecar.exists()
