"""The settings the in-place resume command types absolutely (run_state.relative_path_settings)
were a second hand-kept list beside drac_ssl.config.PATH_SETTINGS: a path setting added there
would have been left relative in the printed command and the resume refused from another
folder. They are derived now: every path setting, and run.reuse."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from drac_ssl import run_state
from drac_ssl.config import PATH_SETTINGS


def test_the_settings_typed_absolutely_are_the_configs_path_settings_and_run_reuse() -> None:
    settings = run_state.relative_path_settings()
    assert set(settings) == {*PATH_SETTINGS, "run.reuse"} and len(settings) == len(set(settings))
    # what the hand-kept list held is still there
    assert {"data.root", "data.labels_csv", "data.unlabelled", "pretrain.backbone.weights",
            "run.reuse"} <= set(settings)


def test_each_relative_path_setting_is_typed_absolutely_in_the_resume_command(tmp_path: Path) -> None:
    made_in = tmp_path / "work"
    made_in.mkdir()
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "labels.csv").write_text("image,grade\n")
    run = made_in / "runs" / "r1"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump(
        {"data": {"root": "../shared", "labels_csv": "../shared/labels.csv"},
         "run": {"out_dir": "runs", "name": "r1"}}))
    (run / "environment.json").write_text(json.dumps({"cwd": str(made_in)}))
    command = run_state.resume_in_place_command(run)
    assert f"data.root={tmp_path / 'shared'}" in command, command
    assert f"data.labels_csv={tmp_path / 'shared' / 'labels.csv'}" in command, command


def test_made_in_is_environment_json_s_cwd_else_the_first_training_s(tmp_path: Path) -> None:
    """One answer (a final read, C7) for the resume's comparison and the in-place command:
    environment.json's cwd; for a run made before it was recorded there, the first training's
    (invocations.jsonl: the one that wrote config.yaml; the last's, a review's F1, moved with
    every resume); None when neither says."""
    run = tmp_path / "runs" / "r1"
    run.mkdir(parents=True)
    assert run_state.made_in(run) is None
    (run / "invocations.jsonl").write_text(
        json.dumps({"tool": "drac_ssl.train", "argv": ["x"], "cwd": "/first"}) + "\n"
        + json.dumps({"tool": "drac_ssl.train", "argv": ["x"], "cwd": "/last"}) + "\n")
    (run / "environment.json").write_text(json.dumps({"python": "3.12"}))
    assert run_state.made_in(run) == "/first"
    (run / "invocations.jsonl").write_text(  # a first line without cwd: a later one is not taken for it
        json.dumps({"tool": "drac_ssl.train", "argv": ["x"]}) + "\n"
        + json.dumps({"tool": "drac_ssl.train", "argv": ["x"], "cwd": "/last"}) + "\n")
    assert run_state.made_in(run) is None
    (run / "environment.json").write_text(json.dumps({"cwd": "/made"}))
    assert run_state.made_in(run) == "/made"


def test_absolute_from_reads_a_relative_path_from_the_folder_given(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The one way a recorded relative path is made absolute (a final read, D1)."""
    from drac_ssl.io import absolute_from

    monkeypatch.chdir(tmp_path)
    assert absolute_from("../shared/data/", "/work/tree") == "/work/shared/data"
    assert absolute_from("/abs/./x", "/work/tree") == "/abs/x"
    assert absolute_from("data", None) == str(tmp_path / "data") == absolute_from("data", "")
    assert absolute_from("~/d", "/work") == os.path.join(os.path.expanduser("~"), "d")
