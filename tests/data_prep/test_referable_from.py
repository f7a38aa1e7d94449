"""``data.referable_from`` / ``--referable-from N``: a referable-DR model of two grades trained
from ICDR labels (a Messidor-2 trial, F1), and Messidor-2's examination note beside a
patient-like column (F7).

The trial's user set ``data.grades=[non-referable, referable]`` on Messidor-2's
``adjudicated_dr_grade`` (0..4) and was told "14 rows have a grade outside {0, 1} ... correct
the rows to 0 or 1", which invites the wrong edit (ICDR 1, mild, stays 1 = referable). The
ingest now maps the labels itself (grade >= N -> 1), records how, and the K=2 error names the
option first."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from data_prep import ingest
from data_prep.validate import IngestError
from drac_ssl.config import ConfigError, DataConfig, from_dict, validate
from drac_ssl.grading.bundle import data_provenance

HEADER = ["image_id", "adjudicated_dr_grade", "adjudicated_dme", "adjudicated_gradable", "patient_id"]
GRADES = [0, 1, 2, 3, 4, 1, 0, 2, 4, 3, 0, 1]  # ICDR; 6 patients of two images


def messidor_folder(root: Path, grades: list[int] = GRADES) -> Path:
    """``messidor_data.csv`` beside ``IMAGES/`` of small colour discs, each its own pixels."""
    rng = np.random.default_rng(0)
    (root / "IMAGES").mkdir(parents=True)
    yy, xx = np.mgrid[:48, :48]
    disc = (yy - 24) ** 2 + (xx - 24) ** 2 < 20 ** 2
    rows = []
    for i, grade in enumerate(grades):
        rgb = np.zeros((48, 48, 3), np.uint8)
        rgb[disc] = rng.integers(40, 220, size=(int(disc.sum()), 3), dtype=np.uint8)
        name = f"IM{i:04d}.png"
        Image.fromarray(rgb).save(root / "IMAGES" / name)
        rows.append([name, grade, 0, 1, f"P{i // 2}"])
    with open(root / "messidor_data.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows(rows)
    return root


def config(root: Path, **overrides: object) -> DataConfig:
    settings: dict[str, object] = {"root": str(root), "cache_sizes": [32], "n_folds": 2, "workers": 1}
    settings.update(overrides)
    return DataConfig(**settings)  # type: ignore[arg-type]


def manifest_grades(result: ingest.IngestResult) -> dict[str, int]:
    with open(result.manifest_path, newline="", encoding="utf-8") as fh:
        return {r["id"]: int(r["grade"]) for r in csv.DictReader(fh) if r["split"] == "train"}


@pytest.mark.parametrize("grades", [[], ["icdr"]])
def test_referable_from_makes_two_grades_of_icdr_labels_and_records_how(tmp_path: Path, grades: list[str]) -> None:
    root = messidor_folder(tmp_path / "messidor")
    result = ingest.run(config(root, referable_from=2, patient_column="patient_id", grades=grades),
                        tmp_path / "out", verbose=False)
    assert result.grade_names == ("non-referable", "referable")
    assert manifest_grades(result) == {f"IM{i:04d}.png": int(g >= 2) for i, g in enumerate(GRADES)}
    summary = json.loads(result.summary_path.read_text(encoding="utf-8"))
    mapped = summary["grades"]["referable_from"]
    assert (mapped["from_grade"], mapped["source_column"]) == (2, "adjudicated_dr_grade"), mapped
    assert mapped["train_per_source_grade"] == {"0": 3, "1": 3, "2": 2, "3": 2, "4": 2}, mapped
    assert summary["grades"]["source"] == "data.referable_from=2" and summary["config"]["referable_from"] == 2
    printed = ingest.format_summary(result)
    assert "two grades made of the ICDR grades of column 'adjudicated_dr_grade' (--referable-from 2): " \
           "grade 1 = ICDR grade >= 2 (Moderate, Severe, PDR); grade 0 = ICDR grade < 2 (No DR, Mild)" in printed
    # the bundle's data provenance keeps it, and the model card and report.md say it
    from drac_ssl.grading.bundle import referable_labels_words

    data = data_provenance(result.out_dir)
    assert data["referable_from"]["from_grade"] == 2
    said = referable_labels_words(data)
    assert said.startswith("two grades made of the ICDR grades of the label column 'adjudicated_dr_grade' "
                           "(data.referable_from=2): grade 1 (referable) = ICDR grade >= 2"), said
    assert "No DR 3, Mild 3, Moderate 2, Severe 2, PDR 2" in said, said


def test_without_it_a_run_records_nothing_of_it(tmp_path: Path) -> None:
    root = messidor_folder(tmp_path / "messidor")
    from drac_ssl.grading.bundle import referable_labels_words

    result = ingest.run(config(root, patient_column="patient_id"), tmp_path / "out", verbose=False)
    assert manifest_grades(result) == {f"IM{i:04d}.png": g for i, g in enumerate(GRADES)}
    data = data_provenance(result.out_dir)
    assert "referable_from" not in data and referable_labels_words(data) == ""


def test_a_two_grade_scale_on_icdr_labels_names_the_option_not_a_hand_edit(tmp_path: Path) -> None:
    root = messidor_folder(tmp_path / "messidor")
    with pytest.raises(IngestError) as caught:
        ingest.run(config(root, grades=["non-referable", "referable"], patient_column="patient_id"),
                   tmp_path / "out", verbose=False)
    text = str(caught.value)
    assert "rows have a grade outside {0, 1}" in text, text
    assert "--referable-from 2 makes the two grades of them: grade 1 (referable) = ICDR grade >= 2" in text, text
    assert "correct the rows to" not in text, text


def test_referable_from_is_refused_where_it_cannot_work(tmp_path: Path) -> None:
    root = messidor_folder(tmp_path / "messidor")
    with pytest.raises(IngestError, match=r"--referable-from 2 makes two grades .* but --grades names 3"):
        ingest.run(config(root, referable_from=2, grades=["a", "b", "c"]), tmp_path / "out", verbose=False)
    with pytest.raises(IngestError, match=r"--referable-from 5: must be 0 \(off, the default\) or an ICDR grade"):
        ingest.run(config(root, referable_from=5), tmp_path / "out", verbose=False)
    # the pipeline's configuration says it in its settings' words, before any stage
    cfg = from_dict({"data": {"referable_from": 2, "grades": ["Normal", "NPDR", "PDR"]}})
    with pytest.raises(ConfigError, match=r"data\.referable_from=2 makes two grades"):
        validate(cfg)
    validate(from_dict({"data": {"referable_from": 2, "grades": ["icdr"]}}))  # the labels' scale: fine


def test_the_ingest_command_takes_the_flag(tmp_path: Path) -> None:
    import argparse

    parser = argparse.ArgumentParser()
    ingest.add_arguments(parser)
    args = parser.parse_args(["--root", "r", "--out", "o", "--referable-from", "2"])
    assert ingest.config_from_args(args).referable_from == 2
    from data_prep.problems import as_config_keys

    assert as_config_keys("pass --referable-from 2") == "pass data.referable_from=2"


def test_the_examination_note_gives_way_to_a_patient_like_column(tmp_path: Path) -> None:
    """F7: with no --patient-column and a patient_id column, the ingest warned 'column
    patient_id looks like a patient id ... pass --patient-column' and also noted 'this CSV names
    no examination ... add a column naming each image's examination'. The warning alone stays."""
    root = messidor_folder(tmp_path / "messidor")
    result = ingest.run(config(root), tmp_path / "out", verbose=False)
    assert any("column 'patient_id' looks like a patient id" in w for w in result.warnings), result.warnings
    assert not any("names no examination" in n for n in result.notes), result.notes
    # no such column: the note stays, it is the only hint
    with open(root / "messidor_data.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    with open(root / "messidor_data.csv", "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, lineterminator="\n").writerows([row[:4] for row in rows])
    bare = ingest.run(config(root), tmp_path / "bare", verbose=False)
    assert any("names no examination" in n for n in bare.notes), bare.notes


def test_a_column_already_of_zeros_and_ones_is_not_made_all_grade_zero(tmp_path: Path) -> None:
    """Review F1: --referable-from 2 on labels already 0/1 made every image grade 0 (non-referable)
    without a word; the ingest stops now, naming the two ways out."""
    root = messidor_folder(tmp_path / "messidor", [g % 2 for g in range(12)])
    with pytest.raises(IngestError) as caught:
        ingest.run(config(root, referable_from=2, patient_column="patient_id"), tmp_path / "out", verbose=False)
    text = str(caught.value)
    assert "column 'adjudicated_dr_grade' holds only 0/1 (12 rows): already two grades?" in text, text
    assert "drop --referable-from (data.referable_from)" in text and "--referable-from 1" in text, text
    result = ingest.run(config(root, referable_from=1, patient_column="patient_id"), tmp_path / "one", verbose=False)
    assert manifest_grades(result) == {f"IM{i:04d}.png": i % 2 for i in range(12)}
    # a layout whose grades come from no named column (a folder per grade): said without
    # "column" before it (a review: "column the grade column holds only 0/1")
    said = ingest.no_grade_at_or_above([0, 1, 1], 2, None, tmp_path)
    assert said is not None and said.what.startswith("--referable-from 2: the grade column holds only 0/1 (3 rows)")
    said = ingest.no_grade_at_or_above([0, 1, 1], 3, None, tmp_path)
    assert said is not None and "the grade column holds only 0/1" in said.what
    said = ingest.no_grade_at_or_above([0, 2, 1], 3, None, tmp_path)
    assert said is not None and said.what.startswith("--referable-from 3: no row of the grade column is ICDR grade >= 3")
    said = ingest.no_grade_at_or_above([0, 2, 1], 3, "grade", tmp_path)
    assert said is not None and "no row of column 'grade' is ICDR grade >= 3" in said.what


def test_a_screening_set_with_few_high_grades_still_names_the_option(tmp_path: Path) -> None:
    """Review F2: with under 10% of the rows ICDR >= 2 (a screening set) the rows outside read
    as slips and the K=2 error said "correct the rows to 0 or 1", the hand edit that leaves ICDR
    1 (mild) as grade 1."""
    grades = [i % 2 for i in range(30)]
    grades[5], grades[17] = 2, 4
    root = messidor_folder(tmp_path / "screening", grades)
    with pytest.raises(IngestError) as caught:
        ingest.run(config(root, grades=["non-referable", "referable"], patient_column="patient_id"),
                   tmp_path / "out", verbose=False)
    text = str(caught.value)
    assert "2 rows have a grade outside {0, 1}" in text, text
    assert "--referable-from 2 makes the two grades of them" in text, text
    assert "correct the rows to" not in text, text


@pytest.mark.parametrize("grades", [[0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 1], [5, 5, 5, 5, 5, 5, 0, 1, 2, 3, 4, 1]])
def test_a_grade_beyond_icdr_is_not_told_to_name_another_scale(tmp_path: Path, grades: list[int]) -> None:
    """Review F5: under --referable-from the labels are ICDR grades; "or give 6 names in
    --grades" contradicted the setting."""
    root = messidor_folder(tmp_path / "messidor", grades)
    with pytest.raises(IngestError) as caught:
        ingest.run(config(root, referable_from=2, patient_column="patient_id"), tmp_path / "out", verbose=False)
    text = str(caught.value)
    assert "the ICDR grades --referable-from 2 reads" in text, text
    assert "names in --grades" not in text and '--grades "' not in text, text
    assert "0 (No DR), 1 (Mild), 2 (Moderate), 3 (Severe) or 4 (PDR)" in text, text


def test_a_kept_referable_ingest_is_not_said_to_differ_in_its_grades(tmp_path: Path) -> None:
    """Final read F2: ``-c fundus`` (``grades: icdr``) with ``data.referable_from=2`` over a
    standalone ``--referable-from 2 --grades icdr`` ingest: ``data.grades`` resolved without
    the mapping (five ICDR names) was reported as not applied against the ingest's two."""
    from drac_ssl import preflight

    root = messidor_folder(tmp_path / "messidor")
    run_dir = tmp_path / "runs" / "x"
    ingest.run(config(root, referable_from=2, grades=["icdr"], patient_column="patient_id"),
               run_dir / "data", verbose=False)
    cfg, _, _ = preflight.read_config("fundus", [
        f"data.root={root}", "data.referable_from=2", "data.n_folds=2", "data.cache_sizes=[32]",
        "data.patient_column=patient_id", "run.stages=[pretrain,umm,finetune,export]",
        f"run.out_dir={run_dir.parent}", f"run.name={run_dir.name}"])
    assert "data.grades" not in preflight.ingest_kept_settings(cfg, run_dir)


def test_the_one_rule_of_a_referral_cut_says_what_each_caller_refuses() -> None:
    """``referable_from_rule`` is the one source of the rule the config, the ingest, the grade
    names and ``export --score`` apply (N an ICDR grade 1..4; the grades setting leaves two
    grades); each caller's refusal follows it."""
    from data_prep.grades import REFERABLE_NAMES, resolve_grades
    from drac_ssl.config import referable_from_problem, referable_from_rule, referable_grade
    from drac_ssl.scoring import ScoreError, _check_labels_referable_from

    assert [referable_from_rule(n).valid for n in (0, 1, 4, 5, True, "2", 2.0)] == \
        [False, True, True, False, False, False, False]
    for grades in ([], ["icdr"], ["ICDR"], ["No DR", "Mild", "Moderate", "Severe", "PDR"]):
        rule = referable_from_rule(2, grades)
        assert rule.from_labels_scale and rule.two_grades and rule.names == REFERABLE_NAMES
        assert resolve_grades(grades, "plain", 2) == (REFERABLE_NAMES, "data.referable_from=2")
        assert referable_from_problem(2, grades) == ("", "")
    two = referable_from_rule(3, [" no ", "yes"])
    assert two.two_grades and not two.from_labels_scale and two.names == ("no", "yes")
    for grades in (["drac"], ["a", "b", "c"]):
        assert not referable_from_rule(2, grades).two_grades
        assert referable_from_problem(2, grades)[0]
        with pytest.raises(IngestError, match="makes two grades"):
            ingest._check_referable_from(config(Path("."), referable_from=2, grades=grades))
    with pytest.raises(IngestError, match="must be 0"):
        ingest._check_referable_from(config(Path("."), referable_from=5))
    with pytest.raises(ConfigError, match="must be an integer, got True"):  # refused as it is made
        config(Path("."), referable_from=True)
    for n in (5, True):
        with pytest.raises(ScoreError, match="must be an ICDR grade"):
            _check_labels_referable_from(n, 2, REFERABLE_NAMES)  # type: ignore[arg-type]
    ingest._check_referable_from(config(Path("."), referable_from=0, grades=["a", "b", "c"]))
    assert [referable_grade(g, 2) for g in range(5)] == [0, 0, 1, 1, 1]


def test_the_zero_one_refusal_is_worded_once_for_the_ingest_and_the_score() -> None:
    """``data_prep.grades.no_grade_at_or_above`` words the refusal of a cut N >= 2 on labels
    none of which reaches N, for ``--referable-from`` and ``--labels-referable-from`` alike."""
    from data_prep.grades import no_grade_at_or_above

    assert no_grade_at_or_above([0, 1, 2], 2, "'g'", "--x", "become 0", "read") is None
    assert no_grade_at_or_above([0, 1], 1, "'g'", "--x", "become 0", "read") is None
    assert no_grade_at_or_above([], 3, "'g'", "--x", "become 0", "read") is None
    what, fix = no_grade_at_or_above([0, 1, 1], 2, "'g'", "--x", "become 0", "read")  # type: ignore[misc]
    assert what.startswith("column 'g' holds only 0/1 (3 rows): already two grades?") and "become 0" in what
    assert fix == "drop --x to read the 0/1 labels as they are, or use --x 1 (keeps them as they are)"
    what, fix = no_grade_at_or_above([0, 2], 3, "'g'", "--x", "become 0", "read", other_fix="; or not")  # type: ignore[misc]
    assert "the highest read is 2" in what and fix == "use --x N with N <= 2; or not"
    said = ingest.no_grade_at_or_above([0, 1], 2, "g", "labels.csv")
    assert said is not None and said.what.startswith("--referable-from 2: column 'g' holds only 0/1 (2 rows)")
