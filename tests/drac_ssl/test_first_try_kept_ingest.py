"""Data settings an ingest that a run does not run again keeps (trial finding F1): after
``python -m data_prep ingest --out RUN/data`` (5 folds), ``python -m drac_ssl.train --first-try
run.stages=[pretrain,umm,finetune,export]`` said it applied ``data.n_folds=2`` and recorded it
in config.yaml while the fine-tuning read the manifest's 5 folds. Now the preflight says which
setting is not applied, why and the fix, and the run's records hold the ingest's values
(:func:`drac_ssl.preflight.pinned_to_ingest`)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from data_prep.__main__ import main as data_prep_main
from drac_ssl import preflight, run_state, train
from drac_ssl.config import load_config, read_yaml, save_config, to_dict
from drac_ssl.stage_settings import edited_config_words
from drac_ssl.trial_run import (
    FIRST_TRY_KEY,
    FIRST_TRY_OPTION,
    first_try_overrides,
    first_try_settings,
)


def _ingested(tmp_path: Path, sizes: str = "128") -> Path:
    """A run folder ``runs/mine`` holding only a standalone ingest (5 folds, a 128 px cache, or
    ``sizes``) of 25 colour photographs, ICDR grades 0..4 in turn, as docs/data.md makes one."""
    import cv2
    import numpy as np

    photos = tmp_path / "photos"
    photos.mkdir()
    rows = []
    for i in range(25):
        image = np.random.default_rng(i).integers(0, 255, (96, 96, 3), dtype=np.uint8)
        cv2.imwrite(str(photos / f"eye_{i:03d}.png"), image)
        rows.append(f"eye_{i:03d}.png,{i % 5}")
    (photos / "labels.csv").write_text("image name,DR grade\n" + "\n".join(rows) + "\n")
    run_dir = tmp_path / "runs" / "mine"
    assert data_prep_main(["ingest", "--root", str(photos), "--out", str(run_dir / "data"), "--cache-sizes", sizes,
                           "--grades", "icdr", "--workers", "1"]) == 0
    return run_dir


def test_first_try_without_the_ingest_says_and_records_the_folds_it_uses(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    run_dir = _ingested(tmp_path)
    capsys.readouterr()
    monkeypatch.setattr(train, "_run_stages", lambda *args, **kwargs: None)  # the records, not the training
    argv = ["-c", "fundus", FIRST_TRY_OPTION, f"run.out_dir={run_dir.parent}", "run.name=mine",
            "run.stages=[pretrain,umm,finetune,export]"]
    assert train.main(argv) == 0, capsys.readouterr().err
    said = " ".join(capsys.readouterr().out.split())
    assert "data.n_folds=2 not applied: the run's ingest is not run again, its own value is used" in said
    assert "data.n_folds" not in said.split(f"{FIRST_TRY_OPTION} applied ")[1].split(" (")[0]  # not among those
    assert (f"data.n_folds=2 (command line '{FIRST_TRY_OPTION}'): not applied: run.stages has no ingest, so the "
            f"stages read the ingest already in {run_dir / 'data'}, made with data.n_folds=5") in said
    assert ("fix: to apply data.n_folds=2, run the ingest with it, in a new run folder: "
            "run.stages=[ingest,pretrain,umm,finetune,export] data.root=") in said
    text = (run_dir / "config.yaml").read_text(encoding="utf-8")
    assert read_yaml(text)["data"]["n_folds"] == 5  # what the fine-tuning reads, not 2
    assert "data.n_folds=2 not applied" in text.splitlines()[1]
    (line,) = [json.loads(x) for x in (run_dir / "invocations.jsonl").read_text().splitlines()]
    assert line[FIRST_TRY_KEY]["not_applied"] == ["data.n_folds=2"]
    assert "data.n_folds=2" not in line[FIRST_TRY_KEY]["applied"]
    # the same command again resumes it: the saved config is the pinned one, nothing differs
    assert train.main(argv) == 0, capsys.readouterr().err
    assert "made with a different configuration" not in capsys.readouterr().err


def test_each_ingest_only_setting_typed_otherwise_is_said_and_the_ingests_kept(tmp_path: Path) -> None:
    """Typed settings: the cache sizes, the scale, the channels and the folds' seed are the
    ingest's too; each is said with "or leave it out"; equal values (the scale by name) and
    an ``auto`` channel setting are not; a run that runs the ingest applies them all."""
    run_dir = _ingested(tmp_path)
    stages = "run.stages=[pretrain,umm,finetune,export]"
    cfg = load_config("fundus", [stages, "data.cache_sizes=[64]", "data.grades=[a,b,c,d,e]", "data.channels=1",
                                 "data.fold_seed=3", "data.n_folds=5"])
    assert set(preflight.ingest_kept_settings(cfg, run_dir)) == {
        "data.cache_sizes", "data.grades", "data.channels", "data.fold_seed", "data.root"}
    typed = ["data.cache_sizes=[64]", "data.grades=[a,b,c,d,e]", "data.channels=1", "data.fold_seed=3"]
    _, sources, _ = preflight.read_config("fundus", [stages, *typed])
    pinned, findings = preflight.pinned_to_ingest(cfg, run_dir, sources)
    assert (pinned.data.cache_sizes, pinned.data.grades, pinned.data.channels, pinned.data.fold_seed) == (
        [128], ["icdr"], "", 0)  # the ingest's own settings
    # fundus.yaml's data.root is empty (names nothing): the ingest's folder, taken without a word
    assert pinned.data.root == str(tmp_path / "photos") and "data.root" not in {f.setting for f in findings}
    assert all(f.severity == "warning" and "not applied: run.stages has no ingest" in f.what
               and f.fix.endswith(f"or leave {f.setting} out of your command") for f in findings), [f.line for f in findings]
    # a value of the -c file (fundus.yaml's 256 and 512 px cache), not typed: the fix gives the
    # ingest's value, not "left out"
    (finding,) = preflight.pinned_to_ingest(load_config("fundus", [stages]), run_dir,
                                            preflight.read_config("fundus", [stages])[1])[1]
    assert finding.setting == "data.cache_sizes" and finding.value == [256, 512], finding.line
    assert finding.fix.endswith("; or give the ingest's, data.cache_sizes=[128], to say no more"), finding.fix
    same = load_config("fundus", [stages, "data.cache_sizes=[128]", "data.grades=[No DR, Mild, Moderate, Severe, PDR]"])
    assert set(preflight.ingest_kept_settings(same, run_dir)) == {"data.root"}  # fundus.yaml names none
    assert preflight.ingest_kept_settings(load_config("fundus", ["data.n_folds=2"]), run_dir) == {}


STAGES = "run.stages=[pretrain,umm,finetune,export]"


def _argv(run_dir: Path, *words: str) -> list[str]:
    """``python -m drac_ssl.train -c fundus`` on ``run_dir`` without the ingest, and ``words``;
    without ``--first-try``, with the batches and views the 25 images and 128 px cache take."""
    fits = [] if FIRST_TRY_OPTION in words else [
        "pretrain.batch_size=16", "umm.batch_size=16", "pretrain.augment.source_size=128",
        "pretrain.augment.image_size=64", "finetune.image_size=64"]
    return ["-c", "fundus", f"run.out_dir={run_dir.parent}", f"run.name={run_dir.name}", STAGES, *fits, *words]


def _made_before(run_dir: Path, argv: list[str]) -> None:
    """``run_dir/config.yaml`` as a run made before the ingest's values were recorded wrote it:
    the configuration as given (``--first-try``'s too), values the ingest never applied and all."""
    words = [w for w in argv[2:] if w != FIRST_TRY_OPTION]
    cfg, _, _ = preflight.read_config(argv[1], words, first_try_overrides if FIRST_TRY_OPTION in argv else None)
    save_config(cfg, run_dir / "config.yaml")


def _no_training(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(train, "_run_stages", lambda *args, **kwargs: None)  # the records, not the training


def test_a_folder_made_before_with_a_value_never_applied_resumes_and_its_config_is_rewritten(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Review F1: config.yaml of a folder made before held fundus.yaml's ``data.cache_sizes:
    [256, 512]`` over a 128 px ingest; the same command, its settings now taken as the
    ingest's, was refused ("data.cache_sizes: [256, 512] -> [128]") and so was the fix it
    offered (``-c RUN/config.yaml``): the pretraining was lost. Both sides are compared as the
    ingest applied them, and config.yaml is rewritten with the ingest's values, with a note."""
    run_dir = _ingested(tmp_path)
    _no_training(monkeypatch)
    argv = _argv(run_dir)
    _made_before(run_dir, argv)
    assert read_yaml((run_dir / "config.yaml").read_text(encoding="utf-8"))["data"]["cache_sizes"] == [256, 512]
    capsys.readouterr()
    assert train.main(argv) == 0, capsys.readouterr().err
    said = " ".join(capsys.readouterr().out.split())
    assert (f"[train] note: {run_dir / 'config.yaml'} recorded "
            f"data.cache_sizes=[256, 512] (the ingest's [128]), which the ingest in {run_dir / 'data'} never "
            f"applied: rewritten with the ingest's values, the ones the stages used") in said, said
    assert "data.root=''" not in said  # left empty, it named nothing: no value "never applied"
    assert read_yaml((run_dir / "config.yaml").read_text(encoding="utf-8"))["data"]["cache_sizes"] == [128]
    assert train.main(argv) == 0, capsys.readouterr().err  # and again: nothing left to note
    assert "never applied" not in capsys.readouterr().out
    assert train.main(["-c", str(run_dir / "config.yaml")]) == 0, capsys.readouterr().err  # the saved config too


def test_an_empty_data_root_of_a_folder_made_before_is_no_value_never_applied(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Second review F1: docs/data.md's flow (a standalone ingest, then a config whose
    ``data.root`` is empty) made on older code left ``root: ''`` in config.yaml; resuming it
    said ``data.root='' ... never applied`` and rewrote the file. An empty root names nothing:
    no note when it is the only such setting."""
    run_dir = _ingested(tmp_path)
    _no_training(monkeypatch)
    argv = _argv(run_dir, "data.cache_sizes=[128]")
    _made_before(run_dir, argv)
    assert read_yaml((run_dir / "config.yaml").read_text(encoding="utf-8"))["data"]["root"] == ""
    capsys.readouterr()
    assert train.main(argv) == 0, capsys.readouterr().err
    assert "never applied" not in capsys.readouterr().out


def test_a_first_try_folder_made_before_resumes_with_first_try(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Review F1: a ``--first-try`` folder made before (``n_folds: 2`` in config.yaml, the
    manifest's 5) was refused "2 -> 5 ... an earlier --first-try of another configuration",
    and the fix offered was the command refused."""
    run_dir = _ingested(tmp_path)
    _no_training(monkeypatch)
    argv = _argv(run_dir, FIRST_TRY_OPTION)
    _made_before(run_dir, argv)
    assert read_yaml((run_dir / "config.yaml").read_text(encoding="utf-8"))["data"]["n_folds"] == 2
    (run_dir / "invocations.jsonl").write_text(json.dumps(  # its record, as it was written then
        {"tool": "drac_ssl.train", FIRST_TRY_KEY: {"applied": ["data.n_folds=2", "pretrain.epochs=1"],
                                                    "replaced": [], "kept": []}}) + "\n")
    capsys.readouterr()
    assert train.main(argv) == 0, capsys.readouterr().err
    said = " ".join(capsys.readouterr().out.split())
    assert "recorded data.n_folds=2 (the ingest's 5)" in said and "data.root=''" not in said, said
    text = (run_dir / "config.yaml").read_text(encoding="utf-8")
    assert read_yaml(text)["data"]["n_folds"] == 5 and FIRST_TRY_OPTION in text.splitlines()[1]


def test_a_stage_record_of_a_value_never_applied_is_no_edit_of_config_yaml(tmp_path: Path) -> None:
    """Review F1: a stage of such a folder saved the value given (fundus.yaml's 256 and 512 px
    cache) beside the 128 px ingest it read; config.yaml rewritten with the ingest's values is
    no edit of what the stages ran with (the resume would refuse it), a real edit still is."""
    run_dir = _ingested(tmp_path)
    given = load_config("fundus", [STAGES])
    (run_dir / "pretrain").mkdir()
    (run_dir / "pretrain" / "metadata.json").write_text(json.dumps({"config": to_dict(given)}))
    (run_dir / "stages.json").write_text(json.dumps({"pretrain": {"status": "done"}}))
    pinned = preflight.pinned_to_ingest(given, run_dir)[0]
    assert pinned.data.cache_sizes == [128]
    assert edited_config_words(run_dir, to_dict(pinned)) == ""
    edited = dataclasses.replace(pinned, pretrain=dataclasses.replace(pinned.pretrain, lr=pinned.pretrain.lr * 2))
    words = edited_config_words(run_dir, to_dict(edited))
    assert "does not say what the stages ran with" in words
    # the rerun resumes the folder in place from any folder: absolute paths, as the other fixes
    assert f"rerun with it: {run_state.resume_in_place_command(run_dir)}" in words, words
    # taken from another run: its values are that run's ingest's, compared as given
    (run_dir / "stages.json").write_text(json.dumps({"pretrain": {"status": "done", "reused_from": "runs/x"}}))
    assert "data.cache_sizes" in edited_config_words(run_dir, to_dict(pinned))


def test_a_data_setting_typed_over_a_standalone_ingest_is_not_applied_and_a_changed_one_on_resume_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Review F3: a new run folder over a standalone ingest warns that ``data.n_folds=3`` is
    not applied and resumes with the same command (the value recorded as given); another
    value on the resume is a changed data setting, refused as it was before."""
    run_dir = _ingested(tmp_path)
    _no_training(monkeypatch)
    capsys.readouterr()
    argv = _argv(run_dir, "data.n_folds=3", "data.cache_sizes=[128]")
    assert train.main(argv) == 0, capsys.readouterr().err
    said = " ".join(capsys.readouterr().out.split())
    assert "data.n_folds=3 (command line 'data.n_folds=3'): not applied: run.stages has no ingest" in said, said
    assert read_yaml((run_dir / "config.yaml").read_text(encoding="utf-8"))["data"]["n_folds"] == 5
    (line,) = [json.loads(x) for x in (run_dir / "invocations.jsonl").read_text().splitlines()]
    assert line[preflight.NOT_APPLIED_KEY] == {"data.n_folds": 3}
    assert train.main(argv) == 0, capsys.readouterr().err  # the same command resumes
    capsys.readouterr()
    assert train.main(_argv(run_dir, "data.n_folds=4", "data.cache_sizes=[128]")) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "made with a different configuration: data.n_folds: 5 -> 4" in err, err


def test_a_data_setting_changed_on_a_folder_whose_own_ingest_ran_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Review F3: on a folder whose config.yaml says the ingest's 5 folds (its own ingest ran),
    ``data.n_folds=3`` typed with ``run.stages`` without the ingest was said "not applied" and
    run; it is a changed data setting on a resume, refused as before."""
    run_dir = _ingested(tmp_path)
    _no_training(monkeypatch)
    own = load_config("fundus", [f"data.root={tmp_path / 'photos'}", "data.cache_sizes=[128]", "data.grades=icdr",
                                 f"run.out_dir={run_dir.parent}", f"run.name={run_dir.name}"])
    save_config(own, run_dir / "config.yaml")  # as its full run wrote it, the ingest among its stages
    (run_dir / "stages.json").write_text(json.dumps({"ingest": {"status": "done"}}))
    capsys.readouterr()
    assert train.main(_argv(run_dir, f"data.root={tmp_path / 'photos'}", "data.cache_sizes=[128]", "data.n_folds=3")) == 2
    said = capsys.readouterr()
    err = " ".join(said.err.split())
    assert "made with a different configuration: data.n_folds: 5 -> 3" in err, err
    assert "data.n_folds=3 (command line 'data.n_folds=3'): not applied" not in err + said.out


def test_data_root_and_the_discovery_settings_given_otherwise_are_not_applied(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Review F2: ``data.root`` of another data set (and a label column, the layout, the
    ungradable rule) typed on a run folder whose ingest is not run again was silently
    ignored, config.yaml recording it. Each is now said not applied and recorded as the
    ingest's; the same folder named another way (relative, through a link) is no difference."""
    run_dir = _ingested(tmp_path)
    photos, other = tmp_path / "photos", tmp_path / "other"
    other.mkdir()
    typed = [f"data.root={other}", "data.image_column=file", "data.layout=aptos", "data.ungradable=leave_out",
             "data.cache_sizes=[128]"]
    cfg, sources, _ = preflight.read_config("fundus", [STAGES, *typed])
    pinned, findings = preflight.pinned_to_ingest(cfg, run_dir, sources)
    assert {f.setting for f in findings} == {"data.root", "data.image_column", "data.layout", "data.ungradable"}
    assert (pinned.data.root, pinned.data.image_column, pinned.data.layout, pinned.data.ungradable) == (
        str(photos), "image name", "plain", "error")
    (root,) = [f for f in findings if f.setting == "data.root"]
    assert f"made with data.root={photos}; this run uses that" in root.what
    assert root.fix.endswith("run.stages=[ingest,pretrain,umm,finetune,export] run.name=<a new name>; "
                             "or leave data.root out of your command"), root.fix
    monkeypatch.chdir(tmp_path)
    (tmp_path / "link").symlink_to(photos)
    for same in ("photos", "./photos/", "link", str(photos)):
        cfg = load_config("fundus", [STAGES, f"data.root={same}", "data.cache_sizes=[128]",
                                     f"data.labels_csv={photos / 'labels.csv'}", "data.image_column=image name"])
        assert preflight.ingest_kept_settings(cfg, run_dir) == {}, same
    _no_training(monkeypatch)
    capsys.readouterr()
    assert train.main(_argv(run_dir, f"data.root={other}", "data.cache_sizes=[128]")) == 0, capsys.readouterr().err
    assert f"data.root={other} (command line 'data.root={other}'): not applied" in " ".join(
        capsys.readouterr().out.split())
    assert read_yaml((run_dir / "config.yaml").read_text(encoding="utf-8"))["data"]["root"] == str(photos)


def test_an_auto_value_the_ingest_resolved_is_said_with_what_it_resolved_to(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Review F5: the ingest's ``data.channels`` was shown as ``''`` alone; it is ``'' (auto:
    3, RGB)`` in the warning and in config.yaml's comment line."""
    run_dir = _ingested(tmp_path)
    _no_training(monkeypatch)
    capsys.readouterr()
    assert train.main(_argv(run_dir, "data.channels=1", "data.cache_sizes=[128]")) == 0, capsys.readouterr().err
    said = " ".join(capsys.readouterr().out.split())
    assert "made with data.channels='' (auto: 3, RGB); this run uses that" in said, said
    comment = (run_dir / "config.yaml").read_text(encoding="utf-8").splitlines()[1]
    assert comment == (f"# not applied (run.stages has no ingest; the stages read the ingest in {run_dir / 'data'}): "
                       f"data.channels=1 given, '' (auto: 3, RGB) used"), comment
    summary = {"grades": {"names": ["No DR", "Mild"]}, "channels": {"value": 1}}
    assert preflight.shown_as_ingested("data.grades", [], summary) == "[] (the layout's: No DR, Mild)"
    assert preflight.shown_as_ingested("data.channels", "auto", summary) == "auto (auto: 1, grey)"
    assert preflight.shown_as_ingested("data.channels", "3", summary) == "3"


def test_first_try_cuts_its_views_from_a_size_the_kept_ingest_cached(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Review F4: over a standalone ingest of 256 and 512 px, ``--first-try`` said its 128 px
    cache not applied but applied ``pretrain.augment.source_size=128``, then refused it as not
    a cached size. Its sizes are worked out from the ingest's cache."""
    fundus = load_config("fundus")
    assert "pretrain.augment.source_size=256" in first_try_settings(fundus, cached=[256, 512])
    assert "pretrain.augment.source_size=128" in first_try_settings(fundus, cached=[512, 128])
    words = first_try_settings(fundus, cached=[32])
    assert {"pretrain.augment.source_size=32", "pretrain.augment.image_size=32", "finetune.image_size=32"} <= set(words)
    assert first_try_settings(fundus) == first_try_settings(fundus, cached=())
    run_dir = _ingested(tmp_path, "256,512")
    _no_training(monkeypatch)
    capsys.readouterr()
    assert train.main(_argv(run_dir, FIRST_TRY_OPTION)) == 0, capsys.readouterr().err
    said = " ".join(capsys.readouterr().out.split())
    assert "pretrain.augment.source_size=256" in said.split(f"{FIRST_TRY_OPTION} applied ")[1].split(" (")[0], said
    assert f"data.cache_sizes=[128] (command line '{FIRST_TRY_OPTION}'): not applied" in said, said
    assert "not a cached size" not in said
    saved = read_yaml((run_dir / "config.yaml").read_text(encoding="utf-8"))
    assert (saved["data"]["cache_sizes"], saved["pretrain"]["augment"]["source_size"]) == ([256, 512], 256)
