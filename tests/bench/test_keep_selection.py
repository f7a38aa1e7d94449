"""bench/keep_selection.py reads a fine-tuning stage's files into the figures it compares
(each rule minus keep=last, keep=inner's epochs and the images it trained on), parses
``--rules`` and names its result, and the README row says which rule each figure is under.
No fine-tuning runs here: the stage's files are written by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.common import REPO
from bench.keep_selection import (
    RULES,
    default_name,
    differences_from_last,
    inner_training_images,
    main,
    optimism,
    paired_differences,
    parse_rules,
    protocol_words,
    reuse_check,
    source_cwd,
    variant_figures,
)
from bench.summarize import keep_selection_rows


def _finetune_dir(root: Path, qwk: dict[str, float], kept: list[int], keep: str,
                  n_train: int = 100, taken: dict[str, list[int]] | None = None) -> Path:
    ft = root / keep / "finetune"
    rows = []
    for variant, q in qwk.items():
        (ft / variant).mkdir(parents=True)
        rows.append({"variant": variant, "qwk": q, "qwk_ci_low": q - 0.05, "qwk_ci_high": q + 0.05,
                     "auc": q + 0.1, "auc_ovr": q + 0.05, "accuracy": q - 0.01})
        folds = [{"best_epoch": e - 1, "epochs_run": 8, "n_train": n_train} for e in kept]
        if keep == "inner":  # metrics.json's fold rows under keep=inner (drac_ssl.finetune._per_fold_figures)
            folds = [{**f, "n_inner": 18, "best_inner_qwk_uncalibrated": 0.5 + k / 100,
                      "val_qwk_uncalibrated": 0.4 + k / 100} for k, f in enumerate(folds)]
        (ft / variant / "metrics.json").write_text(json.dumps({"folds": folds, "keep": keep,
                                                               "folds_taken_from": taken or {}}))
    diff = {"qwk": {"difference": qwk["vicreg"] - qwk["scratch"], "ci_low": 0.0, "ci_high": 0.2}}
    (ft / "comparison.json").write_text(json.dumps({"rows": rows, "pretrained_minus_scratch": {"vicreg": diff}}))
    return ft


def test_figures_per_variant_and_what_the_epoch_choice_added(tmp_path: Path) -> None:
    best = _finetune_dir(tmp_path, {"scratch": 0.67, "vicreg": 0.77}, [7, 6, 5, 8, 8], "best")
    last = _finetune_dir(tmp_path, {"scratch": 0.65, "vicreg": 0.765}, [8] * 5, "last")
    figures = {"best": variant_figures(best), "last": variant_figures(last)}
    assert figures["best"]["scratch"]["kept_epochs"] == [7, 6, 5, 8, 8]  # 1-based
    assert figures["last"]["vicreg"]["qwk_ci95"] == [0.765 - 0.05, 0.765 + 0.05]
    added = optimism(figures)
    assert abs(added["scratch"]["qwk"] - 0.02) < 1e-12 and abs(added["vicreg"]["qwk"] - 0.005) < 1e-12
    assert abs(added["vicreg"]["auc"] - 0.005) < 1e-12
    diffs = {"best": paired_differences(best), "last": paired_differences(last)}
    assert abs(diffs["best"]["vicreg"]["qwk"]["difference"] - 0.10) < 1e-12
    assert abs(diffs["last"]["vicreg"]["qwk"]["difference"] - 0.115) < 1e-12

    record = {"variants": figures, "pretrained_minus_scratch": diffs, "run_dir": "runs/default",
              "device": "CPU", "date_utc": "2026-12-04T00:00:00+00:00", "command": "python -m bench.keep_selection"}
    (row,) = keep_selection_rows(record)
    assert "scratch QWK 0.670 best / 0.650 last (+0.020)" in row
    assert "vicreg QWK 0.770 best / 0.765 last (+0.005)" in row
    assert "vicreg - scratch QWK +0.100 best / +0.115 last" in row
    assert "patience" not in row and "not retrained" not in row

    # review s51 R6: the row names the patience the best side ran under and which side is the
    # source run's own folds, not retrained by the code that trained the other
    reused = {rule: {v: {**f, "folds_taken_from": {"runs/default": [0, 1, 2, 3, 4]}} if rule == "best" else f
                     for v, f in by.items()} for rule, by in figures.items()}
    (row,) = keep_selection_rows({**record, "variants": reused, "config_finetune": {"patience": 4}})
    assert "keep=best with patience 4: the source run's own fine-tuned folds" in row, row
    assert "keep=last: retrained" in row

    # review s57r2 F6: one variant's folds taken made the whole rule "the source run's own ...,
    # not retrained"; only all of them do, else it is partly retrained, saying which
    partly = {**reused, "best": {**reused["best"], "vicreg": {
        **reused["best"]["vicreg"], "folds_taken_from": {"runs/default": [0, 1, 2]}}}}
    (row,) = keep_selection_rows({**record, "variants": partly, "config_finetune": {"patience": 4}})
    assert "not retrained" not in row, row
    assert ("keep=best with patience 4: partly retrained: vicreg (2 of 5 folds retrained), the other "
            "folds the source run's own") in row, row
    said = {"expected_but_retrained": ["vicreg (keep=best: 2 of 5 folds retrained)"]}
    (row,) = keep_selection_rows({**record, "variants": partly, "reuse": said})
    assert "keep=best: partly retrained: vicreg (keep=best: 2 of 5 folds retrained)" in row, row


def test_rules_parse_into_a_fixed_order_and_always_hold_last() -> None:
    assert parse_rules("best,last") == RULES == ("best", "last")  # the committed result's command
    assert parse_rules("last, inner") == ("inner", "last")
    assert parse_rules("last,inner,best,inner") == ("best", "inner", "last")
    for bad, words in (("last,early", r"unknown rule\(s\) early"), ("inner", "needs last"),
                       ("last", "needs last"), ("", "needs last")):
        with pytest.raises(ValueError, match=words):
            parse_rules(bad)


def test_the_default_name_keeps_the_committed_file_for_the_default_rules_only() -> None:
    assert default_name(("best", "last")) == "keep_selection"
    assert default_name(("inner", "last")) == "keep_selection_inner_last"
    assert default_name(("best", "inner", "last")) == "keep_selection_best_inner_last"
    assert default_name(("last", "inner")) == "keep_selection_inner_last"  # order given does not matter


def test_a_bad_rules_list_stops_before_anything_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--run-dir", str(tmp_path), "--rules", "inner"])
    assert stop.value.code == 2
    assert "needs last" in capsys.readouterr().err


def test_inner_against_last_its_chosen_epochs_and_the_images_it_trained_on(tmp_path: Path) -> None:
    inner = _finetune_dir(tmp_path, {"scratch": 0.64, "vicreg": 0.78}, [4, 6, 8, 5, 7], "inner", n_train=85)
    last = _finetune_dir(tmp_path, {"scratch": 0.65, "vicreg": 0.765}, [8] * 5, "last",
                         taken={"/runs/src": [0, 1, 2, 3, 4]})
    best = _finetune_dir(tmp_path, {"scratch": 0.67, "vicreg": 0.77}, [7, 6, 5, 8, 8], "best")
    figures = {"best": variant_figures(best), "inner": variant_figures(inner), "last": variant_figures(last)}
    f = figures["inner"]["vicreg"]
    assert f["kept_epochs"] == [4, 6, 8, 5, 7] and f["n_train"] == [85] * 5
    assert f["inner"]["inner_qwk_at_kept_epoch"] == [0.5, 0.51, 0.52, 0.53, 0.54]
    assert f["inner"]["val_qwk_uncalibrated"][1] == pytest.approx(0.41)
    assert f["inner"]["n_inner"] == [18] * 5
    assert "inner" not in figures["last"]["vicreg"]  # only keep=inner has an inner split

    minus = differences_from_last(figures)
    assert list(minus) == ["best", "inner"]  # each non-last rule, never last minus itself
    assert minus["inner"]["scratch"]["qwk"] == pytest.approx(-0.01)
    assert minus["inner"]["vicreg"]["auc_ovr"] == pytest.approx(0.015)
    assert minus["inner"]["vicreg"]["accuracy"] == pytest.approx(0.015)
    assert minus["best"] == optimism(figures)
    assert set(minus["inner"]["vicreg"]) == {"qwk", "auc", "auc_ovr", "accuracy"}

    cost = inner_training_images(figures, 0.15)
    assert cost["n_train_per_fold"] == {"inner": [85] * 5, "last": [100] * 5}
    assert cost["fewer_share"] == pytest.approx(0.15)
    assert "finetune.inner_fraction=0.15" in cost["words"] and "15.0% fewer" in cost["words"]
    assert inner_training_images({"last": figures["last"]}, 0.15) == {}

    # the run fine-tuned under keep=last: its folds taken, the inner ones trained here
    check = reuse_check({"inner": figures["inner"], "last": figures["last"]}, "last", [])
    assert check["folds"]["last"]["vicreg"] == "5 of 5 taken from the run"
    assert check["folds"]["inner"]["scratch"] == "0 of 5 taken from the run"
    assert check["expected_but_retrained"] == []
    retrained = reuse_check({"inner": figures["inner"]}, "inner", [])  # the run's rule, yet retrained
    assert retrained["expected_but_retrained"] == ["scratch (keep=inner: 5 of 5 folds retrained)",
                                                   "vicreg (keep=inner: 5 of 5 folds retrained)"]
    assert reuse_check({"inner": figures["inner"]}, "inner", ["finetune.lr=0.1"])["expected_but_retrained"] == []
    assert "finetune.keep=inner" in protocol_words(("inner", "last")) and "keep=best" not in protocol_words(("inner", "last"))

    diffs = {"inner": paired_differences(inner), "last": paired_differences(last)}
    record = {"variants": {"inner": figures["inner"], "last": figures["last"]}, "pretrained_minus_scratch": diffs,
              "run_dir": "runs/keep-inner-s57", "config_finetune": {"patience": 5, "inner_fraction": 0.15},
              "inner_training_images": cost, "device": "CPU", "date_utc": "2026-12-05T00:00:00+00:00",
              "command": "python -m bench.keep_selection --rules last,inner"}
    (row,) = keep_selection_rows(record)
    assert "chosen on an inner split of its training images (finetune.keep=inner) vs the last epoch" in row
    assert "scratch QWK 0.640 inner / 0.650 last (-0.010), accuracy -0.010, kept epoch mean 6.0 of 8" in row
    assert "vicreg - scratch QWK +0.140 inner / +0.115 last" in row
    assert "keep=inner with patience 5, inner_fraction 0.15 (15% fewer training images per fold): retrained" in row
    assert "keep=last: the source run's own fine-tuned folds (its code and settings), not retrained" in row
    assert "best" not in row


def test_the_fine_tunings_run_where_the_run_was_started_so_its_relative_data_root_holds(tmp_path: Path) -> None:
    """configs/retinamnist.yaml's data.root is ../shared/data/...: read from a temporary folder
    it named nothing, and run.reuse refused the ingest (its resolved data.root differed)."""
    started, elsewhere, run = tmp_path / "repo", tmp_path / "deeper" / "elsewhere", tmp_path / "runs" / "src"
    for folder in (started, elsewhere, run, tmp_path / "shared" / "data"):
        folder.mkdir(parents=True)
    (tmp_path / "shared" / "data" / "x.npz").write_bytes(b"")
    lines = [{"tool": "drac_ssl.train", "cwd": str(started)}, {"tool": "drac_ssl.train", "cwd": str(elsewhere)},
             {"tool": "drac_ssl.export", "cwd": "/nowhere"}]
    (run / "invocations.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    assert source_cwd(run, "../shared/data/x.npz") == started  # the one the relative root is found from
    assert source_cwd(run, str(tmp_path / "shared" / "data" / "x.npz")) == elsewhere  # absolute: the last
    assert source_cwd(run, "../missing.npz") == elsewhere
    (run / "invocations.jsonl").unlink()
    assert source_cwd(run, "../shared/data/x.npz") == REPO  # no record: the repository


def test_the_help_says_relative_override_paths_are_read_from_the_source_runs_folder(
        capsys: pytest.CaptureFixture[str]) -> None:
    """Review s57r2 F7: the fine-tunings run where the source run was started (source_cwd), so a
    relative path in a trailing override resolves there; --help said nothing of it."""
    with pytest.raises(SystemExit):
        main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "runs in the folder the source run was started from" in text, text
    assert "a relative path in an override" in text and "give absolute paths" in text, text


def test_each_rules_out_of_fold_predictions_are_kept_beside_the_result(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Referee F1: the rules' run folders are temporary, so their per-image out-of-fold files
    are copied beside the result (``<name>_oof_<rule>_<variant>.csv``) and named in it."""
    import bench.keep_selection as ks
    from drac_ssl.oof import oof_columns

    source = tmp_path / "runs" / "default"
    source.mkdir(parents=True)
    (source / "config.yaml").write_text("finetune:\n  keep: last\n  freeze: frozen\n", encoding="utf-8")
    (source / "stages.json").write_text(json.dumps({s: {"status": "done"} for s in
                                                    ("ingest", "pretrain", "umm", "finetune")}))

    def fake_finetune(src: Path, work: Path, keep: str, *args: object) -> tuple[Path, float]:
        run_dir = work / f"keep_{keep}"
        ft = _finetune_dir(run_dir.parent, {"scratch": 0.6, "vicreg": 0.7}, [8] * 5, keep)
        for variant in ("scratch", "vicreg"):
            rows = [",".join(oof_columns(3, "classification")),
                    "a.png,0,0,0.500000,0.300000,0.200000,0.7,0,1,0,0",
                    "b.png,2,1,0.100000,0.100000,0.800000,1.7,2,0,0,1"]
            (ft / variant / "oof.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
        ft.parent.rename(run_dir)
        return run_dir, 1.0

    monkeypatch.setattr(ks, "_finetune_once", fake_finetune)
    out = tmp_path / "results"
    main(["--run-dir", str(source), "--out-dir", str(out), "--name", "keep_selection_x"])
    record = json.loads((out / "keep_selection_x.json").read_text(encoding="utf-8"))
    assert set(record["oof_files"]) == {"best_scratch", "best_vicreg", "last_scratch", "last_vicreg"}
    copy = out / "keep_selection_x_oof_best_vicreg.csv"
    assert record["oof_files"]["best_vicreg"]["file"] == str(copy)
    assert copy.read_text(encoding="utf-8").splitlines() == [
        "id,grade,fold,P0,P1,P2,pred", "a.png,0,0,0.500000,0.300000,0.200000,0", "b.png,2,1,0.100000,0.100000,0.800000,2"]
