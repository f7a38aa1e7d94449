"""python -m drac_ssl.compare on fake run folders written file by file, in the format
drac_ssl.finetune writes (config.yaml, stages.json, finetune/comparison.json and each variant's
metrics.json and oof.csv): the differing settings as columns, the paired pretrained-minus-
scratch difference, --csv, and a clear error (exit code 2) for every bad input."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import yaml

from drac_ssl import run_state
from drac_ssl.compare import compare_runs, main
from drac_ssl.config import load_config, referable_cut, save_config
from drac_ssl.exit_codes import PROBLEMS_FOUND, RUN_BUSY
from drac_ssl.metrics import (
    binary_screening,
    bootstrap_ci,
    grading_report,
    referable_report,
    referable_summary,
    softmax,
)
from drac_ssl.scale import default_grade_names, prob_columns

N_BOOT = 200


MADE_BY = {"git_commit": "54e10d4", "git_dirty": False, "code_fingerprint": "5" * 64}
"""The code ``environment.json`` of :func:`make_run`'s runs names by default."""


def _probs(pred: np.ndarray, k: int) -> np.ndarray:
    """Probabilities that put most weight on ``pred`` ``(n,)``, shape ``(n, K)``."""
    return softmax(np.stack([-2.0 * (pred - g) ** 2 for g in range(k)], axis=1))


def make_run(root: Path, name: str, overrides: Sequence[str] = (), k: int = 3, n_train: int = 12,
             reused_from: Path | None = None, variants: tuple[str, ...] = ("scratch", "vicreg"), n: int = 24,
             one_grade: tuple[str, ...] = (), by_fold: tuple[str, ...] = (),
             names: Sequence[str] | None = None, screening: bool = True,
             code: dict | None = None) -> Path:
    """A finished run folder of ``n`` labelled images in 2 folds: scratch gets two thirds of
    the grades wrong, vicreg all right; the variants in ``one_grade`` give every image grade 1,
    those in ``by_fold`` fold 0's images grade 0 and fold 1's grade K-1. ``names``: the
    grades' names (default: DRAC's for K = 3, else numbers). With ``screening``, the figures
    the fine-tuning stores beside the grades: referable DR (metrics.referable_report) where
    ``finetune.referable_from`` gives a cut on that scale (auto: the ICDR scale), sensitivity
    and specificity (metrics.binary_screening) with two grades; without, none (a run made
    before they were stored). ``code``: what ``environment.json`` records of the code that
    made it (:data:`MADE_BY`, one code for every run, by default)."""
    run = root / name
    cfg = load_config(None, [f"run.name={name}", f"run.out_dir={root}", *overrides])
    save_config(cfg, run / "config.yaml")
    (run / "environment.json").write_text(json.dumps(MADE_BY if code is None else code))
    names = list(default_grade_names(k) if names is None else names)
    cut = referable_cut(cfg.finetune.referable_from, names) if screening else None
    stages = {s: {"status": "done", "seconds": 1.0} for s in ("ingest", "pretrain", "umm", "finetune")}
    if reused_from is not None:
        for s in ("ingest", "pretrain", "umm"):
            stages[s].update(seconds=0.0, reused_from=str(reused_from), seconds_in_source=1.0)
    (run / "stages.json").write_text(json.dumps(stages))
    grades = np.arange(n) % k
    folds = np.arange(n) // (n // 2)
    rows = []
    for variant in variants:
        pred = np.where(np.arange(n) % 3 == 0, grades, (grades + 1) % k) if variant == "scratch" else grades
        pred = np.ones(n, dtype=int) if variant in one_grade else pred
        pred = folds * (k - 1) if variant in by_fold else pred
        probs = _probs(pred, k)
        out = run / "finetune" / variant
        out.mkdir(parents=True)
        with open(out / "oof.csv", "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(["id", "grade", "fold", *prob_columns(k), "score", "pred",
                             *(f"logit{g}" for g in range(k))])
            for i in range(n):
                writer.writerow([f"img{i:03d}.png", grades[i], folds[i], *(f"{p:.6f}" for p in probs[i]),
                                 f"{probs[i] @ np.arange(k):.6f}", pred[i], *(f"{v:.6f}" for v in np.log(probs[i]))])
        report = grading_report(grades, probs, pred, names)
        ci = bootstrap_ci(grades, pred, n_boot=N_BOOT)
        metrics = {"variant": variant, "n": n, "class_names": names, "decision": "thresholds",
                   "qwk": report["qwk"], "qwk_ci95": list(ci), "auc": report["auc"],
                   "auc_ovr": report["auc_ovr"], "accuracy": report["accuracy"],
                   "macro_f1": report["macro_f1"],
                   "calibration": {"temperature": 1.0, "thresholds": [g + 0.5 for g in range(k - 1)],
                                   "output": "classification"},
                   "folds": [{"fold": f, "n_train": n_train, "n_val": n // 2, "best_epoch": 0, "epochs_run": 1}
                             for f in (0, 1)]}
        row = {"variant": variant, "n": n, "qwk": report["qwk"], "qwk_ci_low": ci[0],
               "qwk_ci_high": ci[1], "auc": report["auc"], "auc_ovr": report["auc_ovr"],
               "accuracy": report["accuracy"], "macro_f1": report["macro_f1"],
               "qwk_fold_mean": None, "qwk_fold_std": None, "seconds": 1.0, "decision": "thresholds"}
        if cut is not None:  # as drac_ssl.finetune stores them: metrics.json and the comparison's row
            referable = referable_report(grades, probs, pred, cut, names, n_boot=N_BOOT)
            metrics["referable"] = referable
            lo, hi = referable["auc_ci95"]
            row.update(referable_auc=referable["auc"], referable_auc_ci_low=lo, referable_auc_ci_high=hi,
                       referable_sensitivity=referable["sensitivity"],
                       referable_specificity=referable["specificity"])
        if k == 2 and screening:
            metrics.update(binary_screening(grades, pred))
            row.update(binary_screening(grades, pred))
        (out / "metrics.json").write_text(json.dumps(metrics))
        rows.append(row)
    columns = ["variant", "n", "qwk", "qwk_ci_low", "qwk_ci_high", "auc", "accuracy", "macro_f1",
               "qwk_fold_mean", "qwk_fold_std", "seconds", "auc_ovr", "decision"]
    (run / "finetune" / "comparison.json").write_text(json.dumps(
        {"columns": columns, "rows": rows, "class_names": names, "protocol": "2-fold cross-validation"}))
    return run


@pytest.fixture()
def two_runs(tmp_path: Path) -> tuple[Path, Path]:
    base = make_run(tmp_path, "base")
    low = make_run(tmp_path, "base-mlp-half", ["finetune.head=mlp", "finetune.label_fraction=0.5",
                                               f"run.reuse={base}", "run.threads=1"],
                   n_train=6, reused_from=base)
    return base, low


def test_differing_settings_become_columns_and_each_run_gets_its_paired_difference(
        two_runs: tuple[Path, Path]) -> None:
    base, low = two_runs
    comparison = compare_runs([base, low], n_boot=N_BOOT)
    # run.name, run.reuse and run.threads differ too, but change no result
    assert comparison.setting_keys == ["finetune.head", "finetune.label_fraction"]
    text = comparison.markdown()
    table = [line for line in text.splitlines() if line.startswith("| ")]
    assert table[0].startswith("| run | finetune.head | finetune.label_fraction | variant | "
                               "train images / fold | QWK (95% CI) |")
    assert "finetune.epochs" not in text and "run.reuse |" not in table[0]
    assert "| base | conv | 1 | scratch | 12 |" in text
    # every image graded right: the interval of width 1.000..1.000 is not certainty either
    assert ("| base-mlp-half | mlp | 0.5 | vicreg | 6 | 1.000 (CI not meaningful: every resample gives "
            "1.000: no resample of these images changes it) |") in text
    assert "All runs: K = 3 grades (0 Normal, 1 NPDR, 2 PDR); data: the phantom set" in text
    # DRAC's three grades have no referable cut: no column, no line, no note saying so
    assert "referable" not in text.lower() and "sensitivity" not in text
    assert f"`base-mlp-half` took its ingest, pretrain, umm stage(s) from `{base}`" in text

    assert [(d.label, d.variant, d.baseline, d.n) for d in comparison.differences] == [
        ("base", "vicreg", "scratch", 24), ("base-mlp-half", "vicreg", "scratch", 24)]
    for difference in comparison.differences:
        for metric in ("accuracy", "qwk", "auc_ovr"):
            assert difference.result[metric]["ci_low"] > 0, metric  # vicreg is clearly better
        assert difference.result["accuracy"]["difference"] == pytest.approx(16 / 24)
    assert "| base | vicreg − scratch | 24 | +0.667 (+" in text
    assert comparison.problems == []


def test_stages_taken_with_other_folds_are_said_so_with_the_fold_settings_that_differed(tmp_path: Path) -> None:
    """A folds-only run.reuse (the ingest runs here for data.fold_seed=1, the pretraining and
    UMM are taken): compare named the stages taken, not that they were made on other folds."""
    base = make_run(tmp_path, "base")
    refold = make_run(tmp_path, "refold", ["data.fold_seed=1", f"run.reuse={base}"], reused_from=base)
    stages = json.loads((refold / "stages.json").read_text())
    stages["ingest"] = {"status": "done", "seconds": 1.0}  # ran here, for the new folds
    for stage in ("pretrain", "umm"):  # as train.take_reused_stages records them
        stages[stage]["other_folds"] = {"ingest_of": str(base), "fold_figures": [], "figures_from": str(base),
                                        "settings": ["data.fold_seed: 0 -> 1"], "images": "the same: checked"}
    (refold / "stages.json").write_text(json.dumps(stages))
    text = compare_runs([base, refold], n_boot=N_BOOT).markdown()
    assert f"`refold` took its pretrain, umm stage(s) from `{base}` (run.reuse)." in text, text
    said = [line for line in text.splitlines() if "with the folds of" in line]
    assert said == ["- `refold`'s pretrain, umm stage(s) were made with the folds of the run they were taken "
                    "from (data.fold_seed 0 there, 1 here; run.reuse of a change of the folds alone): they "
                    "read no grade, and its fine-tuning ran on its own folds."], said
    # a reuse of the same folds (the other run of the two_runs fixture) or a chain back to them: no such line
    stages["umm"]["other_folds"]["settings"] = stages["pretrain"]["other_folds"]["settings"] = []
    (refold / "stages.json").write_text(json.dumps(stages))
    assert "with the folds of" not in compare_runs([refold], n_boot=N_BOOT).markdown()


def test_command_prints_the_text_and_writes_csv_and_markdown(two_runs: tuple[Path, Path], tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    base, low = two_runs
    out_csv, out_md = tmp_path / "out" / "table.csv", tmp_path / "out" / "compare.md"
    code = main([str(base), str(low), "--csv", str(out_csv), "--md", str(out_md), "--n-boot", "50"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert out_md.read_text(encoding="utf-8") == captured.out
    assert "| here (50, seed 0, 24 images) |" in captured.out and "(--n-boot 50)" in captured.out
    assert "[compare] base: vicreg − scratch" in captured.err
    with open(out_csv, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["run", "path", "finetune.head", "finetune.label_fraction", "variant",
                             "train_images_per_fold", "qwk", "qwk_ci_low", "qwk_ci_high", "accuracy",
                             "auc_ovo", "auc_ovr", "macro_f1"]
    assert [(r["run"], r["finetune.head"], r["finetune.label_fraction"], r["variant"]) for r in rows] == [
        ("base", "conv", "1", "scratch"), ("base", "conv", "1", "vicreg"),
        ("base-mlp-half", "mlp", "0.5", "scratch"), ("base-mlp-half", "mlp", "0.5", "vicreg")]
    saved = json.loads((base / "finetune" / "comparison.json").read_text())["rows"][0]
    assert float(rows[0]["qwk"]) == pytest.approx(saved["qwk"], abs=1e-5)
    assert float(rows[0]["accuracy"]) == pytest.approx(8 / 24, abs=1e-5)
    assert rows[2]["train_images_per_fold"] == "6" and rows[2]["path"] == str(low)


def test_a_broken_manifest_is_a_clear_error_with_exit_code_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A review: the one manifest reader's error came out of compare as a traceback (exit 1)."""
    run = make_run(tmp_path, "a")
    (run / "data").mkdir(exist_ok=True)
    (run / "data" / "manifest.csv").write_text("id,path,grade,split,fold\na,a.png,0,train,\n", encoding="utf-8")
    assert main([str(run)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "line 2: fold is '', not an integer" in err


def test_options_may_stand_between_the_run_folders(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``compare RUN_A --csv FILE RUN_B`` stopped with "unrecognized arguments: RUN_B"
    (argparse's parse_args takes one run of positionals): every run folder is read now."""
    assert main([str(tmp_path / "a"), "--csv", str(tmp_path / "c.csv"), str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert "unrecognized arguments" not in err, err
    assert "error: 2 of the run folders cannot be compared:" in err
    assert f"{tmp_path / 'a'}: no such folder" in err and f"{tmp_path / 'b'}: no such folder" in err

def test_every_bad_run_folder_is_named_with_exit_code_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    not_a_run = tmp_path / "photos"
    not_a_run.mkdir()
    unfinished = tmp_path / "unfinished"
    save_config(load_config(None, ["run.stages=[ingest,pretrain]"]), unfinished / "config.yaml")
    good = make_run(tmp_path, "good")
    assert main([str(good), str(not_a_run), str(unfinished), str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "error: 3 of the run folders cannot be compared:" in err
    assert f"{not_a_run}: not a run folder of python -m drac_ssl.train (no config.yaml there)" in err
    assert f"{unfinished}: the fine-tuning stage has not finished there (no finetune/comparison.json)" in err
    # the in-place resume command (absolute paths, from any folder), the stages the fine-tuning needs
    resume = run_state.resume_in_place_command(unfinished, ["run.stages=[ingest,pretrain,umm,finetune]"])
    assert f"fix: finish the run (it resumes where it stopped): {resume}" in err
    assert f"-c {unfinished / 'config.yaml'} run.out_dir={tmp_path} run.name=unfinished" in resume
    assert f"{tmp_path / 'nowhere'}: no such folder" in err
    assert str(good) not in err

    # a run still going: wait for it, never a second run in the same folder (a trial was told to
    # 'finish the run' while its train command was running); a killed one: resume it
    import platform
    import subprocess
    import sys

    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (unfinished / "invocations.jsonl").write_text(json.dumps(
            {"date_utc": "2026-12-01T10:00:00+00:00", "pid": alive.pid, "host": platform.node()}) + "\n")
        # exit 75 (RunBusy: try later), as export, report and UMM say it, not 2 (never requeued)
        assert main([str(unfinished)]) == RUN_BUSY
        err = capsys.readouterr().err
        assert (f"and python -m drac_ssl.train is still running there (process {alive.pid}, started "
                "2026-12-01T10:00:00+00:00)\n  fix: wait for it to finish, then compare again; do not "
                "start a second run in the same folder") in err
        # python -m drac_ssl.report on it meanwhile (a line of its own, ended): still running
        with open(unfinished / "invocations.jsonl", "a") as fh:
            fh.write(json.dumps({"tool": "drac_ssl.report", "pid": 1, "host": platform.node(),
                                 "ended": {"outcome": "finished"}}) + "\n")
        assert main([str(unfinished)]) == RUN_BUSY
        assert f"still running there (process {alive.pid}" in capsys.readouterr().err
        assert main([str(unfinished), str(not_a_run)]) == 2  # a bad folder beside it: a fix, not a wait
        capsys.readouterr()
    finally:
        alive.kill()
        alive.wait()
    assert main([str(unfinished)]) == 2  # the process is gone: killed, so resume it
    assert "fix: finish the run (it resumes where it stopped)" in capsys.readouterr().err


def test_unreadable_files_name_the_file_and_what_is_wrong(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    broken_json = make_run(tmp_path, "a")
    (broken_json / "finetune" / "vicreg" / "metrics.json").write_text('{"qwk": 0.5,')
    broken_csv = make_run(tmp_path, "b")
    oof = broken_csv / "finetune" / "scratch" / "oof.csv"
    lines = oof.read_text().splitlines()
    lines[3] = lines[3].replace(",2,", ",two,", 1)  # the grade of the third image
    oof.write_text("\n".join(lines) + "\n")
    broken_yaml = make_run(tmp_path, "c")
    (broken_yaml / "config.yaml").write_text("finetune: [head: mlp\n")
    broken_bytes = make_run(tmp_path, "d")  # was "not valid YAML ('utf-8' codec can't decode ...)"
    (broken_bytes / "config.yaml").write_bytes(b"run:\n  name: d\xff\n")
    assert main([str(broken_json), str(broken_csv), str(broken_yaml), str(broken_bytes)]) == 2
    err = capsys.readouterr().err
    assert f"{broken_json / 'finetune' / 'vicreg' / 'metrics.json'}: not valid JSON" in err
    assert f"{oof}, line 4: grade is 'two', not an integer" in err
    assert f"{broken_yaml / 'config.yaml'}:1: not valid YAML" in err and "fix: close it on line 1" in err
    assert f"{broken_bytes / 'config.yaml'}:2: not UTF-8 (byte 0xff)" in err and "codec" not in err, err
    assert "Traceback" not in err


def test_runs_on_another_grade_scale_are_listed_but_said_to_be_incomparable(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    drac = make_run(tmp_path, "drac")
    icdr = make_run(tmp_path, "icdr", ["data.grades=[icdr]"], k=5, n=20)
    # 1, a problem found in runs compared, not 2: a script tells it from a bad folder or option
    assert main([str(drac), str(icdr), "--n-boot", "20"]) == PROBLEMS_FOUND == 1
    captured = capsys.readouterr()
    assert "error: the runs grade on scales of different sizes" in captured.err
    assert "`drac` 3 (0 Normal, 1 NPDR, 2 PDR); `icdr` 5 (0 0, 1 1, 2 2, 3 3, 4 4)" in captured.err
    assert "| icdr | [icdr] | vicreg |" in captured.out  # still listed, data.grades a column
    assert "> **Not comparable:**" in captured.out and "All runs:" not in captured.out


def test_older_runs_without_some_keys_show_a_dash(tmp_path: Path) -> None:
    new = make_run(tmp_path, "new", ["finetune.label_fraction=0.5"])
    old = make_run(tmp_path, "old", ["finetune.compare_scratch=false"], variants=("vicreg",))
    config = yaml.safe_load((old / "config.yaml").read_text())
    del config["finetune"]["label_fraction"]  # a run made before the setting existed
    (old / "config.yaml").write_text(yaml.safe_dump(config))
    comparison_path = old / "finetune" / "comparison.json"
    saved = json.loads(comparison_path.read_text())
    del saved["rows"][0]["auc_ovr"], saved["class_names"]
    comparison_path.write_text(json.dumps(saved))
    metrics_path = old / "finetune" / "vicreg" / "metrics.json"
    metrics = json.loads(metrics_path.read_text())
    del metrics["folds"]
    metrics_path.write_text(json.dumps(metrics))

    comparison = compare_runs([new, old], n_boot=20)
    assert comparison.setting_keys == ["finetune.compare_scratch", "finetune.label_fraction"]
    text = comparison.markdown()
    row = next(line for line in text.splitlines() if line.startswith("| old |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1:3] == ["false", "1"]  # compare_scratch, label_fraction (absent: today's default)
    assert ("`old`'s `config.yaml` has no `finetune.label_fraction` (written by older code, before the "
            "setting existed): shown with today's default, 1") in text
    assert cells[4] == "—" and cells[5].startswith("1.000")  # train images / fold absent, QWK there
    # a figure absent is n/a, as report.md writes it; a setting or count absent is "—"
    assert cells[8] == "n/a" and cells[7] == "1.000"  # AUC OvR absent, AUC OvO there
    assert "`old` has no scratch variant (finetune.compare_scratch=false)" in text
    assert [d.label for d in comparison.differences] == ["new"]


def test_a_model_that_gave_every_image_one_grade_has_no_interval(tmp_path: Path) -> None:
    run = make_run(tmp_path, "run", one_grade=("vicreg",))
    comparison = compare_runs([run], n_boot=20)
    row = next(r for r in comparison.table_rows() if r["variant"] == "vicreg")
    assert (row["qwk_ci_low"], row["qwk_ci_high"]) == (0.0, 0.0)  # the figures as the run stored them
    text = comparison.markdown()
    assert ("| run | vicreg | 12 | 0.000 (CI not meaningful: after the cross-fitted calibration, every image was "
            "given one grade (1 NPDR), so every resample gives 0.000) |") in text, text
    assert "0.000 (0.000..0.000)" not in text
    assert "qwk_ci_note" not in comparison.table_csv()  # the CSV keeps its columns
    # a run that stored its own note is shown with it
    path = run / "finetune" / "comparison.json"
    saved = json.loads(path.read_text())
    saved["rows"][1]["qwk_ci_note"] = "the run's own words"
    path.write_text(json.dumps(saved))
    assert "0.000 (CI not meaningful: the run's own words)" in compare_runs([run], n_boot=20).markdown()


def test_variants_scored_on_other_images_are_not_paired(tmp_path: Path) -> None:
    run = make_run(tmp_path, "run")
    oof = run / "finetune" / "vicreg" / "oof.csv"
    oof.write_text(oof.read_text().replace("img000.png", "other.png"))
    comparison = compare_runs([run], n_boot=20)
    assert comparison.differences == []
    assert any("vicreg and scratch were scored on different images (1 id(s) only in" in note
               and "vicreg − scratch skipped" in note for note in comparison.notes)
    assert comparison.setting_keys == [] and "settings are equal" in comparison.markdown()


def test_a_run_that_stored_its_differences_is_shown_with_its_own_figures(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The run's own pretrained - scratch CIs (comparison.json, those of its report.md) are
    shown as they are, with the run's resamples and seed; --n-boot recomputes them; a run that
    did not store them is recomputed with 1000 resamples."""
    stored_run = make_run(tmp_path, "stored", ["finetune.n_boot=321", "run.seed=7"])
    path = stored_run / "finetune" / "comparison.json"
    saved = json.loads(path.read_text())
    mark = {m: {"a": 0.5, "b": 0.4, "difference": 0.123, "ci_low": 0.011, "ci_high": 0.222, "resamples": 321}
            for m in ("accuracy", "qwk", "auc_ovr")}
    saved["pretrained_minus_scratch"] = {"vicreg": mark}
    path.write_text(json.dumps(saved))
    older = make_run(tmp_path, "older")

    code = main([str(stored_run), str(older)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "| stored | vicreg − scratch | 24 | +0.123 (+0.011..+0.222) | +0.123 (+0.011..+0.222) | " \
           "+0.123 (+0.011..+0.222) | n/a | the run's (321, seed 7, 24 images) |" in captured.out  # no OvO stored
    assert "and this table has 7;" in captured.out  # the CIs shown: 3 stored + 4 recomputed, not the n/a
    assert "| older | vicreg − scratch | 24 | +0.667 (+" in captured.out
    assert "| here (1000, seed 0, 24 images) |" in captured.out and "the run did not store its own" in captured.out
    assert "[compare] stored:" not in captured.err and "[compare] older: vicreg − scratch" in captured.err

    comparison = compare_runs([stored_run], n_boot=20)  # an explicit number recomputes it
    (difference,) = comparison.differences
    assert not difference.stored and difference.n_boot == 20
    assert difference.result["accuracy"]["difference"] == pytest.approx(16 / 24)
    # finetune.seed >= 0 is the fine-tuning's seed, not run.seed
    reseeded = make_run(tmp_path, "reseeded", ["finetune.seed=3", "run.seed=7"])
    (reseeded / "finetune" / "comparison.json").write_text(json.dumps(saved))
    (difference,) = compare_runs([reseeded]).differences
    assert difference.stored and (difference.n_boot, difference.seed) == (1000, 3)


def test_data_settings_are_compared_as_the_ingest_resolved_them(tmp_path: Path) -> None:
    """data.grades=[] (the layout's scale) and the same names spelled out, or data.channels
    "" and 1, are the same data: not a column. What the ingest did not resolve still is."""
    summary = {"grades": {"names": ["Normal", "NPDR", "PDR"]}, "channels": {"value": 1},
               "layout": "plain", "modality": {"value": "octa"}}
    spelled = make_run(tmp_path, "spelled", ["data.grades=[Normal,NPDR,PDR]", "data.channels=1",
                                             "data.modality=octa"])
    implied = make_run(tmp_path, "implied", ["finetune.head=mlp"])
    for run in (spelled, implied):
        (run / "data").mkdir()
        (run / "data" / "ingest_summary.json").write_text(json.dumps(summary))
    comparison = compare_runs([spelled, implied], n_boot=20)
    assert comparison.setting_keys == ["finetune.head"]
    assert comparison.runs[1].settings["data.grades"] == ["Normal", "NPDR", "PDR"]
    assert comparison.runs[1].settings["data.layout"] == "plain"
    (implied / "data" / "ingest_summary.json").unlink()  # an ingest that recorded nothing
    assert "data.grades" in compare_runs([spelled, implied], n_boot=20).setting_keys
    # the columns an EyePACS ingest read, not the defaults it replaced (a trial saw 'image name')
    (implied / "data" / "ingest_summary.json").write_text(json.dumps(
        {**summary, "layout": "eyepacs", "label_columns": {"image": "image", "grade": "level"}}))
    eyepacs = compare_runs([implied], n_boot=20).runs[0].settings
    assert (eyepacs["data.image_column"], eyepacs["data.grade_column"]) == ("image", "level")
    assert eyepacs["data.layout"] == "eyepacs"


def test_many_differing_settings_get_their_own_table_and_speed_settings_a_line(tmp_path: Path) -> None:
    base = make_run(tmp_path, "base")
    other = make_run(tmp_path, "other", ["finetune.head=mlp", "finetune.epochs=9", "finetune.lr=0.01",
                                         "pretrain.epochs=7", "pretrain.num_workers=0",
                                         "pretrain.compile=false"])
    comparison = compare_runs([base, other], n_boot=20)
    assert set(comparison.setting_keys) == {"finetune.head", "finetune.epochs", "finetune.lr",
                                            "pretrain.epochs", "pretrain.num_workers", "pretrain.compile"}
    text = comparison.markdown()
    table = [line for line in text.splitlines() if line.startswith("| ")]
    # the runs' table keeps only the metrics: 4 result settings are too many for columns
    assert table[0].startswith("| run | variant | train images / fold | QWK (95% CI) |")
    assert "## Settings that differ" in text
    assert "| setting | base | other |" in text
    assert "| `finetune.head` | conv | mlp |" in text and "| `pretrain.epochs` |" in text
    # speed-only settings: neither columns nor rows, one line with each run's value
    assert "| `pretrain.num_workers`" not in text
    line = next(line for line in text.splitlines() if line.startswith("Also different, settings of speed only"))
    assert "`pretrain.num_workers` base -1, other 0" in line and "`pretrain.compile` base auto, other false" in line
    # the CSV keeps every differing setting as a column
    header = comparison.table_csv().splitlines()[0].split(",")
    assert "pretrain.num_workers" in header and "finetune.lr" in header


def test_a_speed_only_difference_leaves_the_runs_table_without_setting_columns(tmp_path: Path) -> None:
    base = make_run(tmp_path, "base")
    other = make_run(tmp_path, "other", ["pretrain.channels_last=false"])
    text = compare_runs([base, other], n_boot=20).markdown()
    assert next(line for line in text.splitlines() if line.startswith("| ")).startswith("| run | variant |")
    assert "settings that change results are equal" in text
    assert "`pretrain.channels_last` base true, other false" in text
    assert "## Settings that differ" not in text


def _store_image_resampled_differences(run: Path) -> None:
    """Give ``run``'s comparison.json stored VICReg - scratch differences as a run made before
    patient- or group-level CIs stored them (resampled images, no unit recorded)."""
    path = run / "finetune" / "comparison.json"
    saved = json.loads(path.read_text())
    saved["pretrained_minus_scratch"] = {"vicreg": {m: {"a": 0.5, "b": 0.4, "difference": 0.1, "ci_low": 0.05,
                                                        "ci_high": 0.15} for m in ("accuracy", "qwk", "auc_ovr")}}
    path.write_text(json.dumps(saved))


def _add_patients(run: Path, per_patient: int, n: int = 24, record: str | None = "patients") -> None:
    """Give the run a data/manifest.csv whose training images come ``per_patient`` to a patient,
    and (``record``) the ``ci_resamples`` its fine-tuning recorded in comparison.json (None: a
    run made before it was recorded)."""
    (run / "data").mkdir(exist_ok=True)
    with open(run / "data" / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["id", "path", "grade", "split", "fold", "patient"])
        for i in range(n):
            writer.writerow([f"img{i:03d}.png", f"x/img{i:03d}.png", i % 3, "train", i // (n // 2),
                             f"P{i // per_patient:02d}"])
    if record is not None:
        path = run / "finetune" / "comparison.json"
        saved = json.loads(path.read_text())
        saved.update(ci_resamples=record, ci_units=n // per_patient if record == "patients" else n)
        path.write_text(json.dumps(saved))


def test_the_intervals_say_what_they_resample_and_recompute_over_patients(tmp_path: Path) -> None:
    """A run whose manifest names patients: the recomputed paired difference resamples patients
    (the cluster bootstrap of metrics.paired_bootstrap_difference with the patients), and the
    text says what every interval resampled; runs that differ in it are said to."""
    from drac_ssl.metrics import paired_bootstrap_difference

    plain = make_run(tmp_path, "plain")
    text = compare_runs([plain], n_boot=50).markdown()
    assert "its CI the run's own bootstrap, which resampled images (treated as independent), with the trained fold models" in text
    assert "the same resampled images for both variants, each image its own unit" in text
    assert "| here (50, seed 0, 24 images) |" in text

    grouped = make_run(tmp_path, "grouped")
    _add_patients(grouped, per_patient=4)  # 6 patients of 4 images
    comparison = compare_runs([grouped], n_boot=50)
    (difference,) = comparison.differences
    assert difference.by_patient and difference.units == 6
    oof = {v: _read_oof_for_test(grouped / "finetune" / v / "oof.csv") for v in ("scratch", "vicreg")}
    grades = oof["vicreg"][0]
    patients = [f"P{i // 4:02d}" for i in range(24)]
    want = paired_bootstrap_difference(grades, oof["vicreg"][1], oof["scratch"][1], oof["vicreg"][2],
                                       oof["scratch"][2], n_boot=50, seed=0, groups=patients)
    assert difference.result == want
    images = paired_bootstrap_difference(grades, oof["vicreg"][1], oof["scratch"][1], oof["vicreg"][2],
                                         oof["scratch"][2], n_boot=50, seed=0)
    assert difference.result["accuracy"]["ci_low"] != images["accuracy"]["ci_low"]
    text = comparison.markdown()
    assert ("its CI the run's own bootstrap, which resampled patients (6 patients, each with all its "
            "images), with the trained fold models") in text
    assert "| here (50, seed 0, 6 patients) |" in text
    assert "the same resampled patients for both variants, each patient with all its images" in text

    both = compare_runs([plain, grouped], n_boot=50).markdown()
    assert ("which resampled: `plain` images (treated as independent); `grouped` patients (6 patients, "
            "each with all its images); the runs' CIs resample different units, so their widths do not "
            "compare") in both
    assert "of patients (each with all its images: the cluster bootstrap, Field & Welsh 2007) or of images" in both

    # a run made before patient-level CIs: its stored figures resampled images, and it is said
    older = make_run(tmp_path, "older")
    _add_patients(older, per_patient=2, record=None)
    _store_image_resampled_differences(older)
    text = compare_runs([older]).markdown()
    assert ("which resampled images, not patients (12 patients for 24 images: with correlated images of one "
            "patient likely too narrow), with the trained fold models") in text
    assert "| the run's (1000, seed 0, 24 images) |" in text
    assert ("Resampled images, not patients, although the manifest names patients: `older` vicreg − scratch "
            "(12 patients for 24 images).") in text
    assert "--n-boot N recomputes them over patients" in text
    (again,) = compare_runs([older], n_boot=30).differences
    assert again.by_patient and again.units == 12 and again.source == "here (30, seed 0, 12 patients)"


def _add_twin_groups(run: Path, n: int = 24, record: str | None = "groups") -> None:
    """Give the run a data/manifest.csv of an ingest that kept near twins together
    (data.near_duplicate_mse): no patients, training images 0-11 in twin pairs (fold_group),
    the rest alone: 18 units for 24 images; and (``record``) the ``ci_resamples`` its
    fine-tuning recorded (None: a run made before it resampled the groups)."""
    (run / "data").mkdir(exist_ok=True)
    with open(run / "data" / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["id", "path", "grade", "split", "fold", "patient", "fold_group"])
        for i in range(n):
            writer.writerow([f"img{i:03d}.png", f"x/img{i:03d}.png", i % 3, "train", i // (n // 2), "",
                             f"img{i - i % 2:03d}.png" if i < 12 else f"img{i:03d}.png"])
    if record is not None:
        path = run / "finetune" / "comparison.json"
        saved = json.loads(path.read_text())
        saved.update(ci_resamples=record, ci_units=18 if record == "groups" else n)
        path.write_text(json.dumps(saved))


def test_the_intervals_of_a_twin_grouped_run_resample_its_image_groups(tmp_path: Path) -> None:
    """A run whose ingest kept near twins together: the recomputed difference resamples the
    manifest's fold groups (each pair one unit), and the text says image groups, never
    patients; a run that resampled images is said to be likely too narrow."""
    from drac_ssl.metrics import paired_bootstrap_difference

    twins = make_run(tmp_path, "twins")
    _add_twin_groups(twins)
    comparison = compare_runs([twins], n_boot=50)
    (difference,) = comparison.differences
    assert difference.by_group and not difference.by_patient and difference.units == 18
    assert difference.source == "here (50, seed 0, 18 image groups)"
    oof = {v: _read_oof_for_test(twins / "finetune" / v / "oof.csv") for v in ("scratch", "vicreg")}
    groups = [f"img{i - i % 2:03d}" if i < 12 else f"img{i:03d}" for i in range(24)]
    assert difference.result == paired_bootstrap_difference(
        oof["vicreg"][0], oof["vicreg"][1], oof["scratch"][1], oof["vicreg"][2], oof["scratch"][2],
        n_boot=50, seed=0, groups=groups)
    text = comparison.markdown()
    assert ("its CI the run's own bootstrap, which resampled image groups (18 the folds kept whole: an image "
            "with its near twins and, where patients are named, their patients' images; each with all its "
            "images), with the trained fold models") in text
    assert "the same resampled image groups for both variants (the units the folds kept whole: " in text
    assert "patients (" not in text

    older = make_run(tmp_path, "older")
    _add_twin_groups(older, record="images")
    text = compare_runs([older]).markdown()
    assert ("which resampled images, not the image groups the folds kept whole (18 groups for 24 images: "
            "with near twins among them likely too narrow), with the trained fold models") in text


def test_runs_of_image_groups_and_of_images_are_said_in_those_units(tmp_path: Path) -> None:
    """Beside a run whose CIs resampled images, a run that resampled image groups was said as
    "over patients or image groups they are wider", and the differences as "of patients or of
    the image groups", although no run had patients: only the units there are are named now;
    runs that record only patients and images (made before image groups) read as before."""
    plain = make_run(tmp_path, "plain")
    twins = make_run(tmp_path, "twins")
    _add_twin_groups(twins)
    text = compare_runs([plain, twins], n_boot=50).markdown()
    assert "so their widths do not compare (over image groups they are wider)" in text
    assert ("the same resamples for both variants, of the image groups the folds kept whole (each with "
            "all its images: the cluster bootstrap, Field & Welsh 2007) or of images, as the last column "
            "says") in text
    assert "patients or" not in text and "of patients" not in text
    grouped = make_run(tmp_path, "grouped")
    _add_patients(grouped, per_patient=4)
    text = compare_runs([plain, grouped], n_boot=50).markdown()
    assert "so their widths do not compare (over patients they are wider)" in text
    text = compare_runs([plain, grouped, twins], n_boot=50).markdown()
    assert "so their widths do not compare (over patients or image groups they are wider)" in text
    assert "of patients or of the image groups the folds kept whole (each with all its images" in text
    # a twin-grouped run whose stored CIs resampled images: its caveat names image groups only
    older = make_run(tmp_path, "older")
    _add_twin_groups(older, record="images")
    _store_image_resampled_differences(older)
    text = compare_runs([older]).markdown()
    assert ("Resampled images, not the image groups the folds kept whole, although the manifest names them: "
            "`older` vicreg − scratch (18 image groups for 24 images). With near twins among the images these "
            "CIs are likely too narrow") in text
    assert "not patients" not in text


def _add_old_twin_ingest(run: Path, with_patients: bool) -> dict:
    """Give the run the data/ of an ingest that kept near twins together (data.near_duplicate_mse;
    its summary: 2 groups of 4 images) before the manifest had its fold_group column: 12 patients
    of 2 images whose CIs the fine-tuning resampled (``with_patients``), or no patients and
    image-level CIs. Returns the summary written."""
    if with_patients:
        _add_patients(run, per_patient=2)
    else:
        _add_patients(run, per_patient=1, record="images")
        with open(run / "data" / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(["id", "path", "grade", "split", "fold", "patient"])
            writer.writerows([f"img{i:03d}.png", f"x/img{i:03d}.png", i % 3, "train", i // 12, ""]
                             for i in range(24))
    summary = {"root": str(run.parent), "layout": "plain",
               "config": {"patient_column": "patient"} if with_patients else {},
               "near_duplicates": {"near_duplicate_mse": 1e-4, "cache_size": 48, "compared_px": 48,
                                   "n_images": 4, "n_groups": 2, "with_patients": with_patients}}
    (run / "data" / "ingest_summary.json").write_text(json.dumps(summary))
    return summary


@pytest.mark.parametrize("with_patients", [False, True])
def test_a_run_of_an_old_twin_grouped_ingest_is_told_to_redo_it(tmp_path: Path, with_patients: bool) -> None:
    """A run whose ingest kept near twins together before the manifest's fold_group column
    (data_provenance's fold_groups_missing): its CIs, the run's own and those recomputed here,
    resample patients or images, never the image groups its folds kept whole, which the
    manifest does not name. compare said nothing of it, while report.md and the model card say
    to redo the ingest: its notes now say the same words (bundle.groups_not_resampled_words),
    run by run. The same run without the twins in its summary reads exactly as before."""
    from data_prep.folds import REDO_FOR_FOLD_GROUPS
    from drac_ssl.grading.bundle import groups_not_resampled_words

    old = make_run(tmp_path, "old")
    plain = make_run(tmp_path, "plain")
    summary = _add_old_twin_ingest(old, with_patients)
    kind = "patients" if with_patients else "images"
    note = (f"- `old`, whose ingest kept near twins in one fold (data.near_duplicate_mse): its CIs resample "
            f"{kind}, {groups_not_resampled_words(kind)}.")
    assert note.endswith(f"{REDO_FOR_FOLD_GROUPS} and fine-tune again.")
    for n_boot in (None, 50):  # the run's own differences, and those recomputed over its units
        text = compare_runs([plain, old], n_boot=n_boot).markdown()
        assert note in text.splitlines()
        assert "`plain`, whose" not in text  # a run of another ingest gets no such note
    text = compare_runs([old, plain], n_boot=50, between=True).markdown()  # --between resamples its units too
    assert text.splitlines().count(note) == 1
    del summary["near_duplicates"]  # the same run without the twins: as before, no word of them
    (old / "data" / "ingest_summary.json").write_text(json.dumps(summary))
    before = compare_runs([plain, old], n_boot=50).markdown()
    assert "near twins" not in before and "fold_group" not in before
    summary["near_duplicates"] = {"near_duplicate_mse": 1e-4, "cache_size": 48, "compared_px": 48,
                                  "n_images": 0, "n_groups": 0, "with_patients": with_patients}
    (old / "data" / "ingest_summary.json").write_text(json.dumps(summary))  # the option on, no twins found
    assert compare_runs([plain, old], n_boot=50).markdown() == before


def _read_oof_for_test(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    k = sum(1 for c in rows[0] if c.startswith("P") and c[1:].isdigit())
    return (np.array([int(r["grade"]) for r in rows]), np.array([[float(r[f"P{g}"]) for g in range(k)] for r in rows]),
            np.array([int(r["pred"]) for r in rows]))


def test_chance_level_variants_are_noted_and_the_legend_counts_the_intervals(tmp_path: Path) -> None:
    """A trial read 'QWK +0.108 (+0.005..+0.189): a difference these images support' between two
    models whose reports both said 'no better than chance'; compare now carries that warning
    and says how many intervals its table holds."""
    run = make_run(tmp_path, "tiny", one_grade=("scratch",))
    comparison = compare_runs([run], n_boot=50)
    text = comparison.markdown()
    (note,) = [n for n in comparison.notes if "better than chance" in n]
    assert note.startswith("`tiny` scratch: No evidence that this model grades better than chance")
    assert note in text and not any("vicreg: No evidence" in n for n in comparison.notes)
    assert ("a 95% CI excludes 0 one time in twenty by chance alone when nothing differs, and this "
            "table has 4;") in text  # one difference x accuracy, QWK, AUC OvR, AUC OvO
    # a run that stored the AUC's own CI: the note words it as report.md does
    metrics_path = run / "finetune" / "scratch" / "metrics.json"
    stored = json.loads(metrics_path.read_text())
    metrics_path.write_text(json.dumps({**stored, "auc_ovr": 0.8, "auc_ovr_ci95": [0.7, 0.9]}))
    rows_path = run / "finetune" / "comparison.json"
    rows = json.loads(rows_path.read_text())
    for row in rows["rows"]:
        row["auc_ovr"] = 0.8 if row["variant"] == "scratch" else row.get("auc_ovr")
    rows_path.write_text(json.dumps(rows))
    (note,) = [n for n in compare_runs([run], n_boot=50).notes if "better than chance" in n]
    assert "Its probabilities do rank the images better than chance (macro AUC one-vs-rest 0.800, 95% CI " \
           "0.700..0.900, above 0.5; one-vs-one " in note  # the result line's AUC too, labelled


def test_an_unused_patient_looking_column_is_said_with_the_intervals(tmp_path: Path) -> None:
    """Images treated as independent although the ingest warned of a patient-looking column:
    compare says so beside what the intervals resampled, as the report does."""
    run = make_run(tmp_path, "nopat")
    _add_patients(run, per_patient=1, record="images")
    with open(run / "data" / "manifest.csv", "w", newline="", encoding="utf-8") as fh:  # no patients
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["id", "path", "grade", "split", "fold", "patient"])
        writer.writerows([f"img{i:03d}.png", f"x/img{i:03d}.png", i % 3, "train", i // 12, ""]
                         for i in range(24))
    (run / "data" / "ingest_summary.json").write_text(json.dumps(
        {"root": str(tmp_path), "layout": "plain", "patients": {
            "grouped": False, "source": None, "column": None, "n_patients": None, "n_images": 24,
            "unused_column": "subject_id"}}))
    text = compare_runs([run], n_boot=50).markdown()
    assert ("images (treated as independent, although column 'subject_id' looks like a patient id "
            "and the folds did not use it: if it is one, these CIs are too narrow and the figures "
            "likely optimistic)") in text


def test_between_says_whether_the_changed_settings_helped_variant_by_variant(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A trial asked 'did my change help?' and got each run's pretrained − scratch only:
    --between adds each later run minus the first, same variant, same images, paired."""
    from drac_ssl.metrics import paired_bootstrap_difference

    base = make_run(tmp_path, "base")
    worse = make_run(tmp_path, "mlp", ["finetune.head=mlp"], one_grade=("vicreg",))
    plain = compare_runs([base, worse], n_boot=40)
    assert plain.between == [] and "variant by variant" not in plain.markdown()

    comparison = compare_runs([base, worse], n_boot=40, between=True)
    by_variant = {d.variant: d for d in comparison.between}
    assert set(by_variant) == {"scratch", "vicreg"}
    assert all(d.label == "mlp" and d.baseline == "base" and d.n == 24 for d in comparison.between)
    assert by_variant["scratch"].result["accuracy"]["difference"] == 0.0  # the same predictions
    vicreg = by_variant["vicreg"].result
    assert vicreg["accuracy"]["difference"] == pytest.approx(8 / 24 - 1)  # all grade 1 vs all right
    grades, probs, pred = _read_oof_for_test(worse / "finetune" / "vicreg" / "oof.csv")
    _, base_probs, base_pred = _read_oof_for_test(base / "finetune" / "vicreg" / "oof.csv")
    expected = paired_bootstrap_difference(grades, probs, base_probs, pred, base_pred, n_boot=40, seed=0)
    assert vicreg["qwk"] == expected["qwk"]  # the package's paired bootstrap, to the last bit
    text = comparison.markdown()
    assert "## Each run minus `base`, variant by variant" in text
    assert "| `mlp` − `base` | vicreg | 24 |" in text
    assert "and this table has 8." in text

    assert main([str(base), str(worse), "--between", "--n-boot", "20"]) == 0
    assert "## Each run minus `base`, variant by variant" in capsys.readouterr().out


FOLD_WORDS = ("within each fold every image was given one grade (fold 0: 0 Normal, fold 1: 2 PDR): the grades "
              "say which fold an image fell in, not what it shows")


def test_grades_that_follow_the_fold_are_noted_per_variant(tmp_path: Path) -> None:
    """The trial's VICReg gave fold 0 all Normal and fold 1 all PDR: compare notes it as the
    report does, from the run's own note or, for a run made before it, from oof.csv."""
    run = make_run(tmp_path, "tiny", by_fold=("vicreg",))
    comparison = compare_runs([run], n_boot=20)
    said = f"`tiny` vicreg: after the cross-fitted calibration, {FOLD_WORDS}; this variant learnt next to nothing about grading."
    assert said in comparison.notes and f"- {said}" in comparison.markdown()
    assert not any(n.startswith("`tiny` scratch: within") for n in comparison.notes)
    # the run's own note (null: none) wins over what oof.csv would say
    path = run / "finetune" / "comparison.json"
    saved = json.loads(path.read_text())
    saved["rows"][1]["one_grade_note"] = None
    path.write_text(json.dumps(saved))
    assert not any("within each fold" in n for n in compare_runs([run], n_boot=20).notes)
    saved["rows"][1]["one_grade_note"] = "the run's own words"
    path.write_text(json.dumps(saved))
    assert ("`tiny` vicreg: after the cross-fitted calibration, the run's own words; this variant learnt next "
            "to nothing about grading."
            in compare_runs([run], n_boot=20).notes)


def test_between_says_a_difference_of_width_zero_is_not_meaningful(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Two runs whose VICReg both graded by fold: 'r2 - r1 | vicreg | accuracy +0.000
    (+0.000..+0.000)' read as certainly identical; it is not meaningful, and says why."""
    r1 = make_run(tmp_path, "r1", by_fold=("vicreg",))
    r2 = make_run(tmp_path, "r2", ["finetune.head=mlp"], by_fold=("vicreg",))
    comparison = compare_runs([r1, r2], n_boot=40, between=True)
    vicreg = next(d for d in comparison.between if d.variant == "vicreg").result
    assert all(vicreg[m]["ci_low"] == vicreg[m]["ci_high"] == 0.0 for m in ("accuracy", "qwk"))
    text = comparison.markdown()
    flat = "+0.000 (CI not meaningful: every resample gives 0.000: no resample of these images changes it)"
    assert f"| `r2` − `r1` | vicreg | 24 | {flat} | {flat} |" in text, text
    assert "+0.000..+0.000" not in text
    assert "Not meaningful (a CI of width 0): `r2` − `r1` scratch: accuracy, QWK, AUC OvR, AUC OvO; `r2` − `r1` vicreg:" in text
    assert f"`r2` vicreg: after the cross-fitted calibration, {FOLD_WORDS}" in text  # the notes say why
    # a real interval stays an interval
    vicreg_row = next(line for line in text.splitlines() if line.startswith("| r2 | vicreg − scratch"))
    assert "not meaningful" not in vicreg_row and ".." in vicreg_row
    assert main([str(r1), str(r2), "--between", "--n-boot", "20"]) == 0
    assert f"| `r2` − `r1` | vicreg | 24 | {flat} |" in capsys.readouterr().out


def test_the_training_length_is_said_when_every_run_trained_as_long(tmp_path: Path) -> None:
    """A trial's compare.md of two 1-epoch runs hid the equal epochs (equal settings are not
    columns), so its figures read like the README's full runs."""
    a = make_run(tmp_path, "a", ["pretrain.epochs=1", "finetune.epochs=2", "umm.epochs=1",
                                 "umm.max_steps_per_epoch=2"])
    b = make_run(tmp_path, "b", ["pretrain.epochs=1", "finetune.epochs=2", "umm.epochs=1",
                                 "umm.max_steps_per_epoch=2", "finetune.head=mlp"])
    assert ("Training length in every run: VICReg 1 epoch, UMM 1 epoch of at most 2 steps, "
            "fine-tuning 2 epochs per fold.") in compare_runs([a, b], n_boot=20).markdown()
    # a trial's 1-epoch runs capped both stages (pretrain.max_steps_per_epoch=3): said as UMM's is
    capped = [make_run(tmp_path, name, ["pretrain.epochs=1", "pretrain.max_steps_per_epoch=3", "umm.epochs=1",
                                        "umm.max_steps_per_epoch=2", *extra])
              for name, extra in (("a3", []), ("b3", ["finetune.head=mlp"]))]
    assert ("Training length in every run: VICReg 1 epoch of at most 3 steps, UMM 1 epoch of at most "
            "2 steps, fine-tuning ") in compare_runs(capped, n_boot=20).markdown()
    # a cap that differs among the runs is a column, not this line
    text = compare_runs([a, capped[0]], n_boot=20).markdown()
    assert "Training length in every run" not in text and "pretrain.max_steps_per_epoch" in text
    c = make_run(tmp_path, "c", ["pretrain.epochs=5", "umm.enabled=false"])
    text = compare_runs([a, c], n_boot=20).markdown()
    assert "Training length in every run" not in text and "pretrain.epochs" in text  # a column
    assert "UMM off" in compare_runs([c], n_boot=20).markdown()


ICDR = ("No DR", "Mild", "Moderate", "Severe", "PDR")


def _report_lines(run: Path, start: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The lines of the run's report.md (drac_ssl.report.write_report) that start with
    ``start``; its figures are empty files (drawing them takes seconds and says nothing here)."""
    from drac_ssl import report

    def no_figure(*args: object, **kwargs: object) -> Path:
        path = next(arg for arg in args if isinstance(arg, Path))
        path.touch()
        return path

    for name in ("plot_comparison", "plot_confusion", "plot_roc", "plot_history"):
        monkeypatch.setattr(report, name, no_figure)
    text = report.write_report(run).read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line.startswith(start)]


def _cells(text: str, start: str) -> list[str]:
    """The cells of the first Markdown table row that starts with ``start``."""
    row = next(line for line in text.splitlines() if line.startswith(start))
    return [cell.strip() for cell in row.strip().strip("|").split("|")]


def test_referable_dr_figures_are_shown_as_the_runs_report_words_them(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """compare showed QWK, accuracy and AUC of ICDR runs but not the referable-DR figures their
    report.md and console give: now the table, the CSV and one line per variant in the report's
    words; a run without them says why (an older run; finetune.referable_from=off)."""
    icdr = make_run(tmp_path, "icdr", ["data.grades=[icdr]"], k=5, n=20, names=ICDR)
    _add_patients(icdr, per_patient=4, n=20)  # its CIs resampled 5 patients
    older = make_run(tmp_path, "older", ["data.grades=[icdr]"], k=5, n=20, names=ICDR, screening=False)
    off = make_run(tmp_path, "off", ["data.grades=[icdr]", "finetune.referable_from=off"], k=5, n=20,
                   names=ICDR)
    comparison = compare_runs([icdr, older, off], n_boot=20)
    assert comparison.problems == []
    text = comparison.markdown()
    header = _cells(text, "| run |")
    assert header[1] == "finetune.referable_from"
    assert header[-3:] == ["referable AUC (95% CI)", "sensitivity", "specificity"]
    refs = {variant: json.loads((icdr / "finetune" / variant / "metrics.json").read_text())["referable"]
            for variant in ("scratch", "vicreg")}
    lo, hi = refs["scratch"]["auc_ci95"]
    assert 0 < lo < hi < 1 and 0 < refs["scratch"]["specificity"] < 1
    assert _cells(text, "| icdr | auto | scratch |")[-3:] == [
        f"{refs['scratch']['auc']:.3f} ({lo:.3f}..{hi:.3f})", f"{refs['scratch']['sensitivity']:.3f}",
        f"{refs['scratch']['specificity']:.3f}"]
    # every image right: an AUC interval of width 0 is said as the QWK's, not as certainty
    assert _cells(text, "| icdr | auto | vicreg |")[-3:] == [
        "1.000 (CI not meaningful: every resample gives 1.000: no resample of these images changes it)",
        "1.000", "1.000"]
    for ref in refs.values():
        assert f"Referable DR: {referable_summary(ref)}." in text  # the report's and the console's words
    assert _cells(text, "| older | auto | vicreg |")[-3:] == ["n/a", "n/a", "n/a"]
    assert _cells(text, "| off | off | vicreg |")[-3:] == ["n/a", "n/a", "n/a"]
    said = _report_lines(icdr, "Referable DR: ", monkeypatch)
    assert len(said) == 2 and all(line in text for line in said)
    # the AUC's CI: the run's own bootstrap, on the resamples of its QWK's (here patients)
    assert "referable = grade >= 2 (Moderate or worse)" in text
    assert "the run's own bootstrap on the same resamples as its QWK's" in text
    assert "`older`: no referable-DR figures recorded (a run made before they were stored)" in text
    assert "`off`: no referable-DR figures (finetune.referable_from=off)" in text

    out_csv = tmp_path / "table.csv"
    assert main([str(icdr), str(older), str(off), "--n-boot", "20", "--csv", str(out_csv)]) == 0
    assert "Referable DR: " in capsys.readouterr().out  # the console prints the same text
    with open(out_csv, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0])[-5:] == ["referable_auc", "referable_auc_ci_low", "referable_auc_ci_high",
                                  "referable_sensitivity", "referable_specificity"]
    ref = json.loads((icdr / "finetune" / "vicreg" / "metrics.json").read_text())["referable"]
    assert float(rows[1]["referable_auc"]) == pytest.approx(ref["auc"], rel=1e-5)
    assert float(rows[1]["referable_auc_ci_low"]) == pytest.approx(ref["auc_ci95"][0], rel=1e-5)
    assert float(rows[1]["referable_specificity"]) == pytest.approx(ref["specificity"], rel=1e-5)
    assert rows[3]["referable_auc"] == "" and rows[5]["referable_sensitivity"] == ""
    assert "sensitivity" not in rows[0]  # the two-grade columns only for two grades


def test_a_two_grade_run_shows_its_screening_figures_as_its_report_does(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two grades are read as a screening decision: the sensitivity and specificity of the
    submitted grades in the table, the CSV and the report's sentence; grade 1 is their
    referable cut (finetune.referable_from auto), so the referable AUC with its CI too. A run
    made with finetune.referable_from=off has the two-grade columns alone."""
    names = ["no referable DR", "referable DR"]
    two = make_run(tmp_path, "two", ["data.grades=[no referable DR, referable DR]"], k=2, names=names)
    comparison = compare_runs([two], n_boot=20)
    text = comparison.markdown()
    assert _cells(text, "| run |")[-4:] == ["macro F1", "referable AUC (95% CI)", "sensitivity", "specificity"]
    stored = json.loads((two / "finetune" / "scratch" / "metrics.json").read_text())
    ref = stored["referable"]
    assert ref["auc"] == pytest.approx(stored["auc"])  # two grades: the one AUC of P1
    assert _cells(text, "| two | scratch |")[-2:] == [f"{stored['sensitivity']:.3f}",
                                                      f"{stored['specificity']:.3f}"]
    said = _report_lines(two, "Two grades, read as a screening decision", monkeypatch)
    assert len(said) == 2 and all(line in text for line in said)
    assert ("Two grades, read as a screening decision (referable = grade 1, referable DR: 12 images of grade 1 "
            "and 12 of grade 0), out of fold, at cross-fitted thresholds") in text
    x, n = stored["referable"]["sensitivity_counts"]
    assert (f"sensitivity {stored['sensitivity']:.3f} ({x}/{n} images; 95% CI ") in text
    rows = list(csv.DictReader(comparison.table_csv().splitlines()))
    assert list(rows[0])[-3:] == ["referable_specificity", "sensitivity", "specificity"]
    assert float(rows[0]["specificity"]) == pytest.approx(stored["specificity"], rel=1e-5)
    off = make_run(tmp_path, "off", ["data.grades=[no referable DR, referable DR]",
                                     "finetune.referable_from=off"], k=2, names=names)
    plain = compare_runs([off], n_boot=20)
    assert _cells(plain.markdown(), "| run |")[-3:] == ["macro F1", "sensitivity", "specificity"]
    assert "referable_auc" not in list(csv.DictReader(plain.table_csv().splitlines()))[0]
    # a run whose comparison rows predate the screening columns: its metrics.json has them
    path = two / "finetune" / "comparison.json"
    saved = json.loads(path.read_text())
    for row in saved["rows"]:
        del row["sensitivity"], row["specificity"]
    path.write_text(json.dumps(saved))
    again = compare_runs([two], n_boot=20).markdown()
    assert _cells(again, "| two | scratch |") == _cells(text, "| two | scratch |")


@pytest.mark.parametrize("flag", ["--csv", "--md"])
def test_an_output_that_is_a_folder_is_named_as_typed_before_comparing(
        tmp_path: Path, flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "existing"
    folder.mkdir()
    assert main([str(tmp_path / "no-run"), flag, str(folder)]) == 2
    err = capsys.readouterr().err
    assert f"{folder}: {flag} is a folder" in err and ".tmp-" not in err and "no-run" not in err


def test_the_n_boot_help_names_the_near_twin_groups_first(capsys: pytest.CaptureFixture[str]) -> None:
    """--n-boot resamples the units the folds kept whole (oof.patient_groups): the near-twin
    groups (fold_group) before the patients, as the module says; the help said patients only."""
    from drac_ssl import compare

    compare.main(["--help"])  # argparse's exit is caught: the help is printed
    text = " ".join(capsys.readouterr().out.split())
    assert ("of the near-twin groups the folds kept whole when the run's data/manifest.csv has them "
            "(its fold_group column, data.near_duplicate_mse), else of the patients") in text


def test_every_interval_of_compare_md_says_what_it_holds_fixed(tmp_path: Path) -> None:
    """Methods audit F7: report.md and metrics.json say that their bootstrap CIs hold the trained
    fold models fixed (another seed or fold split is not in them); compare.md set such CIs side
    by side without a word. Its runs table, its paired differences and --between's table now say
    it in the same words (drac_ssl.grading.bundle.CI_HELD_FIXED)."""
    from drac_ssl.grading.bundle import CI_HELD_FIXED

    base = make_run(tmp_path, "base")
    other = make_run(tmp_path, "mlp", ["finetune.head=mlp"])
    text = compare_runs([base, other], n_boot=20, between=True).markdown()
    legends = [line for line in text.splitlines() if CI_HELD_FIXED in line]
    assert len(legends) == 3, legends
    assert legends[0].startswith("Out-of-fold metrics of each run's")
    assert legends[1].startswith("Difference on all out-of-fold images (95% CI): paired percentile bootstrap")
    assert legends[2].startswith("The same variant of two runs on the same out-of-fold images")
    assert "training randomness, such as another seed or fold split, is not in the interval" in CI_HELD_FIXED


def test_a_setting_an_old_run_lacks_is_todays_default_and_different_code_is_said(tmp_path: Path) -> None:
    """An upgrade review compared an old run (code of unknown version, its config.yaml without
    finetune.referral_target, fold records without train_views) with a new one: the absent key
    was a differing setting though the new run had the default, and nothing said that the runs
    were made by different code or that the fine-tuning procedure had changed."""
    new = make_run(tmp_path, "new", code={"git_commit": "d1d7a26", "git_dirty": False,
                                          "code_fingerprint": "d" * 64})
    old = make_run(tmp_path, "old", code={"git_commit": "unknown", "git_dirty": None,
                                          "code_source": "untracked source tree"})
    config = yaml.safe_load((old / "config.yaml").read_text())
    del config["finetune"]["referral_target"]
    (old / "config.yaml").write_text(yaml.safe_dump(config))
    for run, views in ((old, None), (new, "per-sample seeds")):
        for fold in (0, 1):
            record = {"fold": fold, "signature": "s", **({"train_views": views} if views else {})}
            (run / "finetune" / "vicreg" / f"fold{fold}.json").write_text(json.dumps(record))
    comparison = compare_runs([old, new], n_boot=20)
    assert comparison.setting_keys == []  # the absent key is the default, as the new run's
    text = comparison.markdown()
    assert ("The runs were not all made by the same code (`old` code of unknown version (not a git checkout, "
            "no fingerprint recorded); `new` commit d1d7a26): differences among them may come from "
            "changes of the code, not only from the settings that differ.") in text
    assert ("`old`: the vicreg variant(s)' fine-tuning folds were trained by an older drac_ssl" in text
            and "the fine-tuning procedure changed since" in text and "`new`:" not in text)
    rows = list(csv.DictReader(comparison.table_csv().splitlines()))
    assert rows[0]["code"].startswith("code of unknown version") and rows[-1]["code"] == "commit d1d7a26"
    # the same code in both (the default): no note, no column
    same = compare_runs([make_run(tmp_path, "a"), make_run(tmp_path, "b")], n_boot=20)
    assert not any("same code" in note for note in same.notes) and "code" not in same.table_csv().splitlines()[0]
    # one archive's runs: no commit, the same fingerprint, is the same code; another is not
    archive = {"git_commit": "unknown", "git_dirty": None, "code_fingerprint": "a" * 64}
    c, d = make_run(tmp_path, "c", code=archive), make_run(tmp_path, "d", code=archive)
    assert not any("same code" in note for note in compare_runs([c, d], n_boot=20).notes)
    e = make_run(tmp_path, "e", code={**archive, "code_fingerprint": "e" * 64})
    (note,) = [n for n in compare_runs([c, e], n_boot=20).notes if "same code" in n]
    assert f"`c` code fingerprint {'a' * 12}; `e` code fingerprint {'e' * 12}" in note
    # two edits of one commit: the fingerprints tell them apart, and say so (F2 of an upgrade review)
    edit = {"git_commit": "17e12e1", "git_dirty": True}
    f = make_run(tmp_path, "f", code={**edit, "code_fingerprint": "f" * 64})
    g = make_run(tmp_path, "g", code={**edit, "code_fingerprint": "9" * 64})
    (note,) = [n for n in compare_runs([f, g], n_boot=20).notes if "same code" in n]
    assert f"`f` commit 17e12e1 (dirty), fingerprint {'f' * 12}; `g` commit 17e12e1 (dirty), fingerprint" in note
    # a docs-only commit: another commit, the same Python source, is the same code
    h = make_run(tmp_path, "h", code={"git_commit": "54e10d4", "git_dirty": False, "code_fingerprint": "f" * 64})
    assert not any("same code" in n for n in compare_runs([f, h], n_boot=20).notes)


def test_keep_best_rows_are_marked_and_their_caveat_said_once(tmp_path: Path) -> None:
    """A run fine-tuned with finetune.keep=best: its rows and its paired differences are marked
    and KEEP_BEST_CAVEAT is said once (a selection-bias audit F1: the tables showed them bare);
    a keep=last run beside it is not marked."""
    from drac_ssl.figures import KEEP_BEST_CAVEAT

    best = make_run(tmp_path, "best", ["finetune.keep=best"])
    last = make_run(tmp_path, "last")
    text = compare_runs([best, last], n_boot=20).markdown()
    assert "| best | best | scratch (keep=best) |" in text
    assert "| last | last | scratch |" in text
    assert "| best | vicreg − scratch (keep=best) |" in text and "| last | vicreg − scratch |" in text
    assert text.count(KEEP_BEST_CAVEAT) == 1
    assert f"**Figures marked keep=best** (and the differences made of them): {KEEP_BEST_CAVEAT}." in text


def test_a_variant_s_recorded_keep_wins_over_its_run_s_config(tmp_path: Path) -> None:
    """A run whose config.yaml says keep=best but whose fine-tuned variants' metrics.json record
    keep=last (how its folds did run: config.variant_keep reads the record first) is not marked
    keep=best (a mutation audit M26: compare read the config alone)."""
    from drac_ssl.figures import KEEP_BEST_CAVEAT

    said_best = make_run(tmp_path, "said-best", ["finetune.keep=best"])
    for path in said_best.glob("finetune/*/metrics.json"):
        path.write_text(json.dumps({**json.loads(path.read_text()), "keep": "last"}))
    comparison = compare_runs([said_best, make_run(tmp_path, "last")], n_boot=20)
    text = comparison.markdown()
    assert "| said-best | best | scratch |" in text, text  # its setting shown, its rows unmarked
    assert "(keep=best)" not in text and KEEP_BEST_CAVEAT not in text, text
    assert [v.keep for v in comparison.runs[0].variants.values()] == ["last", "last"]


def test_between_marks_a_difference_whose_first_run_alone_is_keep_best(tmp_path: Path) -> None:
    """--between's difference of a keep=last run minus a keep=best first run is marked too:
    either side's epochs chosen on the scored rows bias the difference (a mutation audit M19:
    a mark that looked at the later run only was not caught)."""
    best = make_run(tmp_path, "best", ["finetune.keep=best"])
    last = make_run(tmp_path, "last")
    text = compare_runs([best, last], n_boot=20, between=True).markdown()
    assert "| `last` − `best` | scratch (keep=best) |" in text
    assert "| `last` − `best` | vicreg (keep=best) |" in text


def test_a_run_made_before_finetune_keep_existed_is_keep_best(tmp_path: Path) -> None:
    """A run folder whose config.yaml and metrics.json lack finetune.keep ran as keep=best, the
    rule before the setting existed (config.DEFAULTS_BEFORE): shown so, marked, not with
    today's default (a selection-bias audit F2)."""
    old = make_run(tmp_path, "old")
    config = yaml.safe_load((old / "config.yaml").read_text())
    del config["finetune"]["keep"]
    (old / "config.yaml").write_text(yaml.safe_dump(config))
    assert all("keep" not in json.loads(p.read_text()) for p in old.glob("finetune/*/metrics.json"))
    new = make_run(tmp_path, "new")
    comparison = compare_runs([old, new], n_boot=20)
    assert comparison.setting_keys == ["finetune.keep"]
    assert comparison.runs[0].settings["finetune.keep"] == "best"
    text = comparison.markdown()
    assert "| old | best | scratch (keep=best) |" in text and "| new | last | scratch |" in text
    assert ("`old`'s `config.yaml` has no `finetune.keep` (written by older code, before the setting "
            "existed): shown with the value that code ran under, best, not today's default.") in text


def test_the_intervals_say_they_leave_out_a_choice_made_on_their_rows() -> None:
    """The CI wording's one source (report.md's and the model card's protocol through
    ci_resampling_words, compare's legends) says that the interval does not account for
    choosing the variant, nor under keep=best the epoch, on the same rows (selection-bias
    audit F5)."""
    from drac_ssl.grading.bundle import CI_HELD_FIXED, ci_resampling_words

    clause = ("nor is a choice made on these same rows: which variant is exported and, under "
              "finetune.keep=best, each fold's epoch)")
    assert CI_HELD_FIXED.endswith(clause)
    assert ci_resampling_words({"ci_resamples": "images", "ci_units": 40}, 100).endswith(clause)


def test_runs_whose_out_of_fold_files_are_byte_identical_are_noted_as_one_run_repeated(tmp_path: Path) -> None:
    """A reproducibility review: two runs of the same settings and seed (byte-identical
    oof.csv, as the CPU gives) appeared as two rows, readable as two replicates."""
    first, again = make_run(tmp_path, "first"), make_run(tmp_path, "again")
    comparison = compare_runs([first, again], n_boot=N_BOOT)
    same = [note for note in comparison.notes if "byte-identical out-of-fold files" in note]
    assert same == ["`first` and `again` (scratch, vicreg): byte-identical out-of-fold files: these rows "
                    "repeat each other, they are not independent replicates."], same
    assert same[0] in comparison.markdown()
    oof = again / "finetune" / "vicreg" / "oof.csv"
    oof.write_text(oof.read_text(encoding="utf-8").replace("img000.png", "img999.png"), encoding="utf-8")
    same = [note for note in compare_runs([first, again], n_boot=N_BOOT).notes if "byte-identical" in note]
    assert [note.split(":")[0] for note in same] == ["`first` and `again` (scratch)"], same


def test_a_byte_identical_scratch_of_an_ablation_is_not_called_the_same_run_made_again(tmp_path: Path) -> None:
    """A review: the note said "the same run made again (same settings, seed, ...)" of an
    ablation's scratch, which never reads the pretraining, so it is identical across runs
    whose settings differ; and it repeated run.reuse's own note of a variant taken over."""
    base = make_run(tmp_path, "base")
    other = make_run(tmp_path, "other", ["pretrain.epochs=7"])
    (taken,) = [n for n in compare_runs([base, other], n_boot=N_BOOT).notes if "byte-identical" in n]
    assert "same run" not in taken and "settings" not in taken, taken
    metrics = other / "finetune" / "vicreg" / "metrics.json"  # other's vicreg taken from base
    metrics.write_text(json.dumps({**json.loads(metrics.read_text()), "folds_taken_from": {str(base): [0, 1]}}))
    notes = compare_runs([base, other], n_boot=N_BOOT).notes
    assert [n.split(":")[0] for n in notes if "byte-identical" in n] == ["`base` and `other` (scratch)"], notes
    assert any("fine-tuning of vicreg" in n and "was taken from `base`" in n for n in notes), notes


def test_two_grade_runs_show_one_auc_difference_and_count_the_cis_shown(tmp_path: Path) -> None:
    """Review of the stats branch, F4: with two grades the one-vs-one and one-vs-rest AUCs are
    both the ROC AUC of P1, yet compare's difference tables showed both as equal columns and
    counted four CIs per difference in their multiple-testing sentence. Catches a second AUC
    column or a count of cells not shown (three grades keep all four:
    test_chance_level_variants_are_noted_and_the_legend_counts_the_intervals)."""
    names = ["no referable DR", "referable DR"]
    runs = [make_run(tmp_path, name, ["data.grades=[no referable DR, referable DR]", *extra], k=2, names=names)
            for name, extra in (("two", ()), ("two-mlp", ("finetune.head=mlp",)))]
    text = compare_runs(runs, n_boot=20, between=True).markdown()
    assert _cells(text, "| run | difference |")[3:6] == ["accuracy", "QWK", "AUC OvR"]
    assert _cells(text, "| run | variant | images |")[3:6] == ["accuracy", "QWK", "AUC OvR"]
    assert "AUC OvO" not in text.split("## Pretrained minus")[1]
    assert "and this table has 6;" in text  # two differences x accuracy, QWK, AUC
    assert "and this table has 6." in text  # --between: two variants x the same three
    assert "the AUC of the probabilities (with two grades one-vs-one and one-vs-rest coincide, both" in text


def test_runs_of_two_and_five_grades_keep_the_one_vs_one_auc_column() -> None:
    """Mutation audit M45: the one-vs-one AUC column is dropped only when EVERY run has two
    grades (its one-vs-one and one-vs-rest AUCs then coincide); a five-grade run beside a
    two-grade one keeps it."""
    from types import SimpleNamespace

    from drac_ssl.compare import PAIRED_METRICS, Comparison

    def metrics(*grades: int) -> tuple[str, ...]:
        return Comparison.paired_metrics(SimpleNamespace(runs=[SimpleNamespace(num_grades=k) for k in grades]))

    assert "auc_ovo" in PAIRED_METRICS
    assert metrics(2, 5) == PAIRED_METRICS
    assert "auc_ovo" not in metrics(2, 2)


def test_unwritable_stdout_is_named_and_the_files_still_written(tmp_path, monkeypatch, capsys):
    """``compare A B > /dev/full``: exit 2 naming stdout, not a traceback (exit 1); --csv written."""
    import errno

    a, b = make_run(tmp_path, "a"), make_run(tmp_path, "b")

    class Full:
        def write(self, text):
            raise OSError(errno.ENOSPC, "No space left on device")

        def flush(self):
            pass

    monkeypatch.setattr("sys.stdout", Full())
    table = tmp_path / "c.csv"
    assert main([str(a), str(b), "--csv", str(table)]) == 2
    err = capsys.readouterr().err
    assert "error: stdout could not be written (No space left on device)" in err and "Traceback" not in err
    assert table.is_file()


def test_help_lists_the_exit_codes(capsys):
    assert main(["--help"]) == 0
    said = " ".join(capsys.readouterr().out.split())
    assert "Exit codes: 0 compared;" in said and f"{RUN_BUSY} a run folder's training is still running" in said
    assert ("1 compared, but the runs not comparable (stderr says 'error: the runs grade on scales of "
            "different sizes'" in said and "or an unexpected error (a traceback, no comparison)" in said)
    assert "2 a run folder that cannot be compared" in said and "a bad option;" in said
