"""A small imbalanced set (a trial's 45 images, 30/12/3 over Normal/NPDR/PDR, PDR from 2
patients): what a run says of its size before the stages and in report.md (small-set review)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from data_prep import ingest
from drac_ssl import preflight
from drac_ssl.config import DataConfig

GRADES = [0] * 30 + [1] * 12 + [2] * 3
PATIENTS = [f"n{i % 20}" for i in range(30)] + [f"m{i % 4}" for i in range(12)] + ["r0", "r0", "r1"]
SCALE = "data.grades=[Normal, NPDR, PDR]"


def _clinic(root: Path, grades: list[int] = GRADES, patients: list[str] | None = PATIENTS,
            images: bool = False) -> Path:
    root.mkdir(parents=True)
    for i in range(len(grades)):
        if images:
            cv2.imwrite(str(root / f"{i:03d}.png"), np.full((16, 16), (7 * i) % 250 + 3, np.uint8))
        else:
            (root / f"{i:03d}.png").write_bytes(b"not decoded by the preflight")
    head = "image name,DR grade" + (",patient" if patients else "")
    rows = [f"{i:03d}.png,{g}" + (f",{patients[i]}" if patients else "") for i, g in enumerate(grades)]
    (root / "labels.csv").write_text("\n".join([head, *rows]) + "\n")
    return root


def _notes(root: Path, *overrides: str) -> list[str]:
    cfg, sources, _ = preflight.read_config(None, [f"data.root={root}", SCALE, "pretrain.batch_size=8",
                                                   "umm.batch_size=8", "run.device=cpu", *overrides])
    return [f.line for f in preflight.check(cfg, Path("runs-not-there") / "x", sources) if f.severity == "note"]


def test_a_small_set_is_said_before_the_stages_with_its_rare_grades_and_half_data_folds(tmp_path: Path) -> None:
    """F1: a full run on 45 images said nothing of their number before its hours; the note names
    each grade under preflight.SMALL_GRADE images or patients, rarest first, and 2 folds' half."""
    root = _clinic(tmp_path / "clinic")
    (note,) = _notes(root, "data.patient_column=patient", "data.n_folds=2")
    assert ("per-grade figures for PDR rest on 3 images (2 patients); NPDR on 12 images (4 patients); "
            "with data.n_folds=2 each fold's model trains on half the labelled images (about 22 of 45)") in note, note
    assert "Normal on" not in note  # 30 images of 20 patients: not small
    assert "fix: read those figures with their 95% intervals" in note
    # three folds: no half-data clause; without patients, images alone
    (note,) = _notes(_clinic(tmp_path / "nopatients", patients=None), "data.n_folds=3")
    assert note.split("\n")[0].endswith("labels.csv): per-grade figures for PDR rest on 3 images"), note


def test_a_set_of_ten_images_per_grade_gets_no_note(tmp_path: Path) -> None:
    root = _clinic(tmp_path / "even", grades=[0, 1, 2] * 10, patients=None)
    assert _notes(root, "data.n_folds=3") == []


def test_a_note_never_joins_a_refusal(tmp_path: Path) -> None:
    """The note is of use to a run that goes ahead: a refusal lists the errors and warnings."""
    root = _clinic(tmp_path / "clinic")
    cfg, sources, _ = preflight.read_config(None, [f"data.root={root}", SCALE, "data.n_folds=2",
                                                   "pretrain.batch_size=999", "run.device=cpu"])
    try:
        preflight.run(cfg, Path("runs-not-there") / "x", sources)
    except preflight.PreflightError as refused:
        assert "per-grade figures" not in str(refused)
        assert all(f.severity != "note" for f in refused.findings)
    else:
        raise AssertionError("pretrain.batch_size=999 on 45 images was not refused")


def test_report_md_reads_the_small_set_first(tmp_path: Path) -> None:
    """F1: report.md's "Read this first" names the rare grades, from the run's ingest."""
    from drac_ssl.report import write_report

    root = _clinic(tmp_path / "clinic", images=True)
    run = tmp_path / "runs" / "small"
    ingest.run(DataConfig(root=str(root), cache_sizes=[16], n_folds=2, workers=1, patient_column="patient",
                          grades=["Normal", "NPDR", "PDR"]), run / "data", verbose=False)
    assert preflight.ingest_small_set_words(run / "data") == (
        "per-grade figures for PDR rest on 3 images (2 patients); NPDR on 12 images (4 patients); with "
        "data.n_folds=2 each fold's model trains on half the labelled images (about 22 of 45)")
    # without a fine-tuning (fix-up F7): no bullet, its fix names a per-grade AUC line none wrote
    assert "Per-grade figures" not in write_report(run).read_text()
    (run / "finetune").mkdir()
    text = write_report(run).read_text()
    first = text.split("## Read this first", 1)[1].split("\n## ", 1)[0]
    assert "Per-grade figures for PDR rest on 3 images of 2 patients; NPDR on 12 images of 4 patients" in first, first
    assert "2 folds is the most this set allows" in text  # fix-up F1: the data section, the rarest grade's folds


def test_a_refused_referable_cut_on_another_scale_is_said_once_in_settings_without_a_false_empty_grade(
        tmp_path: Path) -> None:
    """F6: data.referable_from=1 beside a 3-grade scale of one's own was refused twice (the
    second in the ingest's --referable-from / --grades words a train user never typed), the
    source label spliced into the list (data.grades=[Normal (command line ...), NPDR, PDR]), and
    warned of a grade 2 (PDR) without an image beside 3 of them (counted after binarising)."""
    root = _clinic(tmp_path / "clinic")
    cfg, sources, _ = preflight.read_config(None, [f"data.root={root}", SCALE, "data.referable_from=1",
                                                   "data.patient_column=patient", "data.n_folds=2",
                                                   "pretrain.batch_size=8", "umm.batch_size=8"])
    lines = [f.line for f in preflight.check(cfg, Path("runs-not-there") / "x", sources)]
    said = [line for line in lines if "makes two grades" in line]
    assert len(said) == 1, lines
    assert "--referable-from" not in said[0] and "--grades" not in said[0], said[0]
    assert "data.grades=[Normal, NPDR, PDR] (command line 'data.grades=[Normal, NPDR, PDR]') names 3" in said[0], said[0]
    assert not [line for line in lines if "no labelled image" in line], lines


def test_keep_best_says_its_optimism_in_the_result_line_and_read_this_first(tmp_path: Path) -> None:
    """F4: finetune.keep=best's caveat (the epoch chosen on the rows it scores) was only in the
    comparison's protocol, deep in report.md: now in the train result line and "Read this first"."""
    import json

    import yaml

    from drac_ssl import train
    from drac_ssl.figures import KEEP_BEST_CAVEAT
    from drac_ssl.report import write_report

    run = tmp_path / "run"
    (run / "finetune" / "vicreg").mkdir(parents=True)
    (run / "finetune" / "summary.json").write_text(json.dumps({"selected": "vicreg"}))
    metrics = {"n": 45, "qwk": 0.4, "qwk_ci95": [0.03, 0.64], "auc": 0.67, "keep": "best"}
    (run / "finetune" / "vicreg" / "metrics.json").write_text(json.dumps(metrics))
    assert f". Figures {KEEP_BEST_CAVEAT}" in train.result_line(run)
    (run / "finetune" / "vicreg" / "metrics.json").write_text(json.dumps({**metrics, "keep": "last"}))
    assert "keep=best" not in train.result_line(run)
    # report.md: a bold lead under the comparison's protocol, so "Read this first" lists it (the
    # selected variant's recorded keep is read first, as train's result line and compare read it)
    (run / "finetune" / "vicreg" / "metrics.json").write_text(json.dumps(metrics))
    (run / "config.yaml").write_text(yaml.safe_dump({"finetune": {"keep": "best"}}))
    (run / "finetune" / "comparison.json").write_text(json.dumps(
        {"rows": [{"variant": "vicreg", "n": 45, "qwk": 0.4}], "protocol": "5-fold cross-validation"}))
    text = write_report(run).read_text()
    first = text.split("## Read this first", 1)[1].split("\n## ", 1)[0]
    assert "- Figures chosen on the rows they score" in first, first


def test_a_run_made_before_finetune_keep_existed_says_keep_bests_caveat(tmp_path: Path) -> None:
    """A run folder whose config.yaml and metrics.json lack finetune.keep ran as keep=best (the
    rule before the setting existed, config.DEFAULTS_BEFORE): report.md's "Read this first" and
    the train result line say the caveat, as for a run that names it (a selection-bias audit
    F2: the raw config.yaml was read, and the caveat lost)."""
    import json

    import yaml

    from drac_ssl import train
    from drac_ssl.figures import KEEP_BEST_CAVEAT
    from drac_ssl.report import write_report

    run = tmp_path / "run"
    (run / "finetune" / "vicreg").mkdir(parents=True)
    (run / "finetune" / "summary.json").write_text(json.dumps({"selected": "vicreg"}))
    (run / "finetune" / "vicreg" / "metrics.json").write_text(json.dumps(
        {"n": 45, "qwk": 0.4, "qwk_ci95": [0.03, 0.64], "auc": 0.67}))
    (run / "config.yaml").write_text(yaml.safe_dump({"finetune": {"epochs": 2}}))
    (run / "finetune" / "comparison.json").write_text(json.dumps(
        {"rows": [{"variant": "vicreg", "n": 45, "qwk": 0.4}], "protocol": "5-fold cross-validation"}))
    assert f". Figures {KEEP_BEST_CAVEAT}" in train.result_line(run)
    first = write_report(run).read_text().split("## Read this first", 1)[1].split("\n## ", 1)[0]
    assert "- Figures chosen on the rows they score" in first, first
    (run / "config.yaml").write_text(yaml.safe_dump({"finetune": {"epochs": 2, "keep": "last"}}))
    assert "keep=best" not in train.result_line(run)


def test_the_ingest_reads_grades_written_as_the_pipelines_list(tmp_path: Path) -> None:
    """F7: ``--grades '[Normal, NPDR, PDR]'`` (data.grades' form, which train takes) made the
    grade names "[Normal" and "PDR]" without a word; the brackets are the list's now, and a
    bracket inside a name is refused with the two forms."""
    import argparse

    import pytest

    parser = argparse.ArgumentParser()
    ingest.add_arguments(parser)
    read = parser.parse_args(["--root", "x", "--out", "y", "--grades", "[Normal, NPDR, PDR]"])
    assert read.grades == ["Normal", "NPDR", "PDR"]
    assert parser.parse_args(["--root", "x", "--out", "y", "--grades", "Normal,NPDR,PDR"]).grades == [
        "Normal", "NPDR", "PDR"]
    with pytest.raises(argparse.ArgumentTypeError, match=r"holds an unpaired bracket; give the names comma-separated"):
        ingest._grades("Normal],[NPDR")


def test_the_small_set_fix_suggests_only_the_folds_its_rarest_grade_allows(tmp_path: Path) -> None:
    """Fix-up F1: the note's fix said data.n_folds=5, which the preflight then refused (PDR has 2
    patients: 2 folds at most); it names the most folds the rarest grade's units allow, says
    when 2 is the most, and leaves the folds out when --first-try set them, not the user."""
    from drac_ssl.trial_run import first_try_overrides

    root = _clinic(tmp_path / "clinic")
    (note,) = _notes(root, "data.patient_column=patient", "data.n_folds=2")
    assert "data.n_folds=5" not in note and "2 folds is the most this set allows" in note, note
    # images alone: PDR's 3 images allow 3 folds, the most the fix names
    (note,) = _notes(_clinic(tmp_path / "nopatients", patients=None), "data.n_folds=2")
    assert "data.n_folds=3 trains each fold on 2/3 of them" in note and "n_folds=5" not in note, note
    assert preflight.most_folds({0: 30, 1: 12, 2: 3}, {0: 20, 1: 4, 2: 2}) == 2
    assert preflight.most_folds({0: 30, 1: 12, 2: 0}, None) == 5
    # --first-try's data.n_folds=2: neither its half-data clause nor a fold fix
    cfg, sources, _ = preflight.read_config(
        None, [f"data.root={root}", SCALE, "data.patient_column=patient", "run.device=cpu"],
        preset=first_try_overrides)
    assert cfg.data.n_folds == 2
    (note,) = [f.line for f in preflight.check(cfg, Path("runs-not-there") / "x", sources)
               if f.severity == "note" and "small set" in f.line]
    assert "n_folds" not in note and "folds is the most" not in note, note


def test_a_refused_referable_cut_leaves_out_the_fold_count_its_fix_changes(tmp_path: Path) -> None:
    """Fix-up F2: beside a refused data.referable_from=1, "data.n_folds=5: grade 2 (PDR) has only
    3 labelled images" came first, though the refusal's first fix (data.grades=[]: two grades)
    makes the 5 folds pass: the fold and empty-grade checks wait for that fix."""
    root = _clinic(tmp_path / "clinic", patients=None)
    cfg, sources, _ = preflight.read_config(None, [f"data.root={root}", SCALE, "data.referable_from=1",
                                                   "pretrain.batch_size=8", "umm.batch_size=8"])
    errors = [f.line for f in preflight.check(cfg, Path("runs-not-there") / "x", sources)
              if f.severity == "error"]
    assert [line for line in errors if "makes two grades" in line], errors
    assert not [line for line in errors if "data.n_folds" in line or "has only" in line], errors
    # the fix taken: two grades of 15 and 30 images, five folds pass
    cfg, sources, _ = preflight.read_config(None, [f"data.root={root}", "data.grades=[]", "data.referable_from=1",
                                                   "pretrain.batch_size=8", "umm.batch_size=8"])
    assert not [f.line for f in preflight.check(cfg, Path("runs-not-there") / "x", sources)
                if f.severity == "error"]


def test_the_ingest_reads_quoted_grade_lists_and_names_with_a_bracketed_part() -> None:
    """Fix-up F4: ``--grades '["Normal", "NPDR", "PDR"]'`` kept the quote marks in the names,
    and ``--grades 'No DR,Mild [R1],PDR'`` (which main took) was refused: the list is read as
    data.grades reads it, and only an unpaired bracket is refused."""
    import argparse

    import pytest

    assert ingest._grades('["Normal", "NPDR", "PDR"]') == ["Normal", "NPDR", "PDR"]
    assert ingest._grades("No DR,Mild [R1],PDR") == ["No DR", "Mild [R1]", "PDR"]
    assert ingest._grades("[No DR, Mild [R1], PDR]") == ["No DR", "Mild [R1]", "PDR"]
    assert ingest._grades("['No DR', 'Mild [R1]']") == ["No DR", "Mild [R1]"]
    for unpaired in ("[Normal,NPDR", "Normal,NPDR]"):
        with pytest.raises(argparse.ArgumentTypeError, match="unpaired bracket"):
            ingest._grades(unpaired)


def test_a_second_validator_error_on_a_named_setting_is_dropped_only_in_the_ingests_option_words(
        monkeypatch) -> None:
    """Fix-up F6: any later validator error whose setting an earlier one named was dropped; only
    the ingest's copy in its option words (--referable-from, a train user never typed) is the same."""
    from drac_ssl.config import Config, ConfigError

    def raising(message: str):
        def validator() -> None:
            raise ConfigError(message)
        return validator

    monkeypatch.setattr(preflight, "_stage_validators", lambda cfg, stages: [
        ("config", raising("data.referable_from=1 makes two grades of another scale -> data.grades=[]")),
        ("ingest", raising("--referable-from 1 makes two grades of another scale -> --grades icdr")),
        ("finetune", raising("data.referable_from=1 leaves a fold without a referable image -> add some"))])
    c = preflight._Findings(Config(), {})
    preflight._run_stage_validators(c, Config(), ["ingest", "finetune"])
    said = [f.what for f in c.items]
    assert len(said) == 2 and not [w for w in said if w.startswith("--referable-from")], said
    assert any("leaves a fold without a referable image" in w for w in said), said
