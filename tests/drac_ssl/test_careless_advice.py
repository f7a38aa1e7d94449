"""The advice a careless user was given, made right (a careless-user review, F7): the fold-count
fix for 3 images named the value in use; the few-images-per-grade fix read as relabelling an
image's clinical grade; ``data.labels_csv=<a folder>`` said "not found"; ``-c labels.csv`` said
"the top level is the str ..."; a relative ``data.root`` in a config file did not say it is read
from the current folder; two byte-identical images with different grades did not name them."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from data_prep import ingest
from data_prep.grades import merge_fix
from data_prep.problems import IngestError
from drac_ssl import preflight, train
from drac_ssl.config import ConfigError, DataConfig, load_config


def _plain(root: Path, grades: list[int], images: bool = False) -> Path:
    root.mkdir(parents=True)
    for i in range(len(grades)):
        if images:
            cv2.imwrite(str(root / f"{i:03d}.png"), np.full((16, 16), 20 * i + 5, np.uint8))
        else:
            (root / f"{i:03d}.png").write_bytes(b"not decoded by the preflight")
    (root / "labels.csv").write_text("image name,DR grade\n" + "".join(f"{i:03d}.png,{g}\n" for i, g in enumerate(grades)))
    return root


def _errors(*overrides: str, config: Path | None = train.DEFAULT_CONFIG) -> dict[str, str]:
    cfg, sources, _ = preflight.read_config(config, list(overrides))
    return {f.setting: f.line for f in preflight.check(cfg, Path("runs-not-there") / "x", sources)
            if f.severity == "error"}


def test_three_images_in_two_folds_are_told_more_folds_or_more_images_not_the_value_in_use(tmp_path: Path) -> None:
    root = _plain(tmp_path / "three", [0, 1, 2])
    found = [line for line in _errors(f"data.root={root}", "data.n_folds=2", "pretrain.batch_size=2",
                                      "umm.batch_size=2").values() if "a fold would train on" in line]
    (line,) = found
    fix = line.split("fix: ", 1)[1]
    assert "data.n_folds=2" not in fix, fix
    assert fix.startswith("data.n_folds=3 (more folds, not fewer, give each fold more to train on: 3 folds of "
                          "3 images train on 2 each), or add labelled images"), fix


def test_the_merge_fix_is_a_coarser_scale_in_a_copy_never_a_relabelled_clinical_grade() -> None:
    fix = merge_fix(4, ["No DR", "Mild", "Moderate", "Severe", "PDR"], [("eye_003.jpg", 26)], "labels.csv")
    assert "relabel" not in fix
    assert ("merge grade 4 (PDR) into a neighbouring grade (a coarser scale for this run, not a correction: the "
            "images keep their clinical grades in labels.csv): in a copy of labels.csv, passed with --labels-csv, "
            "give its image eye_003.jpg (line 26) grade 3 (Severe) instead of 4") in fix, fix
    assert fix.endswith('pass --grades "No DR,Mild,Moderate,Severe or PDR"'), fix  # the merged grade named for both


def test_a_folder_given_as_the_label_csv_is_said_to_be_a_folder(tmp_path: Path) -> None:
    root = _plain(tmp_path / "base", [0, 1, 2] * 4)
    line = _errors(f"data.root={root}", f"data.labels_csv={root}")
    said = next(v for v in line.values() if "data.labels_csv is a folder" in v)
    assert "not found" not in said
    assert f"fix: pass the label CSV file itself: data.labels_csv={root / 'labels.csv'}" in said, said


def test_a_label_csv_given_as_the_config_is_named_one(tmp_path: Path) -> None:
    labels = _plain(tmp_path / "base", [0, 1, 2]) / "labels.csv"
    with pytest.raises(ConfigError) as refused:
        load_config(labels)
    said = str(refused.value)
    assert said.startswith(f"{labels}: this looks like a label CSV (its first line: 'image name,DR grade'), "
                           "not a config file"), said
    assert f"fix: give a label CSV as a setting, data.labels_csv={labels}" in said, said
    yaml_file = tmp_path / "ok.yaml"
    yaml_file.write_text("run:\n  name: x, y\n")  # a comma in a value: YAML, read as such
    assert load_config(yaml_file).run.name == "x, y"


def test_a_relative_data_root_in_a_config_file_is_said_to_be_read_from_the_current_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _plain(tmp_path / "data" / "base", [0, 1, 2] * 4)
    (tmp_path / "cfg").mkdir()
    config = tmp_path / "cfg" / "relpath.yaml"
    config.write_text("data:\n  root: ../data/base\n")
    elsewhere = tmp_path / "work" / "here"  # ../data/base from here: not there
    elsewhere.mkdir(parents=True)
    monkeypatch.chdir(elsewhere)
    said = _errors(config=config)["data.root"]
    assert (f"{config} sets this relative path, which is read from the current folder ({Path(os.getcwd())}), "
            f"not from the config file's folder: from {config.parent} it names "
            f"{(tmp_path / 'data' / 'base').resolve()}, which exists") in said, said


def test_byte_identical_copies_with_different_grades_name_the_grades(tmp_path: Path) -> None:
    root = _plain(tmp_path / "dup", [0, 1, 2] * 3, images=True)
    (root / "008.png").write_bytes((root / "001.png").read_bytes())  # a copy of 001 (grade 1), graded 2
    with pytest.raises(IngestError) as refused:
        ingest.run(DataConfig(root=str(root), cache_sizes=[16], n_folds=2, workers=1), tmp_path / "out",
                   verbose=False)
    said = str(refused.value)
    assert ("and the copies have conflicting grades: 001.png grade 1 (labels.csv line 3); 008.png grade 2 "
            "(labels.csv line 10)") in said, said
    assert "one image cannot have two grades: check which grade is right" in said, said
