"""The preflight of python -m drac_ssl.train: every setting checked before any stage runs.

Each kind of fault gets its message checked (the setting, its value, where it came from, what
is wrong, the fix) and the promise that a configuration that cannot run leaves no run folder.
"""

from __future__ import annotations

import csv
import json
import re
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from fake_ingest import SOURCE_SIZE, make_fake_ingest, make_finished_run
from grade_fix import follow_grade_fix
from shared_data import SHARED_DATA, need

from drac_ssl import preflight, train
from drac_ssl.config import ConfigError, load_config, save_config
from drac_ssl.models import Backbone
from drac_ssl.preflight import PreflightError
from drac_ssl.starting import python_command

CPU = ["run.device=cpu", "run.name=x"]
SMALL_BATCHES = ["pretrain.batch_size=8", "umm.batch_size=8"]  # for the 15-17 image sets here


def main_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
               *overrides: str) -> str:
    """Run ``python -m drac_ssl.train`` (default config) in ``tmp_path``; it must exit with 2,
    no traceback and no run folder. Returns stderr."""
    monkeypatch.chdir(tmp_path)
    code = train.main([*CPU, *overrides])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("error: the configuration cannot run") and "Traceback" not in err
    assert not (tmp_path / "runs").exists()  # no run folder for a config that cannot run
    assert not (tmp_path / "data").exists()  # nor a phantom set generated for it
    return err


def findings(*overrides: str, run_dir: Path | None = None, config: Path | None = train.DEFAULT_CONFIG,
             stages: list[str] | None = None) -> list[preflight.Finding]:
    cfg, sources, parsed = preflight.read_config(config, list(overrides))
    assert parsed == []
    return preflight.check(cfg, run_dir or Path("runs-that-do-not-exist") / "x", sources, stages=stages)


def errors(*overrides: str, **kwargs: object) -> dict[str, str]:
    """Setting -> message of each error (the last one when a setting has several)."""
    return {f.setting: f.line for f in findings(*overrides, **kwargs) if f.severity == "error"}  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------
# Batches that leave a BatchNorm with one sample, or an epoch with no step


def test_pretrain_batch_of_one_is_refused_before_the_ingest(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    err = main_fails(tmp_path, monkeypatch, capsys, "pretrain.batch_size=1")
    assert "pretrain.batch_size=1 (command line 'pretrain.batch_size=1')" in err
    assert "Expected more than 1 value per channel" in err and "BatchNorm" in err
    assert "fix: pretrain.batch_size=32" in err
    assert "1 problem(s) found before any stage ran" in err


def test_umm_batch_of_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                          capsys: pytest.CaptureFixture[str]) -> None:
    err = main_fails(tmp_path, monkeypatch, capsys, "umm.batch_size=1")
    assert "umm.batch_size=1 (command line 'umm.batch_size=1')" in err
    assert "fix: umm.batch_size=16 (as in " in err  # configs/default.yaml's, not the built-in 32


def test_finetune_batch_of_one_only_where_a_batchnorm_trains(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    err = main_fails(tmp_path, monkeypatch, capsys, "finetune.batch_size=1")  # default conv head
    assert "finetune.batch_size=1 (command line 'finetune.batch_size=1')" in err
    assert "conv head's BatchNorm" in err and "fix: finetune.batch_size=32" in err
    assert "freeze=all" in errors("finetune.batch_size=1", "finetune.head=linear",
                                  "finetune.freeze=all")["finetune.batch_size"]
    # a linear head on a frozen backbone has no BatchNorm that trains: allowed
    assert "finetune.batch_size" not in errors("finetune.batch_size=1", "finetune.head=linear")


def test_a_batch_of_one_is_refused_for_exactly_the_heads_with_batchnorm() -> None:
    """preflight asks the head (grading.model.head_normalises_over_batch), not a hard-coded
    name, whether a batch of one leaves a BatchNorm without batch statistics."""
    from drac_ssl.grading import model as grading

    for head in grading.HEADS:
        built = grading.build_head(head, 512, 0.1, width=16)
        has_bn = any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in built.modules())
        assert grading.head_normalises_over_batch(head) == has_bn, head
        found = errors("finetune.batch_size=1", f"finetune.head={head}").get("finetune.batch_size", "")
        assert (f"the {head} head's BatchNorm layers" in found) == has_bn, (head, found)
    assert grading.head_normalises_over_batch("conv")


def test_batch_larger_than_the_images_would_leave_no_step() -> None:
    found = errors("data.phantom_n_train=20", "data.phantom_n_test=4", "data.n_folds=2",
                   "umm.batch_size=64")
    assert "larger than the 24 images pretraining draws from (the phantom set" in found["pretrain.batch_size"]
    assert "no step" in found["pretrain.batch_size"]
    # the count names its parts: the test images are in it (use_test_images)
    assert "20 training + 4 test images (pretrain.use_test_images=true)" in found["pretrain.batch_size"]
    assert "fix: pretrain.batch_size=16" in found["pretrain.batch_size"]
    assert "fix: umm.batch_size=16" in found["umm.batch_size"]


# --------------------------------------------------------------------------------------
# Sizes and crops


def test_image_size_larger_than_the_cached_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    err = main_fails(tmp_path, monkeypatch, capsys, "pretrain.augment.image_size=256",
                     "finetune.image_size=200")
    assert "pretrain.augment.image_size=256 (command line 'pretrain.augment.image_size=256')" in err
    assert "larger than the cached image it is cut from (pretrain.augment.source_size=128)" in err
    assert "pretrain.augment.source_size=256 (cached)" in err
    assert "finetune.image_size=200" in err and "2 problem(s)" in err


def test_source_size_must_be_a_cached_size() -> None:
    found = errors("pretrain.augment.source_size=200")
    line = found["pretrain.augment.source_size"]
    assert "not a cached size: data.cache_sizes holds 128 px, 256 px" in line
    assert "fix: pretrain.augment.source_size=128, or data.cache_sizes=[128, 200, 256]" in line


def test_crop_that_cannot_be_cut() -> None:
    line = errors("pretrain.augment.crop_scale=[0.00001, 1.0]")["pretrain.augment.crop_scale"]
    assert "0.35 px wide: it cannot be cut" in line
    assert "pretrain.augment.crop_scale=[0.3, 1]" not in line  # a computed fix, not a guess
    assert "fix: pretrain.augment.crop_scale=[0.01, 1]" in line


# --------------------------------------------------------------------------------------
# The data: folds per grade, read from the label CSV without decoding


def test_a_finetune_patience_that_keep_last_leaves_unused_is_warned(tmp_path: Path) -> None:
    """finetune.keep became last by default: a patience set for the early stop it no longer
    does would be silently ignored."""
    def patience_warnings(*overrides: str, config: Path | None = train.DEFAULT_CONFIG) -> list[preflight.Finding]:
        return [f for f in findings(*overrides, config=config)
                if f.severity == "warning" and f.setting == "finetune.patience"]

    (warned,) = patience_warnings("finetune.patience=3")
    assert "finetune.keep=last" in warned.line and "not used" in warned.line, warned.line
    assert "finetune.keep=best" in warned.fix
    assert patience_warnings("finetune.patience=3", "finetune.keep=best") == []
    assert patience_warnings() == []  # the shipped default config sets none
    # review s51 R7: the default value written by hand is as unused as any other
    (warned,) = patience_warnings("finetune.patience=5")
    assert "command line" in warned.line, warned.line
    # but a run's resolved config.yaml (rerun with -c) holds every setting, the default patience
    # too: from it, only a patience other than the default is the user's
    resolved = tmp_path / "run" / "config.yaml"
    save_config(load_config(train.DEFAULT_CONFIG), resolved)
    assert "patience: 5" in resolved.read_text(encoding="utf-8").split("finetune:")[1]
    assert patience_warnings(config=resolved) == []
    (warned,) = patience_warnings("finetune.patience=5", config=resolved)  # typed: the user's
    hand = tmp_path / "hand.yaml"
    hand.write_text("finetune:\n  patience: 5\n", encoding="utf-8")
    (warned,) = patience_warnings(config=hand)
    assert "hand.yaml" in warned.line
    for config in sorted((Path(train.DEFAULT_CONFIG).parent).glob("*.yaml")):  # nor any shipped config
        assert patience_warnings(config=config) == [], config.name
    own = tmp_path / "mine.yaml"
    own.write_text("finetune:\n  patience: 2\n", encoding="utf-8")
    (warned,) = patience_warnings(config=own)
    assert "mine.yaml" in warned.line  # where it was set


def labelled_files(images: Path, labels: Path, names: list[str], grades: list[int],
                   header: tuple[str, str] = ("image name", "DR grade"),
                   csv_names: list[str] | None = None) -> None:
    """``names`` as 'images' in ``images`` (bytes that are not images: nothing may decode them)
    and a label CSV ``labels`` (``header``) giving each its grade, under ``csv_names`` if given."""
    images.mkdir(parents=True, exist_ok=True)
    with open(labels, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for name, written, grade in zip(names, csv_names or names, grades, strict=True):
            (images / name).write_bytes(b"not decoded by the preflight")
            writer.writerow([written, grade])


def plain_dataset(root: Path, grades: list[int]) -> Path:
    """A plain folder of 'images' (bytes that are not images: nothing may decode them) and a
    label CSV."""
    root.mkdir()
    labelled_files(root, root / "labels.csv", [f"{i:03d}.png" for i in range(len(grades))], grades)
    return root


def grades_setting(fix: str, csv_path: Path, neighbour: int = 0) -> str:
    """:func:`grade_fix.follow_grade_fix` for the preflight: the ``data.grades`` setting it says to pass."""
    return follow_grade_fix(fix, csv_path, r"data\.grades=\[[^]]*\]", neighbour)


def test_fundus_photographs_with_the_octa_recipe_are_warned(tmp_path: Path) -> None:
    root = tmp_path / "aptos"
    root.mkdir()
    labelled_files(root / "train_images", root / "train.csv", [f"id{i:02d}.png" for i in range(20)],
                   [i % 5 for i in range(20)], ("id_code", "diagnosis"), [f"id{i:02d}" for i in range(20)])

    def recipe_warnings(*overrides: str) -> list[str]:
        return [f.line for f in findings(f"data.root={root}", *overrides)
                if f.severity == "warning" and f.setting == "pretrain.augment.recipe"]

    (line,) = recipe_warnings()  # the default recipe is octa
    assert "APTOS layout holds fundus photographs" in line and "pretrain.augment.recipe=fundus" in line
    assert recipe_warnings("pretrain.augment.recipe=fundus") == []
    assert recipe_warnings("data.modality=octa") == []  # the user says what the images are


def test_colour_fundus_layouts_under_a_grey_backbone_are_refused_before_the_ingest(
        tmp_path: Path) -> None:
    """Review s52 F5: ``-c configs/drac.yaml`` (a 1-channel backbone) on an APTOS / EyePACS
    root only warned of the recipe before the ingest, which then ran in full to stop on the
    channels with the fix ``pretrain.backbone.in_channels=3`` alone (still the octa recipe).
    The preflight knows the layout's photographs are colour: an error before the ingest,
    whose fix is the fundus config or the overrides that together run. Grey on purpose
    (data.channels=1) and the grey DRAC layout stay unrefused."""
    root = tmp_path / "aptos"
    root.mkdir()
    labelled_files(root / "train_images", root / "train.csv", [f"id{i:02d}.png" for i in range(20)],
                   [i % 5 for i in range(20)], ("id_code", "diagnosis"), [f"id{i:02d}" for i in range(20)])
    drac = train.PACKAGE_CONFIGS / "drac.yaml"
    small = [*SMALL_BATCHES, "finetune.batch_size=8", "data.n_folds=2"]

    def channels_error(*overrides: str) -> str:
        return errors(f"data.root={root}", *small, *overrides, config=drac).get(
            "pretrain.backbone.in_channels", "")

    fix = ("fix: -c fundus (colour photographs: the fundus recipe, the data's channels, "
           "the ICDR grades), or pretrain.backbone.in_channels=3 pretrain.augment.recipe=fundus "
           "together; or data.channels=1 to train on the photographs converted to grey")
    line = channels_error()  # data.channels empty: the layout's default, auto
    assert line.startswith(f"pretrain.backbone.in_channels=1 ({drac}:"), line
    assert "the APTOS layout holds colour fundus photographs (the layout's default, data.channels=auto: " \
           "kept in colour, 3 channels), but the backbone's first convolution takes 1" in line, line
    assert line.endswith(fix), line
    assert channels_error("data.channels=3").endswith(fix)  # known 3: the same fix
    assert channels_error("data.channels=1") == ""  # converted to grey on purpose
    assert errors(f"data.root={root}", *small, "pretrain.backbone.in_channels=3",
                  "pretrain.augment.recipe=fundus", config=drac) == {}  # the fix runs
    # the recipe warning's fix names the channels too: the recipe alone would not run
    (recipe,) = [f.line for f in findings(f"data.root={root}", *small, config=drac)
                 if f.setting == "pretrain.augment.recipe"]
    assert "or pretrain.augment.recipe=fundus pretrain.backbone.in_channels=3 together" in recipe
    # grey UW-OCTA (the DRAC layout) under the same config: nothing about channels
    grey = drac_download(tmp_path / "DRAC 2022")
    assert "pretrain.backbone.in_channels" not in errors(f"data.root={grey}", *small, config=drac)
    # review s52c F5: a plain folder whose CSV only borrows APTOS's columns may hold grey images
    # (data.channels=auto then makes them 1 channel): told by decoding, not refused before it
    plain = tmp_path / "plain"
    plain.mkdir()
    labelled_files(plain / "imgs", plain / "labels.csv", [f"g{i:02d}.png" for i in range(20)],
                   [i % 5 for i in range(20)], ("id_code", "diagnosis"), [f"g{i:02d}" for i in range(20)])
    assert "pretrain.backbone.in_channels" not in errors(
        f"data.root={plain / 'imgs'}", f"data.labels_csv={plain / 'labels.csv'}", *small, config=drac)


def test_n_folds_too_large_for_a_grade_names_the_grade_and_the_fix(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    root = plain_dataset(tmp_path / "plain", [0] * 8 + [1] * 6 + [2] * 3)
    config = tmp_path / "my.yaml"
    config.write_text(f"data:\n  root: {root}\n  n_folds: 5\n")
    monkeypatch.chdir(tmp_path)
    assert train.main(["-c", str(config), *CPU]) == 2
    err = capsys.readouterr().err
    assert f"data.n_folds=5 ({config}:3)" in err  # the file and line the value came from
    assert f"grade 2 (PDR) has only 3 labelled images in {root / 'labels.csv'}" in err
    assert "stratified 5-fold cross-validation needs at least 5 of every grade" in err
    assert "fix: data.n_folds=3, or add labelled grade 2 (PDR) images" in err
    assert "grade 1" not in err  # 6 images: enough
    assert not (tmp_path / "runs").exists()
    # the fix works, and the images were never decoded (they are not images)
    assert errors(f"data.root={root}", "data.n_folds=3", *SMALL_BATCHES) == {}


def test_a_grade_of_one_image_gets_a_fix_that_works_in_the_ingests_words(tmp_path: Path) -> None:
    """One grade-1 image among grade 0: no fold count helps (a fix 'data.n_folds cannot go
    below 2' is none); the message is the ingest's note on the same folds, in settings."""
    from data_prep import ingest
    from data_prep.problems import as_config_keys
    from drac_ssl.config import DataConfig

    root = plain_dataset(tmp_path / "plain", [2 if i > 5 else int(i == 5) for i in range(12)])
    line = errors(f"data.root={root}", *SMALL_BATCHES)["data.n_folds"]
    assert f"grade 1 (NPDR) has only 1 labelled image in {root / 'labels.csv'};" in line
    assert "(4 folds would validate without any grade 1 (NPDR) image)" in line
    fix = ("add labelled grade 1 (NPDR) images (at least 5 for 5 folds, 2 for data.n_folds=2), or "
           "merge grade 1 (NPDR) into a neighbouring grade (a coarser scale for this run, not a correction: the images keep their clinical grades in labels.csv): in a copy of labels.csv, "
           "passed with data.labels_csv, give its image 005.png (line 7) grade 0 (Normal) or 2 (PDR) "
           "instead of 1, then renumber the copy's grades, the merged ones too, so that they run "
           "0..1 (2 -> 1), and pass data.grades=[Normal, PDR]")
    assert line.endswith(f"fix: {fix}") and "cannot go below" not in line
    # the ingest says the same of the folds it makes (their images need to decode here)
    for i in range(12):
        (root / f"{i:03d}.png").unlink()
        cv2.imwrite(str(root / f"{i:03d}.png"), np.full((16, 16), 10 * i, np.uint8))
    result = ingest.run(DataConfig(root=str(root), cache_sizes=[16], workers=1), tmp_path / "out",
                        verbose=False)
    (note,) = [p for p in result.findings if p.kind == "folds"]
    assert as_config_keys(note.fix) == fix
    assert note.what.startswith("grade 1 (NPDR) has only 1 labelled image; stratified 5-fold")
    # followed (merged into the grade above), the data pass with no word on their grades
    setting = grades_setting(fix, root / "labels.csv", neighbour=1)
    assert setting == "data.grades=[Normal, PDR]"
    found = findings(f"data.root={root}", setting, *SMALL_BATCHES)
    assert [f.line for f in found if f.severity == "error" or "grade" in f.setting] == []


def test_two_grades_of_one_image_get_one_fix_and_the_fold_count_first(tmp_path: Path) -> None:
    """Review F3: Mild and Severe of one image each got two merge fixes joined by '; and', each
    naming a scale the other merge makes wrong (data.grades=[No DR, Moderate, Severe, PDR] and
    [No DR, Mild, Moderate, PDR]), and the fold count's fix last though the docstring put it
    first. Now the fold count comes first, then one fix for both: more images of each, or
    merges one at a time, the first said in full."""
    grades = "data.grades=[No DR, Mild, Moderate, Severe, PDR]"
    root = plain_dataset(tmp_path / "plain", [0] * 6 + [1] + [2] * 6 + [3] + [4] * 3)
    line = errors(f"data.root={root}", grades, *SMALL_BATCHES)["data.n_folds"]
    assert ("grade 1 (Mild) has only 1 labelled image, grade 3 (Severe) only 1 and grade 4 (PDR) only 3 in "
            f"{root / 'labels.csv'}") in line
    fix = line.split("fix: ", 1)[1]
    assert fix.startswith("data.n_folds=3, or add labelled grade 4 (PDR) images (at least 5 for 5 folds); and "
                          "add labelled grade 1 (Mild) and grade 3 (Severe) images (at least 5 of each for 5 "
                          "folds, 2 of each for data.n_folds=2), or merge each into a neighbouring grade, one at "
                          "a time"), fix
    assert fix.count("data.grades=") == 1 and fix.count("merge grade") == 1, fix
    assert fix.endswith("the first: merge grade 1 (Mild) into a neighbouring grade (a coarser scale for this run, not a correction: the images keep their clinical grades in labels.csv): in a copy "
                        "of labels.csv, passed with data.labels_csv, give its image 006.png (line 8) grade "
                        "0 (No DR) or 2 (Moderate) instead of 1, then renumber the copy's grades, the merged "
                        "ones too, so that they run 0..3 (2 -> 1, 3 -> 2, 4 -> 3, in this order), and pass "
                        "data.grades=[No DR, Moderate, Severe, PDR]"), fix
    assert "; and" not in fix.split("; and ", 1)[1]  # two parts: the fold count's, then the one-image grades'


def test_a_grade_without_images_gets_the_ingests_warning_and_a_fix_that_works(tmp_path: Path) -> None:
    """ICDR labels with no Mild image: 'name only the grades the data has in data.grades' left
    grades 2..4 outside 0..3; the fix now says to renumber them, and followed it works. With
    data.strict=true the ingest refuses such labels, so the preflight does too."""
    root = plain_dataset(tmp_path / "plain", [0, 0, 0, 2, 2, 2, 3, 3, 3, 4, 4, 4])
    settings = (f"data.root={root}", "data.n_folds=3", *SMALL_BATCHES)
    (warned,) = [f for f in findings(*settings, "data.grades=[icdr]") if f.setting == "data.grades"]
    assert warned.severity == "warning"
    assert warned.what == (f"grade 1 (Mild): no labelled image in {root / 'labels.csv'}; the "
                           "grading model never sees it")
    assert warned.fix == (
        "check the label CSV, or add labelled grade 1 (Mild) images; if the data has none, take it "
        "out of the scale: renumber the grades in the label CSV so that they run 0..3 (2 -> 1, "
        "3 -> 2, 4 -> 3, in this order), and pass data.grades=[No DR, Moderate, Severe, PDR]")
    strict = errors(*settings, "data.grades=[icdr]", "data.strict=true")["data.grades"]
    assert "(rejected by data.strict=true)" in strict
    assert "or run without data.strict=true to ingest the labels as they are" in strict
    setting = grades_setting(warned.fix, root / "labels.csv")
    assert setting == "data.grades=[No DR, Moderate, Severe, PDR]"
    found = findings(*settings, setting, "data.strict=true")
    assert [f.line for f in found if f.severity == "error" or f.setting == "data.grades"] == []


def test_a_plain_folder_with_a_public_layouts_columns_is_read_as_the_ingest_reads_it(
        tmp_path: Path) -> None:
    """IDRiD's / EyePACS's label columns in a plain folder: the preflight finds the columns,
    the ICDR grades and the EyePACS eye pairs, as the ingest will; it no longer stops on a
    missing 'DR grade' column."""
    root = tmp_path / "plain"
    root.mkdir()
    rows = []
    for i in range(25):
        (root / f"IDRiD_{i + 1:03d}.jpg").write_bytes(b"not decoded by the preflight")
        rows.append(f"IDRiD_{i + 1:03d},{i % 5},0")
    (root / "labels.csv").write_text("Image name,Retinopathy grade,Risk of macular edema\n"
                                     + "\n".join(rows) + "\n")
    found = findings(f"data.root={root}", *SMALL_BATCHES)
    assert [f.line for f in found if f.severity == "error"] == []
    (recipe,) = [f.line for f in found if f.setting == "pretrain.augment.recipe"]
    assert "(its label CSV has the IDRiD layout's columns) holds fundus photographs" in recipe
    assert errors(f"data.root={root}", "data.grades=[drac]", *SMALL_BATCHES)  # 3, 4 are outside
    assert not errors(f"data.root={root}", "pretrain.augment.recipe=fundus", *SMALL_BATCHES)

    eyes = tmp_path / "eyes"
    eyes.mkdir()
    rows = []
    for patient in range(20):  # both eyes share the grade: 4 patients per grade
        for eye in ("left", "right"):
            (eyes / f"{100 + patient}_{eye}.jpeg").write_bytes(b"not decoded by the preflight")
            rows.append(f"{100 + patient}_{eye},{patient % 5}")
    (eyes / "labels.csv").write_text("image,level\n" + "\n".join(rows) + "\n")
    found_errors = errors(f"data.root={eyes}", *SMALL_BATCHES)
    assert ("grade 0 (No DR) has only 4 patients, grade 1 (Mild) only 4, grade 2 (Moderate) only 4, grade 3 "
            "(Severe) only 4 and grade 4 (PDR) only 4 in") in found_errors["data.n_folds"], found_errors


def test_a_drac_training_folder_named_near_the_official_name_or_missing(tmp_path: Path) -> None:
    """'a. Training set' (lower-case s) made the preflight refuse with 'give the label CSV
    (data.labels_csv)' although the CSV was at its official place: the folder is now read,
    and a folder really missing is named, with where the training images go."""
    from data_prep.layout import GROUNDTRUTH_DIR, IMAGES_DIR, LABELS_CSV_NAME, TASK_DIR, TRAIN_DIR

    images = tmp_path / "DRAC" / TASK_DIR / IMAGES_DIR
    near_miss = images / "a. Training set"
    near_miss.mkdir(parents=True)
    truth = images.parent / GROUNDTRUTH_DIR
    truth.mkdir()
    labelled_files(near_miss, truth / LABELS_CSV_NAME, [f"{i + 1:03d}.png" for i in range(15)],
                   [i % 3 for i in range(15)])
    settings = (f"data.root={tmp_path / 'DRAC'}", *SMALL_BATCHES)
    assert errors(*settings) == {}
    near_miss.rename(images / "train")  # the label CSV, and no training folder: refused
    found = [f.line for f in findings(*settings) if f.severity == "error"]
    assert any(f"{truth / LABELS_CSV_NAME}: a training-label CSV, but no '{TRAIN_DIR}' folder of "
               f"training images in {images} (it holds 'train')" in line for line in found), found
    assert not any("data.labels_csv" in line for line in found), found
    (images / "train").rename(images / "b. Testing Set")  # no CSV, test images only
    (truth / LABELS_CSV_NAME).unlink()
    line = errors(*settings)["run.stages"]
    assert f"has none (no '{TRAIN_DIR}' folder of training images in {images} (it holds " \
           "'b. Testing Set'))" in line, line
    assert f"fix: put the training images in '{images / TRAIN_DIR}' and its label CSV in " \
           f"'{truth}' to ingest them, or leave finetune and export out of run.stages" in line, line


def test_label_csv_problems_are_reported_before_the_run_folder(tmp_path: Path) -> None:
    root = plain_dataset(tmp_path / "plain", [0, 1, 2] * 4)
    (root / "labels.csv").write_text("file,grade\n000.png,0\n")  # the columns are not there
    found = [f.line for f in findings(f"data.root={root}") if f.severity == "error"]
    assert any("labels.csv" in line and "image name" in line for line in found), found


def test_label_rows_are_listed_in_line_order_and_the_images_are_said_to_come_later(tmp_path: Path) -> None:
    root = plain_dataset(tmp_path / "plain", [0, 1, 2] * 4)
    rows = (root / "labels.csv").read_text().splitlines()
    rows[9] = rows[9].split(",")[0] + ",7"  # line 10: a grade outside 0..2, found when the CSV is read
    rows[3] = "gone3.png,1"  # line 4: no such image, found later when rows meet images
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    found = findings(f"data.root={root}")
    errors = [f.line for f in found if f.severity == "error" and "labels.csv:" in f.line]
    assert len(errors) == 2 and "labels.csv:4:" in errors[0] and "labels.csv:10:" in errors[1], errors
    assert any("not opened yet" in f.line and "python -m data_prep ingest" in f.line
               for f in found if f.severity == "warning")


def test_the_ingest_command_of_the_findings_carries_the_data_settings_as_flags(tmp_path: Path) -> None:
    """Review s52 F6: the 'see both kinds of problem at once' command was ``python -m
    data_prep ingest --root ROOT --out <a scratch folder> (with the same data settings)``:
    for a plain folder with a label CSV elsewhere it stopped on 'no label CSV found', and
    ``<a scratch folder>`` is no path. It now carries every data setting that differs from
    the default as the ingest's flag (data_prep.problems.CLI_TO_CONFIG), and the ingest's
    own parser reads back the same data settings."""
    import argparse
    import shlex
    import tempfile

    from data_prep import ingest
    from data_prep.problems import CLI_TO_CONFIG

    photos = tmp_path / "my photos"
    labelled_files(photos, tmp_path / "my_grades.csv", [f"eye{i:02d}.png" for i in range(12)],
                   [i % 5 for i in range(12)], ("Photo", "Severity"))
    rows = (tmp_path / "my_grades.csv").read_text().splitlines()
    rows[3] = "gone.png,1"  # a row without an image: the label check stops, the images wait
    (tmp_path / "my_grades.csv").write_text("\n".join(rows) + "\n")
    extra = tmp_path / "extra"
    extra.mkdir()
    settings = [f"data.root={photos}", f"data.labels_csv={tmp_path / 'my_grades.csv'}",
                "data.image_column=Photo", "data.grade_column=Severity", "data.grades=icdr",
                "data.channels=3", "data.modality=fundus", "data.n_folds=2", "data.fold_seed=7",
                "data.cache_sizes=[64,128]", "data.fundus_crop=true", f"data.unlabelled=[{extra}]",
                *SMALL_BATCHES]
    cfg, _, _ = preflight.read_config(train.DEFAULT_CONFIG, settings)
    (warned,) = [f for f in findings(*settings) if "not opened yet" in f.line]
    command = warned.fix.partition("to check the image files alone: ")[2]
    scratch = Path(tempfile.gettempdir()) / "drac_ssl-ingest-check"
    assert command.startswith(f"{python_command('data_prep')} ingest --root '{photos}' --labels-csv "), command
    assert command.endswith(f" --out {shlex.quote(str(scratch))}"), command
    for flag in ("--image-column Photo", "--grade-column Severity", "--grades icdr", "--channels 3",
                 "--modality fundus", "--folds 2", "--seed 7", "--cache-sizes 64,128", "--fundus-crop",
                 f"--unlabelled {extra}"):
        assert f" {flag} " in command, (flag, command)
    assert "<" not in command and "same data settings" not in command
    words = shlex.split(command)
    assert words[:4] == [*shlex.split(python_command("data_prep")), "ingest"]
    parser = argparse.ArgumentParser()
    ingest.add_arguments(parser)
    args = parser.parse_args(words[4:])
    assert args.out == str(scratch)
    read = ingest.config_from_args(args)
    for setting in set(CLI_TO_CONFIG.values()):
        name = setting.partition("=")[0].removeprefix("data.")
        assert getattr(read, name) == getattr(cfg.data, name), name
    # a switch set off by default (data.graham_mask=false) becomes its flag, too
    off = ingest_command_of(*settings, "data.graham=true", "data.graham_mask=false")
    assert " --graham --no-graham-mask " in off, off
    # review s52c F8: the modality the ingest stage is given, as the stage is: auto is fundus
    # under the fundus recipe (drac_ssl.config.ingest_modality)
    auto = [s for s in settings if s != "data.modality=fundus"]
    for recipe, said in (("fundus", True), ("octa", False)):
        (warned,) = [f for f in findings(*auto, f"pretrain.augment.recipe={recipe}") if "not opened yet" in f.line]
        assert (" --modality fundus " in warned.fix) is said, warned.fix


def ingest_command_of(*overrides: str) -> str:
    """:func:`data_prep.problems.ingest_command` of the default config with ``overrides``."""
    from data_prep.problems import ingest_command

    cfg, _, _ = preflight.read_config(train.DEFAULT_CONFIG, list(overrides))
    return ingest_command(cfg.data, "OUT")


def test_many_label_rows_without_images_are_listed_ten_then_counted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The preflight listed every one of 608 'label without image' rows; it now lists 10, then
    one finding that counts the rest (counted in the header too), says what is likely wrong
    and how to see them all. The rows that have an image are checked in the same pass (a
    trial met the folds' errors only after trimming the CSV): 4 images per grade cannot fill
    5 folds."""
    root = plain_dataset(tmp_path / "plain", [0, 1, 2] * 4)
    with open(root / "labels.csv", "a", encoding="utf-8") as fh:
        fh.writelines(f"{i:03d}.png,{i % 3}\n" for i in range(12, 52))  # 40 rows without an image
    err = main_fails(tmp_path, monkeypatch, capsys, f"data.root={root}", *SMALL_BATCHES)
    scratch = Path(tempfile.gettempdir()) / "drac_ssl-ingest-check"  # the default config's cache sizes
    assert err.count("label without image") == 10, err
    assert "the configuration cannot run: 41 problem(s) found" in err  # 40 rows + the 3 grades' one
    assert (f"data.n_folds=5 (the default): grade 0 (Normal) has only 4 labelled images, grade 1 (NPDR) only 4 "
            f"and grade 2 (PDR) only 4 in {root / 'labels.csv'}, counting only its 12 rows with an image; "
            "stratified 5-fold cross-validation needs at least 5 of every grade") in err, err
    assert err.count("cross-validation needs") == 1, err  # one finding for the three grades
    assert ("fix: data.n_folds=4, or add labelled grade 0 (Normal), grade 1 (NPDR) and grade 2 (PDR) images "
            "(at least 5 of each for 5 folds)") in err
    assert (f"11. ... and 30 more 'no-image' error(s) of this kind: 40 of the 52 label rows have no "
            f"image in {root} (12 images there): is the training set fully unzipped there? To train "
            "on the images that are there, rerun with data.missing=leave_out (the rows without an "
            "image are then left out, listed in ingest_summary.json)\n     fix: "
            f"{python_command('data_prep')} ingest --root {root} --cache-sizes 128,256 --out {scratch} lists every one in "
            f"{scratch / 'ingest_problems.txt'}") in err, err


# --------------------------------------------------------------------------------------
# The model: expander, weights


def test_bad_expander_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                           capsys: pytest.CaptureFixture[str]) -> None:
    err = main_fails(tmp_path, monkeypatch, capsys, "pretrain.expander=128-x-128")
    assert "pretrain.expander=128-x-128 (command line 'pretrain.expander=128-x-128')" in err
    assert "positive integers joined by '-'" in err and "fix: pretrain.expander=128-128-128" in err


def test_missing_weights_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "resnet18_imagenet.pth"
    err = main_fails(tmp_path, monkeypatch, capsys, f"pretrain.backbone.weights={missing}")
    assert f"pretrain.backbone.weights={missing}" in err and "no such file" in err
    assert "nothing is ever downloaded" in err


def test_weights_that_do_not_fit_the_backbone_say_which_setting(tmp_path: Path) -> None:
    path = tmp_path / "rgb_resnet18.pth"
    torch.save({"epoch": np.int64(3), "state_dict": Backbone("resnet18", in_channels=3).state_dict()}, path)
    line = errors(f"pretrain.backbone.weights={path}")["pretrain.backbone.weights"]
    assert "cannot be loaded into the configured backbone (resnet18, in_channels=1" in line
    assert "pretrain.backbone.in_channels=3" in line
    assert "pretrain.backbone.weights" not in errors(f"pretrain.backbone.weights={path}",
                                                     "pretrain.backbone.in_channels=3",
                                                     stages=["pretrain"], run_dir=_rgb_ingest(tmp_path))


def _rgb_ingest(tmp_path: Path) -> Path:
    run_dir = tmp_path / "runs" / "rgb"
    data = make_fake_ingest(run_dir)
    cache = data / "cache" / f"{SOURCE_SIZE}px.npy"
    np.save(cache, np.repeat(np.load(cache)[..., None], 3, axis=-1))
    return run_dir


def _fundus_ingest(tmp_path: Path) -> tuple[Path, Path, dict, list[str]]:
    """An ingest of colour images (:func:`_rgb_ingest`) that found fundus photographs: the run
    folder, its ingest_summary.json (path and contents) and the overrides that fit it."""
    run_dir = _rgb_ingest(tmp_path)
    summary_path = run_dir / "data" / "ingest_summary.json"
    summary = json.loads(summary_path.read_text())
    summary["modality"] = {"value": "fundus", "setting": "auto"}
    summary_path.write_text(json.dumps(summary))
    sizes = [f"pretrain.augment.source_size={SOURCE_SIZE}", "pretrain.augment.image_size=32",
             "finetune.image_size=32", f"data.root={summary['root']}"]
    return run_dir, summary_path, summary, sizes


# --------------------------------------------------------------------------------------
# The machine


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
def test_cuda_on_a_cpu_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    err = main_fails(tmp_path, monkeypatch, capsys, "run.device=cuda")
    assert "run.device=cuda (command line 'run.device=cuda')" in err
    assert "no usable CUDA device" in err and "fix: run.device=cpu" in err
    assert "not a device" in errors("run.device=gpu")["run.device"]


def test_cpu_only_options(monkeypatch: pytest.MonkeyPatch) -> None:
    from drac_ssl import runtime

    monkeypatch.setattr(runtime, "cpu_has_amx_bf16", lambda: False)
    found = findings("pretrain.precision=bf16", "pretrain.augment.on_gpu=true", "pretrain.compile=true")
    warned = {f.setting for f in found if f.severity == "warning"}
    assert {"pretrain.precision", "pretrain.augment.on_gpu"} <= warned
    (on_gpu,) = [f for f in found if f.setting == "pretrain.augment.on_gpu"]
    # the bench it cites timed the feed alone (a review): not a training step's speed
    assert "the feed alone, no model: bench/results/feed_throughput_cpu.json" in on_gpu.what, on_gpu.what
    assert not [f for f in found if f.severity == "error"]  # allowed on the CPU, with a warning
    monkeypatch.setattr(preflight.shutil, "which", lambda name: None)
    monkeypatch.delenv("CXX", raising=False)
    assert "needs a compiler" in errors("pretrain.compile=true")["pretrain.compile"]


@pytest.mark.parametrize("name", ["mnist.yaml", "fashion_mnist.yaml", "cifar10.yaml"])
def test_a_configs_own_gpu_augmentation_is_not_warned_of_on_the_cpu(name: str) -> None:
    """A review: ``-c mnist`` on a CPU warned of ``pretrain.augment.on_gpu``, which the config
    sets for its recipe (the same batched views on either device) and the user did not choose.
    Typed on the command line, it is still warned of."""
    config = train.DEFAULT_CONFIG.parent / name
    assert preflight.read_config(config)[0].pretrain.augment.on_gpu  # the config's own choice

    def warned(*overrides: str) -> bool:
        return any(f.setting == "pretrain.augment.on_gpu" and f.severity == "warning"
                   for f in findings(*CPU, *overrides, config=config))

    assert not warned()
    assert warned("pretrain.augment.on_gpu=true")


def test_bf16_on_the_cpu_follows_its_amx(monkeypatch: pytest.MonkeyPatch) -> None:
    from drac_ssl import runtime

    def precision_lines(amx: bool, *overrides: str) -> list[str]:
        monkeypatch.setattr(runtime, "cpu_has_amx_bf16", lambda: amx)
        return [f.line for f in findings(*overrides) if f.setting == "pretrain.precision"]

    drac = train.DEFAULT_CONFIG.parent / "drac.yaml"
    # without AMX, asking for bf16 is warned of (may be emulated; its speed there was not
    # measured, so the line does not say it is slower as a fact); with it, it is not
    assert any("may be emulated" in line and "not measured on such a CPU" in line
               for line in precision_lines(False, "pretrain.precision=bf16"))
    assert precision_lines(True, "pretrain.precision=bf16") == []
    # with AMX and 224 px crops, auto (fp32 on the CPU) points at bf16, with the measured gain
    monkeypatch.setattr(runtime, "cpu_has_amx_bf16", lambda: True)
    lines = [f.line for f in findings(config=drac) if f.setting == "pretrain.precision"]
    assert len(lines) == 1 and "2.2 times faster" in lines[0] and "fix: pretrain.precision=bf16" in lines[0]
    # ... but not at the default's 64 px crops, nor without AMX
    assert precision_lines(True) == [] and precision_lines(False, "pretrain.augment.image_size=224") == []


def test_a_refused_run_is_given_no_speed_hint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A review: the AMX-BF16 speed hint followed every 224 px refusal, even of errors that have
    nothing to do with speed. A refusal leaves it out (its other warnings stay); a run that goes
    ahead still gets it."""
    from drac_ssl import runtime

    monkeypatch.setattr(runtime, "cpu_has_amx_bf16", lambda: True)
    drac = train.DEFAULT_CONFIG.parent / "drac.yaml"
    settings = [*CPU, "pretrain.augment.on_gpu=true"]  # a GPU option on the CPU: a warning
    cfg, sources, parsed = preflight.read_config(drac, [*settings, "finetune.dropout=1.5"])
    assert parsed == []
    with pytest.raises(PreflightError) as refused:
        preflight.run(cfg, tmp_path / "runs" / "x", sources)
    said = str(refused.value)
    assert "finetune.dropout=1.5" in said and "pretrain.augment.on_gpu=true" in said  # its warning stays
    assert "AMX" not in said and all(f.setting != "pretrain.precision" for f in refused.value.findings)
    cfg, sources, _ = preflight.read_config(drac, settings)
    warned = preflight.run(cfg, tmp_path / "runs" / "x", sources)
    assert any("this CPU has AMX-BF16" in f.what for f in warned)


# --------------------------------------------------------------------------------------
# Stages, run folders, one pass


def test_every_problem_in_one_pass_with_where_each_value_came_from(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("pretrain:\n  batch_size: 1\n  epochz: 3\n  augment:\n    image_size: 1024\n"
                      "finetune:\n  dropout: 1.5\n")
    monkeypatch.chdir(tmp_path)
    assert train.main(["-c", str(config), *CPU, "run.threads=-2", "umm.lrr=1"]) == 2
    err = capsys.readouterr().err
    assert "6 problem(s)" in err, err
    assert f"{config}:3: unknown setting 'pretrain.epochz'" in err
    assert "command line 'umm.lrr=1': unknown setting 'umm.lrr'" in err
    assert f"pretrain.batch_size=1 ({config}:2)" in err
    assert f"pretrain.augment.image_size=1024 ({config}:5)" in err
    assert f"finetune.dropout=1.5 ({config}:7)" in err
    assert "run.threads=-2 (command line 'run.threads=-2')" in err
    assert "finetune.image_size=224" not in err  # the default is fine
    assert not (tmp_path / "runs").exists()


def test_a_misspelt_column_setting_marks_the_problem_it_causes_as_following_from_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A new user's typo, data.image_colum=filename: item 1 said the setting is unknown (did
    you mean data.image_column?) and a later item that the CSV has no column 'image name'
    (pass data.image_column='filename'), two problems for one. The later one now says it
    follows from the misspelt setting, by its number; each typo's own consequence only."""
    root = plain_dataset(tmp_path / "plain", [0, 1, 2] * 4)
    rows = (root / "labels.csv").read_text().splitlines()
    (root / "labels.csv").write_text("\n".join(["filename,grade", *rows[1:]]) + "\n")
    err = main_fails(tmp_path, monkeypatch, capsys, f"data.root={root}", *SMALL_BATCHES,
                     "data.image_colum=filename", "data.grade_colum=grade")
    items = re.split(r"\n  (?=\d+\. )", err.split("\n  and ", 1)[0])[1:]  # the numbered errors
    assert [i.split(". ", 1)[0] for i in items] == [str(n) for n in range(1, len(items) + 1)], items
    assert "unknown setting 'data.image_colum'. Did you mean 'data.image_column'?" in items[0]
    assert "unknown setting 'data.grade_colum'. Did you mean 'data.grade_column'?" in items[1]
    image, grade = (next(i for i in items if f"pass data.{c}_column=" in i) for c in ("image", "grade"))
    # said on its first line, before its fix (which is still given)
    assert image.splitlines()[0].endswith("(follows from 1: the misspelt data.image_colum did not "
                                          "set data.image_column)"), image
    assert grade.splitlines()[0].endswith("(follows from 2: the misspelt data.grade_colum did not "
                                          "set data.grade_column)"), grade
    assert "fix: did you mean 'filename'? pass data.image_column='filename'" in image
    assert sum("follows from" in i for i in items) == 2, items  # nothing else is said to follow


def test_a_csv_naming_its_columns_otherwise_is_offered_one_column_per_role(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A fresh-user review: ``Photo file,ICDR grade,Patient ID`` was told to pass
    data.image_column='ICDR grade' (and data.grade_column='ICDR grade'), which gave 57
    misleading errors. The preflight reads the CSV as the ingest does: each role is offered
    the column whose cells fit it, and one column given for two roles is one error."""
    root = tmp_path / "plain"
    names = [f"patient{i:02d}_{eye}.png" for i in range(8) for eye in ("OD", "OS")]
    labelled_files(root, root / "grades.csv", names, [i % 3 for i in range(len(names))],
                   ("Photo file", "ICDR grade"))
    err = main_fails(tmp_path, monkeypatch, capsys, f"data.root={root}", *SMALL_BATCHES,
                     f"data.labels_csv={root / 'grades.csv'}")
    assert "fix: did you mean 'Photo file'? pass data.image_column='Photo file'" in err, err
    assert "fix: did you mean 'ICDR grade'? pass data.grade_column='ICDR grade'" in err, err
    assert "data.image_column='ICDR grade'" not in err, err
    err = main_fails(tmp_path, monkeypatch, capsys, f"data.root={root}", *SMALL_BATCHES,
                     f"data.labels_csv={root / 'grades.csv'}", "data.image_column=ICDR grade",
                     "data.grade_column=ICDR grade")
    assert "'ICDR grade' is given as both the image-name and the grade column" in err, err
    assert "fix: pass data.image_column='Photo file'" in err, err
    assert "label without image" not in err and "listed" not in err, err


def test_a_misspelt_section_marks_the_problems_of_its_settings_as_following_from_it() -> None:
    """A review: pretrain.augmnt.recipe=fundus said 'unknown setting pretrain.augmnt. Did you
    mean pretrain.augment?', then warned about pretrain.augment.recipe=octa unmarked: the
    match took only the meant key itself. The unknown key now keeps the rest of what was typed
    (the suggestion names pretrain.augment.recipe), and a meant section covers its settings."""
    from drac_ssl import config as config_module
    from drac_ssl.preflight import Finding, _reading_finding

    with pytest.raises(config_module.UnknownSettingError) as typed:
        config_module.load_config(None, ["pretrain.augmnt.recipe=fundus"])
    assert "unknown setting 'pretrain.augmnt.recipe'. Did you mean 'pretrain.augment.recipe'?" in str(typed.value)
    assert typed.value.setting == "pretrain.augmnt.recipe" and typed.value.meant == ("pretrain.augment.recipe",)
    warning = Finding("pretrain.augment.recipe", "octa", "the data is fundus photographs",
                      fix="pass pretrain.augment.recipe=fundus", severity="warning")
    cause = _reading_finding(typed.value)
    said = str(PreflightError([cause, warning]))
    assert ("pretrain.augment.recipe=octa: the data is fundus photographs (follows from 1: the misspelt "
            "pretrain.augmnt.recipe did not set pretrain.augment.recipe)") in said, said
    # a section's whole block misspelt (a YAML file): the section is meant, its settings follow
    section = Finding("", None, "unknown setting 'pretrain.augmnt'", misspelt="pretrain.augmnt",
                      meant=("pretrain.augment",))
    for other in (warning, Finding("pretrain.lr", 5.0, "too high", fix="pass pretrain.augment.image_size=32")):
        said = str(PreflightError([section, other]))
        assert "(follows from 1: the misspelt pretrain.augmnt did not set pretrain.augment)" in said, said
    unrelated = Finding("pretrain.augmentation", 1, "x", fix="pass pretrain.augmentations=2")
    assert "follows from" not in str(PreflightError([section, unrelated]))
    # a typed key whose rest is no setting of the close section: the section is suggested
    with pytest.raises(config_module.UnknownSettingError) as twice:
        config_module.load_config(None, ["pretrain.augmnt.recipee=fundus"])
    assert "unknown setting 'pretrain.augmnt'. Did you mean 'pretrain.augment'?" in str(twice.value)
    assert twice.value.meant == ("pretrain.augment",)


def test_a_config_that_cannot_be_read_is_reported_alone_without_warnings_about_the_defaults(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from drac_ssl import runtime

    monkeypatch.setattr(runtime, "cpu_has_amx_bf16", lambda: True)  # the defaults' bf16 hint
    broken = tmp_path / "syntax.yaml"
    broken.write_text("pretrain:\n  epochs: 2\n   lr: 0.01\n")
    monkeypatch.chdir(tmp_path)
    for config in (broken, tmp_path / "missing.yaml"):
        assert train.main(["-c", str(config), *CPU, "pretrain.augment.image_size=224"]) == 2
        err = capsys.readouterr().err
        assert "1 problem(s)" in err and str(config) in err, err
        assert "warning" not in err and "AMX" not in err, err
    assert list(tmp_path.iterdir()) == [broken]  # nothing written


def test_existing_run_folder_is_left_untouched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = tmp_path / "runs" / "x"
    make_fake_ingest(run_dir)
    before = sorted(p.relative_to(run_dir) for p in run_dir.rglob("*"))
    monkeypatch.chdir(tmp_path)
    code = train.main([*CPU, "run.stages=[pretrain,finetune]", "pretrain.augment.source_size=64"])
    err = capsys.readouterr().err
    assert code == 2
    # read from the ingest in the run folder: its cache holds 48 px only
    assert f"not a cached size: the cache of {Path('runs') / 'x' / 'data'} holds 48 px" in err
    assert sorted(p.relative_to(run_dir) for p in run_dir.rglob("*")) == before  # nothing written


def test_a_stage_without_the_output_it_needs(tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "x"
    make_fake_ingest(run_dir)
    args = [f"pretrain.augment.source_size={SOURCE_SIZE}", "pretrain.augment.image_size=32",
            "finetune.image_size=32"]
    found = errors(*args, run_dir=run_dir, stages=["finetune", "export"])
    assert "the finetune stage needs the pretrain stage's output" in found["run.stages"]
    assert "fix: run.stages=[pretrain,finetune,export]" in found["run.stages"]
    found = errors(*args, run_dir=tmp_path / "runs" / "empty", stages=["pretrain"])
    assert "run.stages has no ingest" in found["run.stages"]
    assert "needs the pretrain" not in str(errors(*args, run_dir=run_dir, stages=["pretrain", "finetune"]))


def test_a_mistyped_stage_gets_the_stage_it_meant_never_a_shorter_or_empty_list() -> None:
    found = errors("run.stages=[ingest,pretrian]")["run.stages"]
    assert "unknown stage(s) 'pretrian' (did you mean 'pretrain'?)" in found
    assert "fix: run.stages=[ingest,pretrain]" in found
    assert "fix: run.stages=[pretrain]" in errors("run.stages=[pretrian]")["run.stages"]
    # a name like no stage: every stage, not run.stages=[] (which runs nothing)
    found = errors("run.stages=[all]")["run.stages"]
    assert "unknown stage(s) 'all';" in found and "fix: run.stages=[ingest,pretrain,umm,finetune,export]" in found


def test_a_run_name_that_is_a_path_is_refused_before_anything_is_made_outside_out_dir(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # no stage: were the name let through, the test would not run the whole job out there
    err = main_fails(tmp_path, monkeypatch, capsys, "run.name=../escape", "data.dataset=mnist", "data.root=.", "run.stages=[ingest]")
    assert ("run.name=../escape (command line 'run.name=../escape'): run.name is the name of the "
            "run folder in run.out_dir, not a path: '../escape' holds a path separator, so the run "
            "folder would be escape, outside run.out_dir=runs") in err
    assert "fix: run.name=escape; to make the run folder escape, set the folder it is made in: " \
           "run.out_dir=. run.name=escape" in err
    assert not (tmp_path / "escape").exists()
    assert "is an absolute path" in errors(f"run.name={tmp_path / 'abs'}")["run.name"]
    assert "fix: run.name=run1" in errors("run.name=..")["run.name"]
    assert "run.name" not in errors("run.name=lr0.01_a-b")  # the plain names the configs and benches use


def test_umm_enabled_but_not_run_is_said() -> None:
    warned = {f.setting: f.line for f in findings("run.stages=[ingest,pretrain,finetune]")
              if f.severity == "warning"}
    assert "without the vicreg_umm variant" in warned["umm.enabled"]
    order = {f.setting: f.line for f in findings("run.stages=[ingest,finetune,umm,pretrain]")
             if f.severity == "warning"}
    assert "pipeline order" in order["run.stages"]


def test_generic_dataset_cannot_be_fine_tuned(tmp_path: Path) -> None:
    found = errors(f"data.root={tmp_path}", config=train.DEFAULT_CONFIG.parent / "mnist.yaml",
                   stages=["pretrain", "finetune"])
    assert "grades images of an ingested DRAC-style dataset" in found["run.stages"]
    assert "fix: run.stages=[pretrain]" in found["run.stages"]


def test_a_stage_validator_is_the_net_under_the_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    from drac_ssl import finetune

    def refuse(cfg: object) -> None:
        raise ConfigError("config: finetune.some_new_setting='x' is not one of a, b.\n  fix: a")

    monkeypatch.setattr(finetune, "check_settings", refuse)
    assert "finetune.some_new_setting='x'" in " ".join(f.line for f in findings())


def test_what_only_decoding_tells_is_checked_right_after_the_ingest(tmp_path: Path) -> None:
    run_dir = _rgb_ingest(tmp_path)  # an ingest of colour images (data.channels=auto)
    sizes = [f"pretrain.augment.source_size={SOURCE_SIZE}", "pretrain.augment.image_size=32",
             "finetune.image_size=32"]
    cfg, sources, _ = preflight.read_config(train.DEFAULT_CONFIG,
                                            [*sizes, "pretrain.backbone.in_channels=1"])
    with pytest.raises(PreflightError, match=r"(?s)after the ingest, before pretraining.*"
                                             r"pretrain\.backbone\.in_channels=1 \(command line.*"
                                             r"the images have 3 channel"):
        preflight.after_ingest(cfg, run_dir, sources)
    # the default (0) takes the data's channels: nothing to refuse
    cfg, sources, _ = preflight.read_config(train.DEFAULT_CONFIG, sizes)
    preflight.after_ingest(cfg, run_dir, sources)  # raises PreflightError on any error


def test_a_plain_folder_found_to_be_fundus_by_decoding_warns_of_the_octa_recipe(tmp_path: Path) -> None:
    """A trial: a plain folder of colour photographs ingested with data.channels=auto is fundus
    by the ingest's rule, yet pretrained with the grey UW-OCTA recipe without a word (the
    preflight warns only for layouts known to be fundus before decoding). After the ingest
    it is said, once; with the fundus recipe, or grey data, nothing is."""
    run_dir, summary_path, summary, sizes = _fundus_ingest(tmp_path)
    cfg, sources, _ = preflight.read_config(train.DEFAULT_CONFIG, sizes)
    (warned,) = preflight.after_ingest(cfg, run_dir, sources)
    assert warned.setting == "pretrain.augment.recipe" and warned.severity == "warning"
    assert "the ingest found colour fundus photographs" in warned.line and "recipe is octa" in warned.line
    assert "pretrain.augment.recipe=fundus" in warned.line
    cfg, sources, _ = preflight.read_config(train.DEFAULT_CONFIG, [*sizes, "pretrain.augment.recipe=fundus"])
    assert preflight.after_ingest(cfg, run_dir, sources) == []
    summary["modality"] = {"value": "octa", "setting": "auto"}
    summary_path.write_text(json.dumps(summary))
    cfg, sources, _ = preflight.read_config(train.DEFAULT_CONFIG, sizes)
    assert preflight.after_ingest(cfg, run_dir, sources) == []


def test_the_octa_recipe_on_fundus_photographs_is_said_with_an_error_and_on_every_rerun(
        tmp_path: Path) -> None:
    """A new user's trial: a plain folder of colour photographs stopped after the ingest on
    ``pretrain.backbone.in_channels=1`` (an error), which dropped the recipe warning said with
    it; the rerun with the fix skipped the ingest and never checked the recipe again, so the
    fundus photographs were pretrained with the grey UW-OCTA recipe without a word."""
    run_dir, summary_path, summary, sizes = _fundus_ingest(tmp_path)
    cfg, sources, _ = preflight.read_config(train.DEFAULT_CONFIG, [*sizes, "pretrain.backbone.in_channels=1"])
    with pytest.raises(PreflightError) as refused:
        preflight.after_ingest(cfg, run_dir, sources)
    said = str(refused.value)
    assert "the images have 3 channel" in said and "and 1 warning(s)" in said
    assert "recipe is octa" in said and "pretrain.augment.recipe=fundus" in said
    # the error's fix and the warning's agree (review s52 F5): the channels with the recipe,
    # the overrides first (they keep the data settings, so the ingest is reused)
    assert ("fix: pretrain.backbone.in_channels=3 pretrain.augment.recipe=fundus together (the "
            "ingest is reused), or -c fundus (colour photographs") in said, said
    assert "or pretrain.augment.recipe=fundus pretrain.backbone.in_channels=3 together" in said, said
    # the rerun (ingest done, so skipped): the preflight before the stages says it again
    (run_dir / "stages.json").write_text(json.dumps({"ingest": {"status": "done"}}))
    cfg, sources, _ = preflight.read_config(train.DEFAULT_CONFIG, sizes)
    warned = [f for f in preflight.check(cfg, run_dir, sources) if f.setting == "pretrain.augment.recipe"]
    assert len(warned) == 1 and warned[0].severity == "warning", warned
    assert "the ingest found colour fundus photographs" in warned[0].line
    cfg, sources, _ = preflight.read_config(train.DEFAULT_CONFIG, [*sizes, "pretrain.augment.recipe=fundus"])
    assert not [f for f in preflight.check(cfg, run_dir, sources) if f.setting == "pretrain.augment.recipe"]


def test_a_run_folder_holding_only_the_ingest_accepts_the_fix(tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "x"
    make_fake_ingest(run_dir)
    cfg = train.load_config(train.DEFAULT_CONFIG, ["pretrain.backbone.in_channels=3"])
    save_config(cfg, run_dir / "config.yaml")
    fixed = train.load_config(train.DEFAULT_CONFIG, [])
    assert train._existing_run_problem(fixed, run_dir) == ""  # only the ingest's output is there
    other_data = train.load_config(train.DEFAULT_CONFIG, ["data.n_folds=3"])
    assert "data.n_folds: 5 -> 3" in train._existing_run_problem(other_data, run_dir)
    (run_dir / "pretrain").mkdir()
    assert "pretrain.backbone.in_channels: 3 -> 1" in train._existing_run_problem(fixed, run_dir)


# --------------------------------------------------------------------------------------
# A valid configuration passes, cheaply


def test_default_config_passes_without_decoding_rendering_or_writing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import cv2

    import data_prep.phantom
    import data_prep.validate
    from drac_ssl import runtime

    monkeypatch.setattr(runtime, "cpu_has_amx_bf16", lambda: False)  # the bf16 hint: its own test

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("the preflight decoded or rendered an image")

    for module, name in ((cv2, "imread"), (cv2, "imdecode"), (data_prep.validate, "inspect_image"),
                         (data_prep.phantom, "generate"), (data_prep.phantom, "phantom_image")):
        monkeypatch.setattr(module, name, forbidden)
    monkeypatch.chdir(tmp_path)
    cfg, sources, parsed = preflight.read_config(train.DEFAULT_CONFIG, ["run.device=cpu"])
    assert parsed == []
    assert preflight.run(cfg, train.resolve_run_dir(cfg), sources) == []  # no error, no warning
    assert list(tmp_path.iterdir()) == []  # nothing written
    # the shipped DRAC recipe and a real-data layout pass too
    cfg, sources, _ = preflight.read_config(train.DEFAULT_CONFIG.parent / "drac.yaml", ["run.device=cpu"])
    said = preflight.check(cfg, tmp_path / "runs" / "drac", sources)
    # no error; on the phantom set and the CPU it says so, and the hours of pretraining
    assert sorted((f.severity, f.setting) for f in said) == [("warning", "data.root"), ("warning", "pretrain.epochs")]
    root = plain_dataset(tmp_path / "plain", [0, 1, 2] * 5)
    assert errors(f"data.root={root}", *SMALL_BATCHES) == {}


def test_knn_monitor_without_labels_and_a_grade_without_images_are_warned(tmp_path: Path) -> None:
    root = plain_dataset(tmp_path / "plain", [0] * 6 + [1] * 6)  # no PDR image
    found = findings(f"data.root={root}", "pretrain.knn_every=1", *SMALL_BATCHES)
    warned = {f.setting: f.line for f in found if f.severity == "warning"}
    assert "grade 2 (PDR): no labelled image" in warned["data.grades"]
    assert not [f for f in found if f.severity == "error"]
    unlabelled = tmp_path / "unlabelled"
    make_fake_ingest(unlabelled, n_train=0, n_test=12)
    warned = {f.setting: f.line for f in findings(
        "pretrain.knn_every=1", f"pretrain.augment.source_size={SOURCE_SIZE}",
        "pretrain.augment.image_size=32", *SMALL_BATCHES, run_dir=unlabelled, stages=["pretrain"])
        if f.severity == "warning"}
    assert "the k-NN monitor needs labelled images of at least two grades" in warned["pretrain.knn_every"]



def _record_near_twins(data: Path, n_images: int, n_groups: int, with_patients: bool = False,
                       patient_column: str | None = None) -> None:
    """Record in ``data/ingest_summary.json`` that the ingest kept near twins in one fold
    (``data.near_duplicate_mse=1e-4``: ``n_images`` images in ``n_groups`` groups), and the
    patient column it read when given."""
    summary = json.loads((data / "ingest_summary.json").read_text())
    if patient_column:
        summary["config"] = {"patient_column": patient_column}
    summary["near_duplicates"] = {"near_duplicate_mse": 1e-4, "cache_size": 48, "compared_px": 48,
                                  "n_images": n_images, "n_groups": n_groups, "with_patients": with_patients}
    (data / "ingest_summary.json").write_text(json.dumps(summary))


def _folds_warnings(run_dir: Path) -> list[preflight.Finding]:
    """The preflight's "folds validate" findings for the fine-tuning of ``run_dir``'s fake ingest."""
    return [f for f in findings("finetune.image_size=32", f"pretrain.augment.source_size={SOURCE_SIZE}",
                                "finetune.batch_size=2", run_dir=run_dir, stages=["finetune", "export"])
            if "folds validate" in f.what]

def _refold(data: Path, fold_of: object, column: str = "fold") -> None:
    """Rewrite the fold column (or ``column``) of the manifest in ``data``: ``fold_of(row
    index, grade)``."""
    with open(data / "manifest.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for i, row in enumerate(rows):
        if row["split"] == "train":
            row[column] = str(fold_of(i, int(row["grade"])))  # type: ignore[operator]
    with open(data / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def test_the_folds_of_an_existing_ingest_are_checked_as_those_an_ingest_will_make(tmp_path: Path) -> None:
    """Fine-tuning on a standalone ingest whose validation folds lack a grade trained without a
    word, while the same data were refused when train ran the ingest itself: the manifest's
    folds are checked now, an error (as on that path) with the fix spelled for a done ingest."""
    run_dir = tmp_path / "runs" / "x"
    data = make_fake_ingest(run_dir, n_train=12)  # 4 images per grade
    (run_dir / "data" / "ingest_summary.json").write_text('{"root": "/data/my DRAC"}')
    _refold(data, lambda i, grade: i % 5)  # 5 folds, each grade in 4 of them (an unstratified split)
    settings = ("finetune.image_size=32", f"pretrain.augment.source_size={SOURCE_SIZE}",
                "finetune.batch_size=2")

    def fold_findings() -> list[preflight.Finding]:
        return [f for f in findings(*settings, run_dir=run_dir, stages=["finetune", "export"])
                if "stratified" in f.what or "folds validate" in f.what]

    found = fold_findings()
    assert [f.severity for f in found] == ["error"] * 3, [f.line for f in found]
    assert found[0].what == (f"grade 0 (Normal) has only 4 labelled images in the ingest in {data}; "
                             "stratified 5-fold cross-validation needs at least 5 of every grade (1 of "
                             "the 5 folds will validate without any grade 0 (Normal) image)")
    assert found[0].fix == (
        f"redo the ingest with 4 folds: {python_command('data_prep')} ingest --root '/data/my DRAC' --out {data} "
        "--folds 4 (its other options as before), or ingest in run.stages of a new run folder "
        "(run.name=<a new name> data.n_folds=4); or add labelled grade 0 (Normal) images (at least 5 "
        "for 5 folds) and redo it")
    assert [f.line for f in findings(*settings, run_dir=run_dir, stages=["pretrain"])
            if "stratified" in f.what] == []  # pretraining does not use the folds
    _refold(data, lambda i, grade: i // 3 % 4)  # 4 folds, every grade in each: nothing to say
    assert fold_findings() == []
    # a grade of one image: the fix is the ingest's (flags, for the ingest that is redone), then
    # the same in settings for a new run folder, never the two mixed
    _refold(data, lambda i, grade: 2 if i == 0 else (1 if grade == 2 else grade), column="grade")
    (found,) = [f for f in fold_findings() if "grade 2 (PDR) has only 1" in f.what]
    ingest_part, _, settings_part = found.fix.partition("; then redo the ingest with those flags: ")
    assert "--grades" in ingest_part and "data." not in ingest_part
    assert settings_part.startswith(f"{python_command('data_prep')} ingest --root '/data/my DRAC' --out {data} ")
    in_settings = settings_part.split("in settings: ")[1]
    assert "data.grades=" in in_settings and "--" not in in_settings
    # a grade with enough images that still misses a fold: a warning
    data = make_fake_ingest(tmp_path / "y")  # 10 images per grade, 5 folds
    run_dir = tmp_path / "y"
    _refold(data, lambda i, grade: (i // 3) % 4 + 1 if grade == 2 else (i // 3) % 5)
    (warned,) = fold_findings()
    assert warned.severity == "warning"
    assert warned.what == (f"the ingest in {data}: 1 of its 5 folds validate without any grade 2 (PDR) "
                           "image, although it has 10 labelled images: their kappa and AUC leave "
                           "grade 2 (PDR) out")


def test_an_ingest_that_kept_twins_together_before_fold_group_existed_is_told_to_redo_it(tmp_path: Path) -> None:
    """An ingest with data.near_duplicate_mse (its summary: 2 groups of near twins) made before
    the manifest's fold_group column: its folds were split by image groups the manifest does not
    name, so folds recomputed from images would be other folds, and a seed or fold count checked
    on them would be advice about folds the ingest never made. The preflight and the bundle's
    data lines (the report's) say to redo the ingest with this version instead."""
    from data_prep.folds import REDO_FOR_FOLD_GROUPS
    from drac_ssl.grading.bundle import data_provenance, fold_gap_words, fold_grouping_words

    run_dir = tmp_path / "y"
    data = make_fake_ingest(run_dir)  # 10 images per grade, 5 folds, no fold_group column
    _refold(data, lambda i, grade: (i // 3) % 4 + 1 if grade == 2 else (i // 3) % 5)  # grade 2 misses fold 0
    _record_near_twins(data, n_images=4, n_groups=2)
    (warned,) = _folds_warnings(run_dir)
    assert warned.severity == "warning" and "grade 2 (PDR)" in warned.what
    assert warned.fix.startswith(f"{REDO_FOR_FOLD_GROUPS}: {python_command('data_prep')} ingest --root ")
    assert "--seed" not in warned.fix and "--folds" not in warned.fix and "data.fold_seed" not in warned.fix
    facts = data_provenance(data)
    assert facts["folds_without_grade"] == {"2": [0]} and facts["fold_groups_missing"] is True
    assert facts["fold_gap_fix"].startswith(REDO_FOR_FOLD_GROUPS) and "seed" not in facts["fold_gap_fix"]
    assert fold_gap_words(facts).endswith(f"To put every grade in every fold: {facts['fold_gap_fix']}")
    words = fold_grouping_words(facts, {"ci_resamples": "images", "ci_units": 30})
    assert words.endswith(f"likely too narrow: to resample them, {REDO_FOR_FOLD_GROUPS} and fine-tune again")
    # the same manifest without the twins in its summary: the folds are recomputed as before
    summary = json.loads((data / "ingest_summary.json").read_text())
    del summary["near_duplicates"]
    (data / "ingest_summary.json").write_text(json.dumps(summary))
    assert "fold_groups_missing" not in data_provenance(data)
    assert "fine-tune again" not in fold_grouping_words(data_provenance(data), {"ci_resamples": "images"})


@pytest.mark.parametrize("column", ["patient", "fold_group"])
def test_a_grade_of_fewer_grouped_units_than_folds_is_said_in_its_unit(tmp_path: Path, column: str) -> None:
    """An existing ingest whose grade 2 has 10 images (enough for 5 folds) but all of 2
    patients (or 2 image groups of near twins): no seed fills every fold, and the warning's fix
    says why in that unit's words (data_prep.folds.FOLD_UNITS), as the two sentences read
    before the table."""
    run_dir = tmp_path / "y"
    data = make_fake_ingest(run_dir)  # 10 images per grade, 5 folds

    def unit(i: int, grade: int) -> str:  # grade 2's images: two units of 5; the others alone
        return f"U{i // 15}" if grade == 2 else f"{i + 1:03d}.png"

    _refold(data, unit, column=column)
    _refold(data, lambda i, grade: 1 + i // 15 if grade == 2 else (i // 3) % 5)  # each unit in one fold
    if column == "fold_group":  # the ingest kept near twins together
        _record_near_twins(data, n_images=10, n_groups=2)
    (warned,) = _folds_warnings(run_dir)
    held = ("its images are of 2 patients, and a patient's images stay in one fold: add labelled grade 2 "
            "(PDR) images of more patients" if column == "patient" else
            "its images are in 2 image groups (near twins and a patient's images kept together by "
            "--near-duplicate-mse), each in one fold: add labelled grade 2 (PDR) images (not near twins "
            "of those it has)")
    assert warned.fix.startswith(f"{held} and redo the ingest, or redo it with 2 folds: "
                                 f"{python_command('data_prep')} ingest --root ")
    assert warned.what.startswith(f"the ingest in {data}: 3 of its 5 folds validate without any grade 2 (PDR)")


@pytest.mark.parametrize("column", ["patient", "fold_group", None])
def test_the_data_line_on_a_grade_of_fewer_units_than_folds_names_the_unit(tmp_path: Path,
                                                                            column: str | None) -> None:
    """report.md's and the model card's line on folds without some grade (bundle.fold_gap_words)
    ended, when nothing fills every fold, "(a grade with fewer patients, image groups or images
    than folds cannot be in every fold)" whatever the folds kept whole: it names the unit now
    (data_provenance's fold_unit, in data_prep.folds.FOLD_UNITS' words), and, for data recorded
    before fold_unit, the unit the rest of the record implies; the three together only where
    nothing tells (twins kept together with patients named: the units may be either)."""
    from drac_ssl.grading.bundle import data_provenance, fold_gap_words

    run_dir = tmp_path / "y"
    data = make_fake_ingest(run_dir, n_train=30 if column else 12)  # 10 (4) images per grade, 5 folds
    if column:  # grade 2's 10 images: 2 patients (image groups) of 5, each in one fold
        _refold(data, lambda i, grade: f"U{i // 15}" if grade == 2 else f"{i + 1:03d}.png", column=column)
        _refold(data, lambda i, grade: 1 + i // 15 if grade == 2 else (i // 3) % 5)
    else:  # 5 folds, each grade (4 images) in 4 of them
        _refold(data, lambda i, grade: i % 5)
    if column == "fold_group":  # the ingest kept near twins together
        _record_near_twins(data, n_images=10, n_groups=2)
    facts = data_provenance(data)
    unit = {"patient": "patients", "fold_group": "image groups", None: "labelled images"}[column]
    assert facts["folds_without_grade"] and facts["fold_gap_fix"] == ""
    said = f" (a grade with fewer {unit} than folds cannot be in every fold)"
    assert fold_gap_words(facts).endswith(said)
    del facts["fold_unit"]  # recorded before fold_unit: the rest of the record says it here
    assert fold_gap_words(facts).endswith(said)
    facts.update(n_patients=15, near_duplicates={"n_images": 10, "n_groups": 2, "with_patients": True})
    assert fold_gap_words(facts).endswith(" (a grade with fewer patients, image groups or images than "
                                          "folds cannot be in every fold)")


def test_an_old_twin_grouped_ingest_with_patients_is_told_to_redo_it_too(tmp_path: Path) -> None:
    """The same older ingest (near twins kept together, no fold_group column) with patient ids:
    its folds kept each twin group joined with its images' patients (data_prep.ingest's
    grouped_units), which are the patients only where no twins are of different patients, and
    the manifest cannot tell. The preflight already recomputed nothing and said to redo the
    ingest (units_unknown, whatever the patients); the report and the model card said "the CIs
    resample patients" with no word of it: they now say the groups are not resampled, and the
    same redo. An ingest of this version, whose fold_group shows the twins within patients, is
    said as before."""
    from data_prep.folds import REDO_FOR_FOLD_GROUPS
    from drac_ssl.grading.bundle import data_provenance, fold_grouping_words

    run_dir = tmp_path / "y"
    data = make_fake_ingest(run_dir)  # 30 images, 10 per grade
    _refold(data, lambda i, grade: f"P{i // 2:02d}", column="patient")  # 15 patients of 2 images
    _refold(data, lambda i, grade: 1 if i // 2 in (5, 10) else (i // 2) % 5)  # a patient in one fold; no PDR in fold 0
    _record_near_twins(data, n_images=2, n_groups=1, with_patients=True, patient_column="patient")
    (warned,) = _folds_warnings(run_dir)
    assert "grade 2 (PDR)" in warned.what and warned.fix.startswith(f"{REDO_FOR_FOLD_GROUPS}: {python_command('data_prep')} ")
    facts = data_provenance(data)
    assert facts["n_patients"] == 15 and facts["fold_groups_missing"] is True
    assert facts["fold_gap_fix"].startswith(REDO_FOR_FOLD_GROUPS)
    words = fold_grouping_words(facts, {"ci_resamples": "patients", "ci_units": 15})
    assert words.startswith("folds: grouped by patient, 15 patients for 30 training images (each patient's "
                            "images in one fold); near twins kept together: 2 labelled images in 1 group, each "
                            "group, with its images' patients, in one fold")
    assert words.endswith("; the bootstrap 95% CIs resample patients (15 patients, each with all its images), "
                          "not the image groups the folds kept whole, which the manifest does not name (made "
                          "before its fold_group column): where near twins are of different patients, the "
                          "folds kept those patients together and these CIs are likely too narrow; to resample "
                          f"the groups, {REDO_FOR_FOLD_GROUPS} and fine-tune again")
    images = fold_grouping_words(facts, {"ci_resamples": "images", "ci_units": 30})  # as without patients
    assert images.endswith(f"likely too narrow: to resample them, {REDO_FOR_FOLD_GROUPS} and fine-tune again")
    # this version's ingest names each image's fold unit: the twins within one patient, the units
    # are the patients, and resampling them is resampling the folds' units
    _refold(data, lambda i, grade: f"P{i // 2:02d}", column="fold_group")
    facts = data_provenance(data)
    assert "fold_groups_missing" not in facts
    assert fold_grouping_words(facts, {"ci_resamples": "patients", "ci_units": 15}).endswith(
        "; the bootstrap 95% CIs resample patients (15 patients, each with all its images)")


def test_folds_grouped_by_patient_count_patients(tmp_path: Path) -> None:
    root = plain_dataset(tmp_path / "plain", [0, 1, 2] * 6)
    rows = (root / "labels.csv").read_text().splitlines()
    # 18 images of 6 patients: each patient's 3 images share one grade, two patients per grade
    lines = [rows[0] + ",patient"] + [f"{r},p{int(r.split(',')[1])}{i % 2}" for i, r in enumerate(rows[1:])]
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    found = errors(f"data.root={root}", "data.patient_column=patient", *SMALL_BATCHES)
    assert "has only 2 patients" in found["data.n_folds"] and "fix: data.n_folds=2" in found["data.n_folds"]
    # one patient: no number of folds works (never 'data.n_folds=2'), and the count agrees
    lines = [rows[0] + ",patient"] + [f"{r},p0" for r in rows[1:]]
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    line = errors(f"data.root={root}", "data.patient_column=patient", *SMALL_BATCHES)["data.n_folds"]
    assert "has 1 patient (data.patient_column=patient)" in line and "at most 1 fold\n" in line
    assert line.endswith("fix: add labelled images of other patients: cross-validation needs at "
                         "least 2 patients, one per fold")


# A trial user's 30 photographs of 15 patients (two eyes each): (patient, grade) per image
TWO_EYES = [("001", 3), ("001", 3), ("002", 4), ("002", 2), ("003", 1), ("003", 2), ("004", 4), ("004", 2),
            ("005", 2), ("005", 1), ("006", 2), ("006", 1), ("007", 1), ("007", 3), ("008", 3), ("008", 1),
            ("009", 2), ("009", 4), ("010", 4), ("010", 3), ("011", 4), ("011", 1), ("012", 3), ("012", 0),
            ("013", 0), ("013", 0), ("014", 0), ("014", 0), ("015", 0), ("015", 4)]


def test_the_fold_count_offered_is_checked_on_the_patients(tmp_path: Path) -> None:
    """Grade 0 has 4 patients, too few for 5 folds: 'data.n_folds=4' was offered, whose 4
    patient-grouped folds (seed 0) leave grade 0 out of one (the full run's report then said
    data.fold_seed=1). The fix offered now is checked as the ingest will split the patients,
    and following it fills every fold."""
    from data_prep.folds import assign_folds, folds_without_grade

    root = plain_dataset(tmp_path / "plain", [g for _, g in TWO_EYES])
    rows = (root / "labels.csv").read_text().splitlines()
    lines = [rows[0] + ",patient"] + [f"{r},{p}" for r, (p, _) in zip(rows[1:], TWO_EYES, strict=True)]
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    grades, patients = [g for _, g in TWO_EYES], [p for p, _ in TWO_EYES]
    assert folds_without_grade(grades, assign_folds(grades, 4, 0, patients)[0], 4)  # the unchecked fix fails
    line = errors(f"data.root={root}", "data.patient_column=patient", "data.n_folds=5", "data.grades=icdr",
                  *SMALL_BATCHES)["data.n_folds"]
    assert "has only 4 patients" in line
    fix = re.search(r"fix: data\.n_folds=(\d+)(?: data\.fold_seed=(\d+))? \(checked: ", line)
    assert fix, line
    k, seed = int(fix[1]), int(fix[2] or 0)
    assert not folds_without_grade(grades, assign_folds(grades, k, seed, patients)[0], k)


def test_the_fold_count_offered_beside_a_site_column_is_checked_on_the_sites_too(tmp_path: Path) -> None:
    """Review F3: with data.site_column the preflight offered 'data.n_folds=4' unchecked, whose
    4 folds left a grade out of one, though the ingest checks its folds with the sites. The fix
    offered now is checked as the ingest will split the patients and the sites (these sites move
    the working seed from 1 to 2), and following it fills every fold."""
    from data_prep.folds import assign_site_folds, folds_without_grade

    site = dict(zip([f"{i:03d}" for i in range(1, 16)], "AABABBBBAABABBA", strict=True))
    root = plain_dataset(tmp_path / "plain", [g for _, g in TWO_EYES])
    rows = (root / "labels.csv").read_text().splitlines()
    lines = [rows[0] + ",patient,site"] + [f"{r},{p},{site[p]}" for r, (p, _) in zip(rows[1:], TWO_EYES, strict=True)]
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    grades, patients = [g for _, g in TWO_EYES], [p for p, _ in TWO_EYES]
    sites = [site[p] for p in patients]

    def gaps(k: int, seed: int) -> dict[int, list[int]]:
        return folds_without_grade(grades, assign_site_folds(grades, k, seed, patients, sites=sites)[0], k)

    assert gaps(4, 0) and gaps(4, 1)  # the unchecked fix, and the seed checked without the sites, fail
    line = errors(f"data.root={root}", "data.patient_column=patient", "data.site_column=site", "data.n_folds=5",
                  "data.grades=icdr", *SMALL_BATCHES)["data.n_folds"]
    assert "has only 4 patients" in line
    fix = re.search(r"fix: data\.n_folds=(\d+)(?: data\.fold_seed=(\d+))? \(checked: ", line)
    assert fix, line
    assert not gaps(int(fix[1]), int(fix[2] or 0)), line


def test_the_full_runs_fold_count_after_a_first_try_with_sites_is_checked_on_its_sites(tmp_path: Path) -> None:
    """Review F3, the first try's note on the full run: judged from the first try's ingest, whose
    manifest records each image's site; the fold count offered is checked on them as on the
    label CSV (the working seed is 2 with these sites, 1 without), and unchecked for an ingest
    that recorded no sites."""
    site = dict(zip([f"{i:03d}" for i in range(1, 16)], "AABABBBBAABABBA", strict=True))
    data = tmp_path / "ft" / "data"
    data.mkdir(parents=True)
    (data / "manifest.csv").write_text("id,path,grade,split,fold,patient,site\n" + "".join(
        f"e{i}.png,e{i}.png,{g},train,{i % 2},{p},{site[p]}\n" for i, (p, g) in enumerate(TWO_EYES)))
    summary = {"patients": {"grouped": True, "column": "patient"}, "grades": {"names": ["No DR", "Mild", "Moderate", "Severe", "PDR"]},
               "sites": {"column": "site", "folds": "sites"}}
    (data / "ingest_summary.json").write_text(json.dumps(summary))
    cfg, sources, _ = preflight.read_config(Path("configs/fundus.yaml"), [
        "data.root=/x", "data.patient_column=patient", "data.site_column=site", "run.stages=[ingest]"])

    def fix() -> str:
        (found,) = [f for f in preflight.new_run_problems(cfg, tmp_path / "ft", sources) if f.setting == "data.n_folds"]
        return found.fix

    assert fix().startswith("data.n_folds=4 data.fold_seed=2 (checked: "), fix()
    del summary["sites"]
    (data / "ingest_summary.json").write_text(json.dumps(summary))
    assert fix().startswith("data.n_folds=4, or "), fix()  # sites not recorded: not checked on the patients alone


def test_eyepacs_eye_pairs_are_counted_as_patients_as_the_ingest_groups_them(tmp_path: Path) -> None:
    """EyePACS images <patient>_left / _right share a fold in the ingest: 8 images of a grade
    from 4 patients cannot fill 5 folds, which the preflight says before any stage runs."""
    root = tmp_path / "eyepacs"
    (root / "train").mkdir(parents=True)
    rows = []
    for patient in range(20):  # both eyes of a patient share the grade: 4 patients per grade
        for eye in ("left", "right"):
            name = f"{100 + patient}_{eye}"
            (root / "train" / f"{name}.jpeg").write_bytes(b"not decoded by the preflight")
            rows.append(f"{name},{patient % 5}")
    (root / "trainLabels.csv").write_text("image,level\n" + "\n".join(rows) + "\n")
    found = errors(f"data.root={root}", "data.grades=[icdr]", "pretrain.augment.recipe=fundus",
                   *SMALL_BATCHES)
    assert "grade 0 (No DR) has only 4 patients" in found["data.n_folds"], found
    assert "and grade 4 (PDR) only 4 in" in found["data.n_folds"], found
    assert "fix: data.n_folds=4" in found["data.n_folds"]
    assert "data.n_folds" not in errors(f"data.root={root}", "data.grades=[icdr]", "data.n_folds=4",
                                        *SMALL_BATCHES)


def test_deepdrid_per_eye_grades_and_patients_as_the_ingest_reads_them(tmp_path: Path) -> None:
    """A DeepDRiD set: the preflight lists the per-patient folders, reads each image's grade
    from its eye's column and groups by patient_id, as the ingest will: 4 patients of a grade
    cannot fill 5 folds. Read as the plain folders were (one folder, one grade column), every
    image would be without a row and every right-eye row ungradable. The grade-0 patients'
    right eyes are grade 1, so patient_DR_Level (the worse eye, as DeepDRiD writes it) is 1
    for them: read instead of the eye columns, grade 0 would have no patient, not 4 (the
    fixture once gave both eyes and the patient one grade, and passed that reading too)."""
    root = tmp_path / "regular-fundus-training"
    rows = []
    for patient in range(1, 21):  # 4 images a patient: 4 patients per grade (of the left eye)
        left_grade = patient % 5
        right_grade = left_grade or 1
        for image_id in (f"{patient}_l1", f"{patient}_l2", f"{patient}_r1", f"{patient}_r2"):
            path = root / "Images" / str(patient) / f"{image_id}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"not decoded by the preflight")
            left = "_l" in image_id
            rows.append(f"{patient},{image_id},regular-fundus-training\\Images\\{patient}\\{image_id}.jpg,"
                        f"{left_grade if left else ''},{'' if left else right_grade},"
                        f"{max(left_grade, right_grade)},1")
    (root / "regular-fundus-training.csv").write_text(
        "patient_id,image_id,image_path,left_eye_DR_Level,right_eye_DR_Level,patient_DR_Level,"
        "Overall quality\n" + "\n".join(rows) + "\n")
    found = [f for f in findings(f"data.root={root}", "pretrain.augment.recipe=fundus",
                                 *SMALL_BATCHES) if f.severity == "error"]
    assert {f.setting for f in found} == {"data.n_folds"}, found
    (said,) = [f.line for f in found]  # one error for the grades short of patients
    for short in ("grade 0 (No DR) has only 4 patients", "and grade 4 (PDR) only 4 in"):
        assert short in said, said  # grade 0: the left eyes of patients 5, 10, 15 and 20
    assert "grade 1 (Mild)" not in said, said  # 8 patients: 4 by the left eye, 4 by the right
    assert "data.n_folds" not in errors(f"data.root={root}", "data.n_folds=4", *SMALL_BATCHES)


def test_gpu_checks_with_a_simulated_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """No GPU here: torch.cuda is patched to a one-GPU machine without native bf16 (a V100)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=0: "Tesla V100")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: False)
    assert "has 1 CUDA device(s)" in errors("run.device=cuda:1")["run.device"]
    found = findings("run.device=auto", "pretrain.augment.on_gpu=true")
    assert not [f for f in found if f.severity == "error"]
    warned = {f.setting: f.line for f in found if f.severity == "warning"}
    assert "Tesla V100, which has no native bf16" in warned["pretrain.precision"]
    assert "pretrain.augment.on_gpu" not in warned  # a GPU option on a GPU
    assert "pretrain.precision" not in {f.setting for f in findings("run.device=cuda",
                                                                   "pretrain.precision=fp32")}


def test_data_problems_name_the_pipeline_settings_not_the_ingest_flags(tmp_path: Path) -> None:
    root = plain_dataset(tmp_path / "plain", [0, 1, 2] * 4)
    (root / "other.csv").write_text("a,b\n")  # two CSVs: which one holds the labels?
    found = [f.line for f in findings(f"data.root={root}") if f.severity == "error"]
    assert any("which one holds the labels" in line and "data.labels_csv=FILE" in line for line in found), found
    assert not any("--labels-csv" in line for line in found)


def test_every_finetune_range_is_refused_by_the_preflight_and_by_the_stage_alike() -> None:
    # one table (config.FINETUNE_RANGES): the preflight lists each setting outside it, and a
    # direct finetune.run (finetune.check_settings) refuses it with the same words
    from drac_ssl import finetune
    from drac_ssl.config import FINETUNE_RANGES, Config, get

    assert {"finetune.weight_decay", "finetune.seed", "finetune.label_fraction"} <= {r.setting for r in FINETUNE_RANGES}
    for r in FINETUNE_RANGES:
        bad = r.low if r.strict else r.low - 1
        found = errors(f"{r.setting}={bad}", stages=["finetune"])
        assert r.setting in found and r.words() in found[r.setting], (r.setting, found)
        cfg = Config()
        section, name = r.setting.split(".")
        setattr(get(cfg, section), name, type(get(cfg, r.setting))(bad))
        with pytest.raises(ConfigError, match=rf"{r.setting.replace('.', '[.]')}=\S+ {re.escape(r.words())}"):
            finetune.check_settings(cfg)
        if r.high is not None:
            assert r.setting in errors(f"{r.setting}={r.high + (0 if r.high_open else 1)}", stages=["finetune"])


def test_new_finetune_settings_are_checked_once_with_the_fix_they_mean(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    err = main_fails(tmp_path, monkeypatch, capsys, "finetune.label_fraction=0", "finetune.seed=-3",
                     "finetune.freeze=none")
    assert "3 problem(s)" in err  # each once (the config's and fine-tuning's own checks agree)
    assert err.count("finetune.label_fraction=0.0") == 1 and "must be > 0 and <= 1" in err
    assert "finetune.seed=-3" in err and "-1: run.seed's" in err
    # "none" frozen means the whole backbone trains: all, not the nearest spelling (frozen)
    assert "fix: finetune.freeze=all" in err
    assert "fix: finetune.freeze=frozen" in errors("finetune.freeze=head")["finetune.freeze"]


def test_labels_that_use_only_the_lower_grades_suggest_a_shorter_scale(tmp_path: Path) -> None:
    import cv2

    for i in range(12):
        cv2.imwrite(str(tmp_path / f"{i:03d}.png"), np.full((32, 32), 40 * (i % 2), np.uint8))
    (tmp_path / "labels.csv").write_text("image name,DR grade\n" + "".join(f"{i:03d}.png,{i % 2}\n" for i in range(12)))
    found = [f for f in findings(f"data.root={tmp_path}", "data.n_folds=2", *CPU, *SMALL_BATCHES)
             if f.setting == "data.grades"]
    assert len(found) == 1 and found[0].severity == "warning"
    assert "if your scale has 2 grades, the model would still have 3 outputs" in found[0].what
    assert found[0].fix.startswith("data.grades=[name of grade 0, name of grade 1]")


def test_a_resumed_run_says_when_its_data_changed_since_the_ingest(tmp_path: Path) -> None:
    """A user fixes a label after the run and reruns the same command: the finished ingest is
    not redone, so the preflight says the run goes on with the old data, and how to use the new."""
    import json

    from data_prep import ingest
    from drac_ssl.config import DataConfig

    root = plain_dataset(tmp_path / "plain", [i % 3 for i in range(12)])
    for i in range(12):
        (root / f"{i:03d}.png").unlink()
        cv2.imwrite(str(root / f"{i:03d}.png"), np.full((16, 16), 10 * i, np.uint8))
    run_dir = tmp_path / "runs" / "x"
    ingest.run(DataConfig(root=str(root), cache_sizes=[16], n_folds=3, workers=1), run_dir / "data",
               verbose=False)
    (run_dir / "stages.json").write_text(json.dumps({"ingest": {"status": "done", "seconds": 1.0}}))
    settings = (f"data.root={root}", "data.n_folds=3", *SMALL_BATCHES)

    def warned() -> list[preflight.Finding]:
        return [f for f in findings(*settings, run_dir=run_dir, stages=["pretrain"]) if f.setting == "data.root"]

    assert warned() == []
    rows = (root / "labels.csv").read_text().splitlines()
    rows[3] = rows[3][:-1] + "0"  # 002.png: grade 2 -> 0
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    (finding,) = warned()
    assert finding.severity == "warning"
    assert finding.what.startswith(f"the data changed since this run ingested it: the label CSV "
                                   f"{root / 'labels.csv'} was edited (1 grade(s) differ from the "
                                   f"ingest's: 002.png (line 4): 2 -> 0). This run goes on with the "
                                   "data as it was ingested"), finding.what
    assert finding.fix == (f"to use the changed data, run the same command in a new run folder "
                           f"(run.name=<a new name>, without run.reuse of this run, which would take its "
                           f"ingest of the old data), or delete {run_dir} to redo this one")
    # a rerun of a finished run (nothing left to run) says it too: a trial fixed a label, reran
    # and heard only "already done" for every stage
    (done,) = [f for f in findings(*settings, run_dir=run_dir, stages=[]) if f.setting == "data.root"]
    assert done.what.endswith("This run is finished: every stage was made from the data as it was "
                              "ingested, and nothing is rerun, so its results do not reflect the changes")
    # a run that took its ingest from another (run.reuse): deleting it and rerunning the same
    # command would take the old ingest again
    (run_dir / "stages.json").write_text(json.dumps({"ingest": {"status": "done", "seconds": 0.0,
                                                                "reused_from": "runs/older"}}))
    assert warned()[0].fix.endswith(f"or delete {run_dir} and rerun without run.reuse (its ingest was "
                                    f"taken from runs/older, made from the old data)")
    # followed: a new run folder's ingest reads the label as it is now, and its resume is quiet
    new_run = tmp_path / "runs" / "y"
    ingest.run(DataConfig(root=str(root), cache_sizes=[16], n_folds=3, workers=1), new_run / "data",
               verbose=False)
    (new_run / "stages.json").write_text((run_dir / "stages.json").read_text())
    with open(new_run / "data" / "manifest.csv", newline="") as fh:
        assert {r["id"]: r["grade"] for r in csv.DictReader(fh)}["002.png"] == "0"
    assert [f for f in findings(*settings, run_dir=new_run, stages=["pretrain"]) if f.setting == "data.root"] == []
    # a data root that is gone (moved, a drive not mounted) is said as such, with nothing to do
    root.rename(tmp_path / "moved")
    (finding,) = warned()
    assert finding.what.startswith(f"the data root {root} no longer exists (moved or renamed, or a drive "
                                   "not mounted?). This run does not need it")
    assert finding.fix.startswith("nothing, to finish this run") and "delete" not in finding.fix
    assert [f for f in findings(*settings, run_dir=run_dir, stages=[]) if f.setting == "data.root"] == []


def test_ungradable_rows_refuse_the_run_unless_left_out_and_are_not_counted(tmp_path: Path) -> None:
    """The preflight reads the label CSV as the ingest does: an empty or NA grade refuses the
    run (its fix names data.ungradable=leave_out); with leave_out those rows are not counted,
    so 4 graded PDR images (and 2 ungradable rows) cannot fill 5 folds."""
    grades: list[object] = [0, 1, 2] * 4 + [0, 1] + ["", "NA", ""]
    root = plain_dataset(tmp_path / "plain", grades)  # type: ignore[arg-type]
    refused = [f.line for f in findings(f"data.root={root}", *SMALL_BATCHES) if f.severity == "error"]
    ungradable = [line for line in refused if "has no grade" in line]
    assert len(ungradable) == 3, refused
    assert all("rerun with data.ungradable=leave_out" in line for line in ungradable)
    assert "--ungradable" not in "\n".join(refused)
    left_out = errors(f"data.root={root}", "data.ungradable=leave_out", "data.n_folds=4", *SMALL_BATCHES)
    assert left_out == {}, left_out
    found = errors(f"data.root={root}", "data.ungradable=leave_out", *SMALL_BATCHES)
    assert list(found) == ["data.n_folds"] and "grade 2 (PDR) has only 4" in found["data.n_folds"], found


def test_a_referable_cut_outside_the_data_scale_is_said_before_the_pretraining() -> None:
    """finetune.referable_from needs the data's scale (the phantom's: DRAC's three grades), so
    the fine-tuning can only check it after hours of pretraining: the preflight says it first."""
    found = errors("finetune.referable_from=3")
    assert "finetune.referable_from" in found
    assert ("finetune.referable_from=3 (command line 'finetune.referable_from=3'): outside 1..2 on the "
            "data's drac scale (0 Normal, 1 NPDR, 2 PDR)") in found["finetune.referable_from"]
    assert "fix: finetune.referable_from=2, or finetune.referable_from=off" in found["finetune.referable_from"]
    assert "finetune.referable_from" not in errors("finetune.referable_from=2")
    assert "finetune.referable_from" not in errors()  # auto: off on DRAC's scale


def test_negative_knn_limit_is_refused() -> None:
    line = errors("pretrain.knn_limit=-1")["pretrain.knn_limit"]
    assert "must be >= 0 (0 = every image of each split)" in line and "pretrain.knn_limit=0 (the default)" in line
    assert "pretrain.knn_limit" not in errors("pretrain.knn_limit=500")


def _write_idx(path: Path, array: np.ndarray) -> None:
    import struct

    path.write_bytes(bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", n) for n in array.shape)
                     + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


@pytest.mark.parametrize("dataset", ["mnist", "fashion_mnist"])
def test_missing_generic_dataset_files_are_refused_before_the_run_folder_is_made(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], dataset: str) -> None:
    """A trial's data.root held only MNIST's test files (and a half Fashion-MNIST IDX pair):
    the loader's error came after the run folder was made. The preflight now looks the files
    up as the loader does and says its message; no run folder is left."""
    root = tmp_path / "data_root"
    root.mkdir()
    _write_idx(root / "t10k-images-idx3-ubyte", np.zeros((4, 28, 28), np.uint8))
    _write_idx(root / "t10k-labels-idx1-ubyte", np.arange(4, dtype=np.uint8))
    monkeypatch.chdir(tmp_path)
    config = str(train.DEFAULT_CONFIG.parent / f"{dataset}.yaml")
    code = train.main(["-c", config, f"data.root={root}", *CPU])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err, err
    assert "the train split: " in err and "not found under" in err and "train-images-idx3-ubyte" in err, err
    assert not (tmp_path / "runs").exists()
    # half a pair of the test split (the k-NN monitor's): the loader's own words
    _write_idx(root / "train-images-idx3-ubyte", np.zeros((4, 28, 28), np.uint8))
    _write_idx(root / "train-labels-idx1-ubyte", np.arange(4, dtype=np.uint8))
    (root / "t10k-labels-idx1-ubyte").unlink()
    found = errors(f"data.root={root}", config=Path(config), stages=["pretrain"])
    assert "the test split (the k-NN monitor's, pretrain.knn_every > 0): " in found["data.root"]
    assert "found only one of the IDX pair" in found["data.root"] and "pretrain.knn_every=0" in found["data.root"]
    assert "data.root" not in errors(f"data.root={root}", "pretrain.knn_every=0", config=Path(config),
                                     stages=["pretrain"])


def test_a_truncated_idx_gz_is_refused_by_the_preflight_with_a_fix_before_the_run_folder_is_made(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A lecturer's copy of train-images-idx3-ubyte.gz was cut short (review F8): the preflight
    read its header only, so the pretraining stage failed after "starting" with "cannot
    decompress ...; the file is damaged" and no fix, leaving an almost empty run folder. The
    preflight now decompresses each IDX file to its end: the error comes first, with a fix line
    that says to copy the file again and, with a SHA256SUMS beside the data, how to check it."""
    import gzip

    from drac_ssl.datasets import DatasetFormatError, check_idx_whole, read_idx

    shared = tmp_path / "shared"
    root = shared / "fashion_mnist"
    root.mkdir(parents=True)
    for name, array in (("train-images-idx3-ubyte", np.zeros((64, 28, 28), np.uint8)),
                        ("train-labels-idx1-ubyte", np.arange(64, dtype=np.uint8) % 10),
                        ("t10k-images-idx3-ubyte", np.zeros((8, 28, 28), np.uint8)),
                        ("t10k-labels-idx1-ubyte", np.arange(8, dtype=np.uint8))):
        _write_idx(root / name, array)
        (root / f"{name}.gz").write_bytes(gzip.compress((root / name).read_bytes()))
        (root / name).unlink()
    assert check_idx_whole(root / "train-images-idx3-ubyte.gz") == 64
    whole = (root / "train-images-idx3-ubyte.gz").read_bytes()
    (root / "train-images-idx3-ubyte.gz").write_bytes(whole[: len(whole) // 2])  # a copy cut short
    with pytest.raises(DatasetFormatError) as loader:
        read_idx(root / "train-images-idx3-ubyte.gz")
    assert "the file is damaged\n  fix: copy train-images-idx3-ubyte.gz again" in str(loader.value)
    assert "sha256sum" not in str(loader.value)  # no checksum list here: none is named
    (shared / "SHA256SUMS").write_text("0" * 64 + "  fashion_mnist/train-images-idx3-ubyte.gz\n")
    monkeypatch.chdir(tmp_path)
    config = str(train.DEFAULT_CONFIG.parent / "fashion_mnist.yaml")
    code = train.main(["-c", config, f"data.root={root}", *CPU])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err, err
    assert "the train split: " in err and "train-images-idx3-ubyte.gz: cannot decompress" in err, err
    assert f"`cd {shared} && sha256sum -c --ignore-missing SHA256SUMS` names each damaged file" in err, err
    assert not (tmp_path / "runs").exists(), "refused before the run folder is made"
    # whole again but one image short of its header: the length check says so
    _write_idx(root / "short", np.zeros((64, 28, 28), np.uint8))
    (root / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress((root / "short").read_bytes()[:-784]))
    found = errors(f"data.root={root}", config=Path(config), stages=["pretrain"])
    assert "IDX header says shape (64, 28, 28) (50176 data bytes) but the file holds 49392" in found["data.root"]


@pytest.mark.parametrize("under", ["", "/sub"])
def test_an_out_dir_that_is_a_file_or_under_one_is_refused_before_the_run_folder_is_made(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        under: str) -> None:
    (tmp_path / "afile").write_text("notes")
    err = main_fails(tmp_path, monkeypatch, capsys, f"run.out_dir=afile{under}", "run.name=x",
                     "data.dataset=mnist", "data.root=.", "run.stages=[ingest]")
    assert "run.out_dir=" in err and "afile is a file, not a folder" in err and "fix: run.out_dir=" in err
    assert (tmp_path / "afile").read_text() == "notes"


# --------------------------------------------------------------------------------------
# A finished stage whose output files are gone (a resume or run.reuse would skip it)


def test_a_finished_stage_whose_output_is_gone_is_said_with_the_file_and_how_to_redo_it(tmp_path: Path) -> None:
    """A review deleted a fold's weights, or the ingest's cache, from a finished run folder:
    the resume said "already done, skipping" for every stage and "finished". Now the
    preflight names the missing file and says how to redo that stage; a cache the ingest
    recorded but whose file is gone is not called "not a cached size" (whose fix changed the
    experiment)."""
    run_dir = make_finished_run(tmp_path / "runs" / "done")
    config = run_dir / "config.yaml"
    assert [f.line for f in findings(config=config, run_dir=run_dir) if f.severity == "error"] == []
    fold = run_dir / "finetune" / "vicreg" / "fold1.safetensors"
    fold.unlink()
    found = [f.line for f in findings(config=config, run_dir=run_dir) if f.severity == "error"]
    assert len(found) == 1, found
    assert f"records the finetune stage as done, but its output is incomplete: {fold} is missing" in found[0]
    assert f"run.name=done-2 run.reuse={run_dir}" in found[0]
    fold.write_text("")
    cache = run_dir / "data" / "cache" / f"{SOURCE_SIZE}px.npy"
    array = cache.read_bytes()
    cache.unlink()
    found = [f.line for f in findings(config=config, run_dir=run_dir) if f.severity == "error"]
    assert len(found) == 1 and "not a cached size" not in found[0], found
    assert f"records the ingest stage as done, but its output is incomplete: {cache} is missing" in found[0]
    assert "ingest the data again in a new run folder" in found[0] and "run.reuse" not in found[0]
    # a stage that runs next to a finished one whose output is gone: named, not "not in run.stages"
    cache.write_bytes(array)
    backbone = run_dir / "pretrain" / "backbone.safetensors"
    backbone.unlink()
    found = [f.line for f in findings(config=config, run_dir=run_dir, stages=["finetune"])
             if f.severity == "error"]
    assert any(f"records the pretrain stage as done, but its output is incomplete: {backbone}" in f
               for f in found), found
    assert not any("is not in run.stages" in f for f in found), found


def test_an_empty_data_root_outside_the_default_job_and_a_cpu_pretraining_of_hours_are_warned(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A new user's trial: ``-c configs/drac.yaml data.root=$DATA`` with DATA unset ran the
    GPU recipe (100 VICReg epochs at 224 px) on the phantom set on the CPU, about 6 hours,
    with one information line. The preflight now says both: the empty data.root means the
    phantom set, and the pretraining's estimated CPU time. (``data.root=`` typed empty is now
    refused as the command line is read; the file's own empty root is warned.)"""
    from drac_ssl import runtime

    monkeypatch.setattr(runtime, "cpu_has_amx_bf16", lambda: False)
    drac = train.PACKAGE_CONFIGS / "drac.yaml"

    def warned(*overrides: str, config: Path = drac) -> dict[str, str]:
        return {f.setting: f.line for f in findings("run.device=cpu", *overrides, config=config)
                if f.severity == "warning"}

    said = warned()  # configs/drac.yaml's root: "" (typed empty, data.root= is an error: test_config_yaml12)
    assert "data.root" in said and "phantom" in said["data.root"] and "not your images" in said["data.root"]
    assert "fix: data.root=" in said["data.root"]
    long = said.get("pretrain.epochs", "")
    assert "hours" in long and "224 px" in long and "cpu_precision.json" in long, said
    assert "the README's tiny first try: add --first-try" in long and "docs/data.md" not in long, long  # a DRAC config
    # the default job (phantom by design, CPU-sized): neither
    said = warned(config=train.DEFAULT_CONFIG)
    assert "data.root" not in said and "pretrain.epochs" not in said, said
    # the recipe cut to a first try: no time warning
    said = warned("pretrain.epochs=1", "pretrain.max_steps_per_epoch=3")
    assert "pretrain.epochs" not in said, said
    # the fix taken: --first-try's settings leave no time warning
    from drac_ssl.trial_run import first_try_overrides

    said = warned(*first_try_overrides())
    assert "pretrain.epochs" not in said, said
    # a CUDA run: no CPU estimate (no CUDA device here: the estimate is what is checked)
    from drac_ssl.preflight import cpu_pretrain_seconds

    assert 4 * 3600 < cpu_pretrain_seconds(pairs=100 * 997, image_size=224) < 7 * 3600
    assert cpu_pretrain_seconds(pairs=3 * 997, image_size=64) < 120


def test_a_generic_runs_cpu_estimate_counts_its_training_images_and_the_cifar_stem(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A review: configs/mnist.yaml was estimated at "about 6 hours ... 50 epochs x 234 steps":
    the preflight took MNIST's published 60,000 training images where the shared folder holds
    10,000 (``mnist_train10k.npz``: 39 steps of 256), and priced a 28 px pair as a 28 px crop
    through the ImageNet stem (a 7 x 7 map after it), where ``cifar_stem`` keeps 28 x 28 maps
    (16x the compute): 7 ms a pair against 80-250 ms measured. The count now comes from the
    files' headers and the CIFAR stem is priced at its own maps."""
    import gzip
    import struct
    import zipfile

    from drac_ssl import runtime
    from drac_ssl.preflight import cpu_pretrain_seconds

    monkeypatch.setattr(runtime, "cpu_has_amx_bf16", lambda: False)
    # an npz whose x header says 2,560 images (the array itself: not read past its header)
    mnist = tmp_path / "mnist"
    mnist.mkdir()
    np.savez(mnist / "mnist_train10k.npz", x=np.zeros((2560, 28, 28), np.uint8), y=np.zeros(2560, np.uint8))
    found = findings(f"data.root={mnist}", "run.device=cpu", "pretrain.knn_every=0",
                     config=train.PACKAGE_CONFIGS / "mnist.yaml")
    long = next(f.line for f in found if f.setting == "pretrain.epochs")
    assert "50 epochs x 10 steps of 256 pairs (2560 training images) at 28 px" in long, long
    assert "through the CIFAR stem" in long, long
    # its first fix is docs/data.md's CPU command, not the README's tiny first try (a DRAC
    # command: correctness-run F6)
    fix = next(f.fix for f in found if f.setting == "pretrain.epochs")
    assert preflight.GENERIC_CPU_TRY in fix and "tiny first try" not in fix, fix
    assert "docs/data.md's CPU command" in fix and "run.keep_checkpoints=false" in fix, fix
    anchor = preflight.GENERIC_CPU_TRY.split("docs/data.md#", 1)[1].split(":", 1)[0]
    data_md = (Path(train.__file__).resolve().parents[1] / "docs" / "data.md").read_text(encoding="utf-8")
    assert f'<a id="{anchor}"></a>' in data_md, anchor  # the anchor the fix names is there
    # Fashion-MNIST's IDX header: its count is read from the first 8 bytes
    fashion = tmp_path / "fashion"
    fashion.mkdir()
    for name, shape in (("train-images-idx3-ubyte.gz", (5120, 28, 28)), ("train-labels-idx1-ubyte.gz", (5120,))):
        header = bytes([0, 0, 0x08, len(shape)]) + b"".join(struct.pack(">I", d) for d in shape)
        (fashion / name).write_bytes(gzip.compress(header + bytes(int(np.prod(shape)))))
    found = findings(f"data.root={fashion}", "run.device=cpu", "pretrain.knn_every=0",
                     config=train.PACKAGE_CONFIGS / "fashion_mnist.yaml")
    assert "50 epochs x 20 steps" in next(f.line for f in found if f.setting == "pretrain.epochs")
    # a damaged file: the published size, as before (the loader says what is wrong)
    (fashion / "train-images-idx3-ubyte.gz").write_bytes(b"not gzip")
    found = findings(f"data.root={fashion}", "run.device=cpu", "pretrain.knn_every=0",
                     config=train.PACKAGE_CONFIGS / "fashion_mnist.yaml")
    assert "50 epochs x 234 steps" in next(f.line for f in found if f.setting == "pretrain.epochs")
    assert zipfile.is_zipfile(mnist / "mnist_train10k.npz")
    # the CIFAR stem keeps the full 28 x 28 map: many times the ImageNet stem's cost a pair
    stem = cpu_pretrain_seconds(pairs=1000, image_size=28, cifar_stem=True)
    assert stem > 5 * cpu_pretrain_seconds(pairs=1000, image_size=28)
    # configs/mnist.yaml on the shared folder's 10k: 499,200 pairs at ~49 ms, about 7 hours on an
    # unshared core (a shared one: 2-6x that, docs/data.md)
    shared = SHARED_DATA / "mnist"
    if shared.is_dir():
        found = findings(f"data.root={shared}", "run.device=cpu", config=train.PACKAGE_CONFIGS / "mnist.yaml")
        long = next(f.line for f in found if f.setting == "pretrain.epochs")
        assert "50 epochs x 39 steps" in long, long
        hours = int(re.search(r"about (\d+) hours", long).group(1))  # type: ignore[union-attr]
        assert 5 <= hours <= 10 and "(10000 training images)" in long, long


def _aptos_photos(photos: Path) -> tuple[Path, list[list[str]]]:
    """The 30 real APTOS samples copied into the folder ``photos`` (no label CSV), and their
    (id_code, diagnosis) rows; skips the test without them (tests/helpers/shared_data.py)."""
    import shutil

    aptos = need(SHARED_DATA / "aptos_samples", "the real APTOS samples")
    shutil.copytree(aptos / "train_images", photos)
    return photos, [line.split(",") for line in (aptos / "train.csv").read_text().split()[1:]]


def test_the_fundus_config_takes_a_plain_folder_of_colour_photographs(tmp_path: Path) -> None:
    """A new user's trial: the README's plain-folder command used configs/drac.yaml, whose grey
    UW-OCTA settings (1 channel, DRAC's 3 grades, the octa recipe) a colour fundus folder
    needed six overrides against. configs/fundus.yaml takes it with the column names alone:
    no error, and no word on channels or the recipe."""
    photos, rows = _aptos_photos(tmp_path / "photos")
    (tmp_path / "labels.csv").write_text("file,grade\n" + "".join(f"{i}.png,{g}\n" for i, g in rows))
    cfg, sources, parsed = preflight.read_config(train.PACKAGE_CONFIGS / "fundus.yaml", [
        f"data.root={photos}", f"data.labels_csv={tmp_path / 'labels.csv'}", "data.image_column=file",
        "data.grade_column=grade", "run.device=cpu", "data.n_folds=2", "pretrain.batch_size=8",
        "umm.batch_size=8", "finetune.batch_size=8"])
    assert parsed == []
    said = preflight.check(cfg, tmp_path / "runs" / "x", sources)
    assert [f.line for f in said if f.severity == "error"] == []
    assert not [f.line for f in said if f.setting.startswith(("pretrain.augment", "pretrain.backbone", "data."))]
    assert cfg.pretrain.augment.recipe == "fundus" and cfg.pretrain.backbone.in_channels == 0


def test_the_preflight_predicts_a_plain_folder_s_channels_as_the_ingest_does(tmp_path: Path) -> None:
    """A plain folder with no channels setting is ingested as what its images are (auto), so
    the preflight does not take it as grey before decoding: RGB weights into the data's
    channels (``in_channels`` 0) are not refused for 1 channel; named with data.channels=1 they
    are, as on the phantom (grey DRAC) data."""
    photos, rows = _aptos_photos(tmp_path / "photos")
    (photos / "labels.csv").write_text("image name,DR grade\n" + "".join(f"{i}.png,{g}\n" for i, g in rows))
    weights = tmp_path / "rgb_resnet18.pth"
    torch.save({"epoch": np.int64(3), "state_dict": Backbone("resnet18", in_channels=3).state_dict()},
               weights)
    plain = [f"data.root={photos}", "data.grades=icdr", "data.n_folds=2",
             "pretrain.backbone.in_channels=0", f"pretrain.backbone.weights={weights}"]
    assert "pretrain.backbone.weights" not in errors(*plain)
    line = errors(*plain, "data.channels=1")["pretrain.backbone.weights"]
    assert "cannot be loaded into the configured backbone (resnet18, in_channels=1" in line


def test_the_yaml_block_of_a_fix_keeps_its_indentation(tmp_path: Path) -> None:
    """The example in the fix is the section's first setting with its default, whichever that
    is (a contributor adding a setting at the top of PretrainConfig broke a copy of ``epochs:
    100`` here): what is held is that the block pastes back as that setting, one level deeper
    for each section."""
    import dataclasses

    import yaml

    from drac_ssl.config import AugmentConfig, PretrainConfig

    def pasted_block(text: str, section: str) -> dict:
        """The YAML block the fix shows, from its first line ``section:`` on, as pasted."""
        lines = text.splitlines()
        at = lines.index(f"     {section}:")
        block = [lines[at]] + [line for line in lines[at + 1:] if line.startswith("       ")]
        return yaml.safe_load("\n".join(line[5:] for line in block))

    def first_setting(section: type) -> tuple[str, object]:
        first = dataclasses.fields(section)[0].name
        return first, getattr(section(), first)

    top, top_default = first_setting(PretrainConfig)
    inner, inner_default = first_setting(AugmentConfig)
    seclist = tmp_path / "seclist.yaml"
    seclist.write_text("pretrain: [1,2]\n")
    assert pasted_block(PreflightError(preflight.read_config(seclist)[2]).args[0],
                        "pretrain") == {"pretrain": {top: top_default}}
    deep = tmp_path / "deep.yaml"  # a section inside a section: each level under the one above
    deep.write_text("pretrain:\n  augment: 3\n")
    assert pasted_block(PreflightError(preflight.read_config(deep)[2]).args[0],
                        "pretrain") == {"pretrain": {"augment": {inner: inner_default}}}
    # on the command line a section's settings are given one by one
    text = PreflightError(preflight.read_config(None, ["pretrain.augment=3"])[2]).args[0]
    assert f"fix: give its settings one by one, e.g. pretrain.augment.{inner}={inner_default}" in text


def test_the_phantom_warning_knows_the_default_config_and_a_saved_run_config(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A diff review: the empty-data.root warning compared the source's text with
    'configs/default.yaml' (a Windows path missed it) and warned a rerun of a saved default-job
    config ('not your images' on the phantom job). A CUDA run gets no CPU-time estimate."""
    from drac_ssl import runtime

    monkeypatch.setattr(runtime, "cpu_has_amx_bf16", lambda: False)
    run = tmp_path / "runs" / "default"
    run.mkdir(parents=True)
    (run / "stages.json").write_text("{}")
    (run / "config.yaml").write_text(train.DEFAULT_CONFIG.read_text())
    said = {f.setting for f in findings("run.device=cpu", config=run / "config.yaml")}
    assert "data.root" not in said
    cfg, sources, _ = preflight.read_config(train.PACKAGE_CONFIGS / "drac.yaml", ["run.device=cpu"])
    c = preflight._Findings(cfg, {**sources, "data.root": f"{train.DEFAULT_CONFIG}:6"})
    preflight._check_phantom_meant(c, cfg)
    assert c.items == []
    c = preflight._Findings(cfg, sources)
    preflight._check_phantom_meant(c, cfg)
    assert [f.setting for f in c.items] == ["data.root"]
    monkeypatch.setattr(preflight, "_resolve_device", lambda c, cfg: "cuda")
    monkeypatch.setattr(preflight, "_check_device_use", lambda *args: None)
    said = {f.setting for f in findings(config=train.PACKAGE_CONFIGS / "drac.yaml")}
    assert "pretrain.epochs" not in said and "data.root" in said


def test_a_data_root_one_level_above_the_images_is_one_error_naming_the_likely_root(
        tmp_path: Path) -> None:
    """A review: ``data.root=study`` (``study/images/`` + ``study/labels.csv``) got no hint from
    the train command: 'larger than the 0 images pretraining draws from -> add images' (for
    pretraining and UMM) and '.../labels.csv has none -> give the label CSV', although the CSV
    was found. As the ingest does, the preflight names the likely root, as the one error."""
    study = tmp_path / "study"
    study.mkdir()
    labelled_files(study / "images", study / "labels.csv", [f"{i:03d}.png" for i in range(15)],
                   [i % 3 for i in range(15)], ("image", "grade"))
    found = [f for f in findings(f"data.root={study}", "data.image_column=image",
                                 "data.grade_column=grade") if f.severity == "error"]
    assert len(found) == 1, [f.line for f in found]
    (error,) = found
    assert error.setting == "data.root"
    assert (f"did you mean data.root={study / 'images'} with data.labels_csv={study / 'labels.csv'} "
            "(15 images)?") in error.line, error.line
    assert "--root" not in error.line and "--labels-csv" not in error.line, error.line
    # a root with no images and nothing near: the ingest's own error, still the only one
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "labels.csv").write_text("image name,DR grade\n001.png,0\n")
    found = [f for f in findings(f"data.root={empty}") if f.severity == "error"]
    assert len(found) == 1 and "no images found" in found[0].line, [f.line for f in found]


def test_a_root_one_level_too_high_keeps_its_hint_with_unlabelled_folders(tmp_path: Path) -> None:
    """A review: with ``data.unlabelled`` set, ``data.root=study`` lost its 'did you mean
    data.root=study/images' error: a missing unlabelled folder showed only its own error and
    '0 images' findings, a valid one 'labels.csv has none'. 'No images' is decided from the
    labelled and test images before the unlabelled ones join, said beside the other errors."""
    study = tmp_path / "study"
    study.mkdir()
    labelled_files(study / "images", study / "labels.csv", [f"{i:03d}.png" for i in range(10)],
                   [i % 3 for i in range(10)])
    unl = tmp_path / "unl"
    unl.mkdir()
    for i in range(4):
        (unl / f"u{i}.png").write_bytes(b"not decoded")
    hint = f"did you mean data.root={study / 'images'}"
    for folder in (unl, tmp_path / "missing"):
        found = [f for f in findings(f"data.root={study}", f"data.unlabelled=[{folder}]")
                 if f.severity == "error"]
        lines = [f.line for f in found]
        assert any(hint in line for line in lines), lines
        assert not any("has none" in line or re.search(r"\b0 images", line) for line in lines), lines
        if folder != unl:
            assert any(str(folder) in line for line in lines), lines


def test_threads_given_as_the_option_is_named_as_typed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A review: --threads -1 was refused as run.threads=-1 (command line 'run.threads=-1'), an
    override the user never typed; the message now names the option typed and its fix."""
    from drac_ssl.commands import refuse_train_early

    monkeypatch.chdir(tmp_path)
    assert train.main([*CPU, "--threads", "-1"]) == 2
    err = capsys.readouterr().err
    assert "run.threads=-1 (command line '--threads -1'): must be 0" in err, err
    assert "fix: --threads 0 (the default)" in err and "'run.threads=-1'" not in err, err
    with pytest.raises(SystemExit) as stop:  # the early refusal before torch loads says it alike
        refuse_train_early([*CPU, "--threads", "-1", "umm.lrr=1"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "run.threads=-1 (command line '--threads -1')" in err and "fix: --threads 0" in err, err
    assert not (tmp_path / "runs").exists()


def test_python_m_umm_refuses_a_mistyped_stage_as_train_does() -> None:
    """A review: run.stages=[ingest,pretrian] was refused by python -m drac_ssl.train (the
    stage it meant as the fix) but let through by python -m drac_ssl.umm's early refusal, which
    refuses an unknown setting in any section: a typo in the configuration is refused by both,
    in the same words."""
    overrides = ["run.stages=[ingest,pretrian]", "run.name=x"]
    refusal, _ = preflight.umm_refusal(None, overrides)
    assert "run.stages=[ingest, pretrian] (command line 'run.stages=[ingest,pretrian]'): unknown " \
           "stage(s) 'pretrian' (did you mean 'pretrain'?)" in refusal, refusal
    assert "fix: run.stages=[ingest,pretrain]" in refusal, refusal
    train_said = preflight.reading_refusal(None, [*overrides, "umm.lrr=1"])  # listed with a reading problem
    assert "unknown stage(s) 'pretrian' (did you mean 'pretrain'?)" in train_said, train_said
    # the order and a repeat are warnings of a run of the pipeline, not refusals of this command
    assert preflight.umm_refusal(None, ["run.stages=[umm,pretrain,pretrain]"]) == ("", [])


def test_the_preflight_knows_the_size_of_every_generic_data_set() -> None:
    """``datasets.GENERIC_DATASETS`` (the names) and ``preflight.GENERIC_DATASET_SIZES`` (their
    published sizes; it was also called GENERIC_DATASETS, a dict beside the tuple) name the same sets."""
    from drac_ssl.datasets import GENERIC_DATASETS
    from drac_ssl.preflight import GENERIC_DATASET_SIZES

    assert set(GENERIC_DATASET_SIZES) == set(GENERIC_DATASETS)


def test_every_generic_data_set_has_its_words_for_a_reader() -> None:
    """The report and the README's bench tables take the display names from one table
    (summarize had its own copies, one of them an expression that only worked for two names)."""
    from drac_ssl.datasets import GENERIC_DATASET_WORDS, GENERIC_DATASETS

    assert set(GENERIC_DATASET_WORDS) == set(GENERIC_DATASETS)
    assert GENERIC_DATASET_WORDS["fashion_mnist"][0] == "Fashion-MNIST"


def test_a_fold_the_ingest_left_without_a_grade_gets_a_fix_that_changes_the_folds(tmp_path: Path) -> None:
    """A fresh user's 25 photographs, 3 folds grouped by patient: the warning on the existing
    ingest said to redo the ingest 'as before', which makes byte-identical folds. Folds this
    version makes: the fix is the seed / fold count checked to fill every fold (flags for the
    ingest redone, settings for a new run folder), never a plain redo. Folds it would not make
    (an older ingest): redoing it is the fix, as before."""
    from reviewer_folds import ICDR, REVIEWER_FOLDS, REVIEWER_GRADES, REVIEWER_PATIENTS

    run_dir = tmp_path / "runs" / "mine"
    data = make_fake_ingest(run_dir, n_train=25)
    summary = {"root": "/data/my photos", "grades": {"names": list(ICDR), "k": 5},
               "config": {"n_folds": 3, "fold_seed": 0}}
    (data / "ingest_summary.json").write_text(json.dumps(summary))
    _refold(data, lambda i, grade: REVIEWER_GRADES[i], column="grade")
    _refold(data, lambda i, grade: REVIEWER_FOLDS[i])
    _refold(data, lambda i, grade: REVIEWER_PATIENTS[i], column="patient")
    settings = ("data.grades=icdr", "data.n_folds=3", "finetune.image_size=32",
                f"pretrain.augment.source_size={SOURCE_SIZE}", "finetune.batch_size=2")

    def fold_findings() -> list[preflight.Finding]:
        return [f for f in findings(*settings, run_dir=run_dir, stages=["finetune", "export"])
                if "folds validate" in f.what]

    mild, severe = fold_findings()
    assert mild.severity == "warning" and "grade 1 (Mild)" in mild.what and "grade 3 (Severe)" in severe.what
    assert "(its folds are stratified by grade)" not in mild.fix
    assert mild.fix == (
        f"redo the ingest with --seed 16 (checked: its 3 folds then hold every grade): "
        f"{python_command('data_prep')} ingest --root '/data/my photos' --out {data} --seed 16 (its other options as "
        f"before), or, in a new run folder with ingest in run.stages (run.name=<a new name>), "
        f"data.fold_seed=16; else --folds 2 (checked, with the same seed: its 2 folds then hold every "
        f"grade), or add labelled grade 1 (Mild) and grade 3 (Severe) images of more patients, and "
        f"redo it likewise")
    # folds this version would not make (here: unstratified by hand): redoing the ingest is the fix
    _refold(data, lambda i, grade: 0 if grade == 1 else i % 2 + 1)
    _refold(data, lambda i, grade: "", column="patient")
    found = fold_findings()
    assert len(found) == 5  # grade 1 only in fold 0, the others never in it
    for old in found:
        assert old.fix.startswith("redo the ingest (this version stratifies the folds by grade, and "
                                  f"its folds of these images hold every grade): {python_command('data_prep')} ingest "
                                  "--root '/data/my photos'")


def drac_download(root: Path, n_train: int = 15, n_test: int = 3, test: bool = True) -> Path:
    """The official DRAC 2022 layout (docs/drac.md) in ``root``: ``n_train`` labelled 'images'
    (grades 0, 1, 2 in turn) and ``n_test`` test 'images', bytes that are not images (nothing
    in the preflight may decode them)."""
    from data_prep.layout import (
        GROUNDTRUTH_DIR,
        IMAGES_DIR,
        LABELS_CSV_NAME,
        TASK_DIR,
        TEST_DIR,
        TEST_ROOT_DIR,
        TRAIN_DIR,
    )

    task = root / TASK_DIR
    (task / GROUNDTRUTH_DIR).mkdir(parents=True)
    labelled_files(task / IMAGES_DIR / TRAIN_DIR, task / GROUNDTRUTH_DIR / LABELS_CSV_NAME,
                   [f"{i + 1:03d}.png" for i in range(n_train)], [i % 3 for i in range(n_train)])
    if test:
        tests = root / TEST_ROOT_DIR / TASK_DIR / IMAGES_DIR / TEST_DIR
        tests.mkdir(parents=True)
        for i in range(n_test):
            (tests / f"{1500 + i}.png").write_bytes(b"not decoded by the preflight")
    return root


def test_a_root_in_the_drac_testing_sets_folder_is_refused_naming_the_drac_folder(tmp_path: Path) -> None:
    """A review: data.root=.../DRAC 2022/DRAC2022_Testing_Set stopped with 'no 'a. Training
    Set' folder ... in .../1. Original Images (it holds 'a. Training Set')' and 'put the
    training images in' where they were. It names the root that holds both sets."""
    from data_prep.layout import TEST_ROOT_DIR, TRAIN_DIR

    root = drac_download(tmp_path / "DRAC 2022")
    found = errors(f"data.root={root / TEST_ROOT_DIR}", *SMALL_BATCHES)
    assert list(found) == ["data.root"], found
    line = found["data.root"]
    assert f"fix: did you mean data.root='{root}' (a DRAC 2022 layout" in line, line
    assert f"(it holds '{TRAIN_DIR}')" not in line and "put the training images" not in line, line
    assert errors(f"data.root={root}", *SMALL_BATCHES) == {}


def test_a_drac_run_without_a_testing_set_is_warned_that_it_will_write_no_submission(
        tmp_path: Path) -> None:
    """A review: the training archive alone unzipped (as the ingest's advice then said), a full
    training ran for hours and ended with '[export] no submission written'. A DRAC run whose
    stages include the export is now warned before any stage, with the fix: unzip the testing
    set (its zip named when it lies there), or leave export out when meant."""
    import zipfile

    from data_prep.layout import TEST_DIR, TEST_ROOT_DIR

    root = drac_download(tmp_path / "DRAC 2022", test=False)

    def warned(*overrides: str) -> list[str]:
        return [f.line for f in findings(f"data.root={root}", *SMALL_BATCHES, *overrides)
                if f.severity == "warning" and "submission" in f.line]

    (line,) = warned()
    assert line.startswith(f"data.root={root} (command line"), line
    assert (f"a DRAC 2022 layout without test images (no '{TEST_DIR}' folder of test images in "
            f"{root}") in line, line
    assert "the export stage will write no submission" in line, line
    assert f"fix: unzip the testing set into {root}, so that" in line, line
    assert "or, to train without a submission on purpose, run.stages=[ingest,pretrain,umm,finetune]" in line
    assert errors(f"data.root={root}", *SMALL_BATCHES) == {}  # a warning: a run may mean it
    assert warned("run.stages=[ingest,pretrain,umm,finetune]") == []
    with zipfile.ZipFile(root / f"{TEST_ROOT_DIR}.zip", "w") as archive:  # the zip lies there
        archive.writestr(f"{TEST_ROOT_DIR}/readme.txt", "")
    (line,) = warned()
    assert (f"fix: found {TEST_ROOT_DIR}.zip in {root}: unzip it there (cd '{root}' && unzip "
            f"{TEST_ROOT_DIR}.zip), then run the command again with run.name=<a new name>") in line, line
    full = drac_download(tmp_path / "full")  # with its testing set: nothing to warn of
    assert not [f for f in findings(f"data.root={full}", *SMALL_BATCHES) if "submission" in f.line]


def test_an_idrid_or_aptos_run_without_a_testing_set_is_warned_as_a_drac_one(tmp_path: Path) -> None:
    """Review s52 F4: only the DRAC layout was warned before the stages that the export would
    write no submission; an IDRiD root without 'b. Testing Set' learnt it at the very end.
    Every layout whose download holds a testing set is now warned, from the ingest's note
    (where it looked, where the test images go); a plain folder (no testing set by design) not."""
    from data_prep.layout import (
        GROUNDTRUTH_DIR,
        IDRID_DIR,
        IDRID_LABELS_CSV_NAME,
        IMAGES_DIR,
        TEST_DIR,
        TRAIN_DIR,
    )

    task = tmp_path / "IDRiD" / IDRID_DIR
    images = task / IMAGES_DIR
    (task / GROUNDTRUTH_DIR).mkdir(parents=True)
    labelled_files(images / TRAIN_DIR, task / GROUNDTRUTH_DIR / IDRID_LABELS_CSV_NAME,
                   [f"IDRiD_{i + 1:03d}.jpg" for i in range(20)], [i % 5 for i in range(20)],
                   ("Image name", "Retinopathy grade"))
    aptos = tmp_path / "aptos"
    labelled_files(aptos / "train_images", aptos / "train.csv", [f"id{i:02d}.png" for i in range(20)],
                   [i % 5 for i in range(20)], ("id_code", "diagnosis"), [f"id{i:02d}" for i in range(20)])
    fundus = train.PACKAGE_CONFIGS / "fundus.yaml"
    small = [*SMALL_BATCHES, "finetune.batch_size=8", "data.n_folds=2"]

    def warned(root: Path, *overrides: str) -> list[str]:
        return [f.line for f in findings(f"data.root={root}", *small, *overrides, config=fundus)
                if f.severity == "warning" and "submission" in f.line]

    (line,) = warned(tmp_path / "IDRiD")
    assert (f"an IDRiD layout without test images (no '{TEST_DIR}' folder of test images in {images}): "
            "the export stage will write no submission, after every other stage has run") in line, line
    assert f"fix: put the test images in '{images / TEST_DIR}', then run the command again" in line, line
    assert warned(tmp_path / "IDRiD", "run.stages=[ingest,pretrain,umm,finetune]") == []
    (line,) = warned(aptos)
    assert f"an APTOS layout without test images (no 'test_images' folder of test images in {aptos})" in line
    (images / TEST_DIR).mkdir()
    (images / TEST_DIR / "IDRiD_001.jpg").write_bytes(b"not decoded by the preflight")
    assert warned(tmp_path / "IDRiD") == []
    plain = plain_dataset(tmp_path / "plain", [i % 5 for i in range(20)])
    assert warned(plain) == []



def test_printed_fix_commands_name_the_interpreter_that_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A new-user trial: the package lives in .venv, not activated; the unfinished-run messages
    printed ``.venv/bin/python -m ...``, but the redo fix of a stage whose output is gone (its
    bundle rebuild), the umm start fix, compare's finish-the-run fix and the header of a saved
    config.yaml printed a bare ``python -m``, which ran another interpreter (``No module named
    torch``). Every printed
    command now names the running interpreter (:func:`drac_ssl.starting.python_command`)."""
    import os
    import sys

    from drac_ssl import compare, starting

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "executable", str(tmp_path / ".venv" / "bin" / "python"))
    monkeypatch.setattr(starting.shutil, "which", lambda name: "/usr/bin/python")  # not the venv's
    venv = os.path.join(".venv", "bin", "python")
    assert python_command("drac_ssl.train") == f"{venv} -m drac_ssl.train"
    run_dir = tmp_path / "runs" / "x"
    # the redo fix says its new run folder as a change of the user's command (test_new_run_fix);
    # the command it prints whole, the bundle's rebuild, names the interpreter
    fix = preflight.redo_fix(run_dir, "export", [run_dir / "bundle" / "metadata.json"])
    assert f"as the export stage does: {venv} -c \"from drac_ssl.grading.bundle import build_bundle; " in fix, fix
    saved = save_config(load_config(None, ["run.stages=[ingest,pretrain]"]), run_dir / "config.yaml")
    first = saved.read_text(encoding="utf-8").splitlines()[0]
    assert f"; to reproduce in a new run folder: {venv} -m drac_ssl.train -c THIS_FILE run.name=NEW " in first, first
    with pytest.raises(compare.CompareError) as caught:
        compare.read_run(run_dir)
    assert f"it resumes where it stopped): {venv} -m drac_ssl.train -c {saved} " in str(caught.value)
    # a path with a space is quoted, so the command still runs as printed
    monkeypatch.setattr(sys, "executable", str(tmp_path / "my env" / "bin" / "python"))
    assert python_command("data_prep") == f"'{os.path.join('my env', 'bin', 'python')}' -m data_prep"
