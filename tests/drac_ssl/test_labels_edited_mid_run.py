"""A grade corrected in the label CSV while a run is unfinished is never silently ignored (a
careless-user review, F4: interrupted in the pretraining, a grade corrected, the same command
rerun: one ``[preflight] warning`` among ~60 lines, and the fine-tuning used the old grade).
Before the fine-tuning starts, the resume stops with an error naming the changed grades and the
two ways on (a finished ingest is never redone in place); after it, the warning is repeated in
the run's last lines and in report.md's "Read this first"."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from data_prep import ingest
from data_prep.source_check import (
    changed_grades,
    data_changed_words,
    grade_differences,
    labels_edited,
)
from drac_ssl import preflight, train
from drac_ssl.config import DataConfig
from drac_ssl.report import _data_changed_lines

SETTINGS = ["pretrain.batch_size=8", "umm.batch_size=8", "data.n_folds=3"]


def _ingested_run(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "plain"
    root.mkdir()
    for i in range(12):
        cv2.imwrite(str(root / f"{i:03d}.png"), np.full((16, 16), 10 * i, np.uint8))
    (root / "labels.csv").write_text("image name,DR grade\n" + "".join(f"{i:03d}.png,{i % 3}\n" for i in range(12)))
    run_dir = tmp_path / "runs" / "x"
    ingest.run(DataConfig(root=str(root), cache_sizes=[16], n_folds=3, workers=1), run_dir / "data", verbose=False)
    (run_dir / "stages.json").write_text(json.dumps({
        "ingest": {"status": "done", "seconds": 1.0},
        "pretrain": {"status": "interrupted", "seconds": 3.0}}))
    return root, run_dir


def _data_findings(root: Path, run_dir: Path, stages: list[str]) -> list[preflight.Finding]:
    cfg, sources, _ = preflight.read_config(train.DEFAULT_CONFIG, [f"data.root={root}", *SETTINGS])
    return [f for f in preflight.check(cfg, run_dir, sources, stages=stages) if f.setting == "data.root"]


def test_a_grade_corrected_before_the_fine_tuning_stops_the_resume_with_the_ways_on(tmp_path: Path) -> None:
    root, run_dir = _ingested_run(tmp_path)
    stages = ["pretrain", "umm", "finetune", "export"]
    assert _data_findings(root, run_dir, stages) == [] and labels_edited(run_dir / "data") is None
    labels = root / "labels.csv"
    labels.write_text(labels.read_text().replace("002.png,2", "002.png,0"))
    (refused,) = _data_findings(root, run_dir, stages)
    assert refused.severity == "error", refused.line
    assert refused.what.startswith(f"the label CSV {labels} was edited since this run ingested it (1 grade(s) "
                                   f"differ from the ingest's: 002.png (line 4): 2 -> 0), and the fine-tuning "
                                   f"has not started"), refused.what
    assert "would fine-tune and be scored on the grades as they were ingested" in refused.what
    assert refused.fix.startswith("to fine-tune on the corrected grades, run the same command with "
                                  "run.name=<a new name>"), refused.fix
    assert f"to finish this run on the grades as ingested, put {labels} back as it was (SHA-256 " in refused.fix
    # the fine-tuning begun (its folder made): a resume keeps the grades it started on, warned
    (run_dir / "finetune").mkdir()
    (warned,) = _data_findings(root, run_dir, stages)
    assert warned.severity == "warning" and "goes on with the data as it was ingested" in warned.what
    # no fine-tuning ahead (run.stages without it): warned, as before
    (run_dir / "finetune").rmdir()
    assert _data_findings(root, run_dir, ["pretrain"])[0].severity == "warning"
    # put back as it was: quiet again
    labels.write_text(labels.read_text().replace("002.png,0", "002.png,2"))
    assert _data_findings(root, run_dir, stages) == []


def test_the_last_lines_and_the_report_repeat_a_change_made_after_the_ingest(tmp_path: Path) -> None:
    root, run_dir = _ingested_run(tmp_path)
    assert data_changed_words(run_dir / "data") == "" and _data_changed_lines(run_dir) == []
    labels = root / "labels.csv"
    labels.write_text(labels.read_text().replace("005.png,2", "005.png,1"))
    assert changed_grades(run_dir / "data") == ["005.png (line 7): 2 -> 1"]
    words = data_changed_words(run_dir / "data")
    assert words.startswith(f"the data changed since this run ingested it: the label CSV {labels} was edited "
                            f"(1 grade(s) differ from the ingest's: 005.png (line 7): 2 -> 1); every stage "
                            f"of this run was made from the data as it was ingested"), words
    (bullet,) = _data_changed_lines(run_dir)
    assert bullet.startswith("- **The data changed since this run ingested it**: the label CSV"), bullet


def test_a_finished_run_says_the_change_again_in_its_last_lines(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from fake_ingest import make_finished_run

    run_dir = make_finished_run(tmp_path / "runs" / "done")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("drac_ssl.report.write_report", lambda run: run / "report.md")  # no figures of empty files
    said = "the data changed since this run ingested it: the label CSV L was edited"
    seen: list[Path] = []
    monkeypatch.setattr("data_prep.source_check.data_changed_words", lambda data: seen.append(data) or said)
    assert train.main(["-c", str(run_dir / "config.yaml")]) == 0
    out = capsys.readouterr().out.splitlines()
    finished = next(i for i, line in enumerate(out) if line.startswith("[train] finished:"))
    assert f"[train] warning: {said}" in out[finished:], out[finished:]
    assert [p.resolve() for p in seen] == [(run_dir / "data").resolve()]


@pytest.mark.parametrize("edit", ["crlf", "bom", "reorder", "blank line"])
def test_a_label_csv_saved_again_with_no_grade_changed_is_warned_not_refused(edit: str, tmp_path: Path) -> None:
    """A review: any byte change (a spreadsheet saving CRLF, a BOM, the rows sorted, a blank
    line) stopped the resume as 'edited' though no grade changed; it is the warning, saying
    that no grade differs."""
    root, run_dir = _ingested_run(tmp_path)
    labels = root / "labels.csv"
    header, *rows = labels.read_text().splitlines()
    text = {"crlf": "\r\n".join([header, *rows]) + "\r\n",
            "bom": "\ufeff" + "\n".join([header, *rows]) + "\n",
            "reorder": "\n".join([header, *reversed(rows)]) + "\n",
            "blank line": "\n".join([header, *rows[:5], "", *rows[5:]]) + "\n"}[edit]
    labels.write_bytes(text.encode("utf-8"))
    assert labels_edited(run_dir / "data") == labels and changed_grades(run_dir / "data") == []
    (warned,) = _data_findings(root, run_dir, ["pretrain", "umm", "finetune", "export"])
    assert warned.severity == "warning", warned.line
    assert f"the label CSV {labels} was edited (no grade differs from the ingest's" in warned.what, warned.what


def test_a_grade_corrected_in_a_run_that_reused_an_ingest_is_told_a_new_run_without_reuse(tmp_path: Path) -> None:
    """A review: with run.reuse the fix 'the same command with run.name=<a new name>' took the
    old ingest again and stopped again; it says to leave run.reuse out."""
    root, run_dir = _ingested_run(tmp_path)
    stages = ["pretrain", "umm", "finetune", "export"]
    labels = root / "labels.csv"
    labels.write_text(labels.read_text().replace("002.png,2", "002.png,0"))
    (plain,) = _data_findings(root, run_dir, stages)
    assert "run.reuse" not in plain.fix, plain.fix
    status = json.loads((run_dir / "stages.json").read_text())
    status["ingest"]["reused_from"] = str(tmp_path / "runs" / "base")
    (run_dir / "stages.json").write_text(json.dumps(status))
    (taken,) = _data_findings(root, run_dir, stages)
    assert taken.severity == "error"
    assert taken.fix.startswith("to fine-tune on the corrected grades, run the same command with "
                                "run.name=<a new name> run.reuse='' (a new run without run.reuse"), taken.fix
    assert f"it would take the ingest of {tmp_path / 'runs' / 'base'}, made from the old grades" in taken.fix
    # run.reuse set in the command (the ingest not recorded as taken): the same advice
    del status["ingest"]["reused_from"]
    (run_dir / "stages.json").write_text(json.dumps(status))
    cfg, sources, _ = preflight.read_config(train.DEFAULT_CONFIG, [f"data.root={root}", *SETTINGS,
                                                                    f"run.reuse={tmp_path / 'runs' / 'base'}"])
    (told,) = [f for f in preflight.check(cfg, run_dir, sources, stages=stages) if f.setting == "data.root"]
    assert "run.reuse='' (a new run without run.reuse" in told.fix, told.fix


@pytest.mark.parametrize("also_added", [False, True], ids=["only-resaved", "and-an-image-added"])
def test_the_last_lines_say_plainly_that_no_grade_differs_after_a_resave(also_added: bool, tmp_path: Path) -> None:
    """The run's last lines (train's ``[train] warning:``, data_changed_words) and report.md's
    bullet said only "the label CSV ... was edited; every stage of this run was made from the
    data as it was ingested, not from the changes (to use them: ... a new run folder)" for a
    CSV saved again with the same grades, which the preflight had only warned of: a user took it
    for a corrected grade the run had missed. They say that no grade differs."""
    root, run_dir = _ingested_run(tmp_path)
    labels = root / "labels.csv"
    labels.write_bytes(labels.read_bytes().replace(b"\n", b"\r\n"))  # a spreadsheet's re-save
    if also_added:
        cv2.imwrite(str(root / "new.png"), np.full((16, 16), 7, np.uint8))
    assert changed_grades(run_dir / "data") == []
    words = data_changed_words(run_dir / "data")
    assert (f"the label CSV {labels} was edited, but no grade differs from the ingest's: only its bytes "
            f"changed" if not also_added else
            f"the label CSV {labels} was edited (no grade differs from the ingest's: only its bytes changed") in words, words
    if also_added:  # the image added is a change the run did not read: its advice stays
        assert "to use them: the same command with run.name=<a new name>" in words, words
    else:
        assert words.endswith("the grades this run was made from are the CSV's, so there is nothing to "
                              "redo"), words
        assert "to use them" not in words and "not from the changes" not in words, words
    (bullet,) = _data_changed_lines(run_dir)
    assert "no grade differs from the ingest's" in bullet, bullet


@pytest.mark.parametrize("edit, differences", [
    ("row deleted", ["005.png: 2 -> (no row)"]),
    ("grade blanked", ["005.png (line 7): 2 -> (empty)"]),
    ("file cut short", [f"{i:03d}.png: {i % 3} -> (no row)" for i in range(6, 12)]),
    ("row added", ["new.png (line 14): (not ingested) -> 1"]),
])
def test_rows_deleted_blanked_cut_off_or_added_are_differences_not_a_resave(
        edit: str, differences: list[str], tmp_path: Path) -> None:
    """A review: the comparison looked only at rows both in the CSV and the manifest, so a row
    deleted, a grade blanked (``005.png,``), a file cut short or a row added was "no grade
    differs ... only its bytes changed ... nothing to redo" in the last lines and report.md,
    and "only its bytes changed" in the preflight's warning. Each is a difference, named, and
    the old advice stands."""
    root, run_dir = _ingested_run(tmp_path)
    labels = root / "labels.csv"
    lines = labels.read_text().splitlines(keepends=True)
    edited = {"row deleted": [line for line in lines if not line.startswith("005.png")],
              "grade blanked": ["005.png,\n" if line.startswith("005.png") else line for line in lines],
              "file cut short": lines[:7],
              "row added": [*lines, "new.png,1\n"]}[edit]
    labels.write_text("".join(edited))
    data = run_dir / "data"
    assert grade_differences(data) == differences
    words = data_changed_words(data)
    assert "only its bytes changed" not in words and "nothing to redo" not in words, words
    assert f"({len(differences)} grade(s) differ from the ingest's: {differences[0]}" in words, words
    assert "to use them: the same command with run.name=<a new name>" in words, words
    (bullet,) = _data_changed_lines(run_dir)
    assert "only its bytes changed" not in bullet and differences[0] in bullet, bullet
    stages = ["pretrain", "umm", "finetune", "export"]
    (refused,) = _data_findings(root, run_dir, stages)  # the fine-tuning ahead: stopped, named
    assert refused.severity == "error" and differences[0] in refused.what, refused.what
    (run_dir / "finetune").mkdir()  # begun: the warning names them, not "only its bytes"
    (warned,) = _data_findings(root, run_dir, stages)
    assert warned.severity == "warning", warned.line
    assert "only its bytes changed" not in warned.what and differences[0] in warned.what, warned.what


def test_rows_the_ingest_left_out_or_matched_loosely_compare_equal_after_a_resave(tmp_path: Path) -> None:
    """The stricter comparison (every ingested image needs its row, every graded row its
    image) still calls a mere re-save a re-save when the ingest left a row out for its missing
    image (data.missing=leave_out) or matched a name by letter case or by its stem."""
    root = tmp_path / "plain"
    root.mkdir()
    for i in range(6):
        cv2.imwrite(str(root / f"{i:03d}.png"), np.full((16, 16), 10 * i, np.uint8))
    rows = [f"{i:03d}.png,{i % 3}" for i in range(3)] + ["003.PNG,0", "004,1", "005.png,2", "ghost.png,1"]
    labels = root / "labels.csv"
    labels.write_text("image name,DR grade\n" + "\n".join(rows) + "\n")
    run_dir = tmp_path / "runs" / "x"
    ingest.run(DataConfig(root=str(root), cache_sizes=[16], n_folds=2, workers=1, missing="leave_out"),
               run_dir / "data", verbose=False)
    labels.write_bytes(labels.read_bytes().replace(b"\n", b"\r\n"))
    assert grade_differences(run_dir / "data") == []
    labels.write_text(labels.read_text().replace("004,1", "004,2"))
    assert grade_differences(run_dir / "data") == ["004 (line 6): 1 -> 2"]
